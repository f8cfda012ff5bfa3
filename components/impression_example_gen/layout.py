"""Which days and files one run reads, and a fingerprint of them.

Both the driver and the executor plan a run with ``plan_ingestion``: the
driver to pin the day range and fingerprint the inputs for TFX caching, the
executor to read exactly those files (and to plan by itself where no driver
runs).  Every input problem is raised here, before Beam starts, with the path
that is missing or empty, so a broken export never becomes an empty model.

All file access goes through ``tfx.dsl.io.fileio`` so the same code lists
local directories and object stores (gs://, s3://).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

from components.impression_example_gen import config
from transform import features

DATA_FILE_SUFFIXES: Tuple[str, ...] = (".parquet", ".csv")
_EPOCH = datetime.date(1970, 1, 1)

DayFile = Tuple[str, str]  # (day 'YYYY-MM-DD', file path)


@dataclasses.dataclass(frozen=True)
class IngestionPlan:
    """The resolved inputs of one run.

    Attributes:
        input_base: the log directory.
        train_days / eval_days: the ingested days of each split, ascending.
        impression_files: (day, path) of every impressions file to read.
        event_files: (day, path) of every events file to read; they cover the
            ingested days plus the attribution window after the last one.
        later_impression_days: days after the last ingested day that have an
            impressions partition; an unmatched event of such a day probably
            belongs to an impression this run does not read, so it is not
            called an orphan.
        unread_event_days: events partitions after the attribution window of
            the last ingested day. They are not read (a run over one day of a
            long log must not read all later days); the data-quality report
            lists them, since a late click of an ingested impression there
            is not counted.
    """

    input_base: str
    train_days: Tuple[str, ...]
    eval_days: Tuple[str, ...]
    impression_files: Tuple[DayFile, ...]
    event_files: Tuple[DayFile, ...]
    later_impression_days: FrozenSet[str]
    unread_event_days: Tuple[str, ...]

    @property
    def days(self) -> Tuple[str, ...]:
        return self.train_days + self.eval_days

    @property
    def first_day(self) -> str:
        return self.days[0]

    @property
    def last_day(self) -> str:
        return self.days[-1]

    @property
    def span(self) -> int:
        """TFX span of the run: the last ingested day (one day, one span)."""
        return day_to_span(self.last_day)

    def split_of_day(self) -> Dict[str, str]:
        """Maps each ingested day to the split its impressions go to."""
        routing = {day: config.TRAIN_SPLIT for day in self.train_days}
        routing.update({day: config.EVAL_SPLIT for day in self.eval_days})
        return routing


def day_to_span(day: str) -> int:
    """Days since 1970-01-01, TFX's span number for a daily partition."""
    return (config.parse_day(day, "day") - _EPOCH).days


def shift_day(day: str, days: int) -> str:
    """The day ``days`` after ``day`` (both 'YYYY-MM-DD')."""
    date = config.parse_day(day, "day") + datetime.timedelta(days=days)
    return date.strftime(features.DAY_FORMAT)


def _require_dir(path: str, what: str) -> None:
    """Fails with the path when a directory the contract requires is absent."""
    if not fileio.exists(path) or not fileio.isdir(path):
        raise FileNotFoundError(f"{what} directory does not exist: {path}")


def _entry_name(entry: str) -> str:
    """A listdir entry without the trailing '/' object stores add to dirs."""
    return os.path.basename(str(entry).rstrip("/"))


def list_day_partitions(table_dir: str) -> Dict[str, str]:
    """Maps each 'dt=YYYY-MM-DD' partition's day to its directory path."""
    partitions = {}
    for entry in fileio.listdir(table_dir):
        name = _entry_name(entry)
        if not name.startswith(features.DAY_PARTITION_PREFIX):
            continue
        day = name[len(features.DAY_PARTITION_PREFIX) :]
        config.parse_day(day, f"partition {os.path.join(table_dir, name)}")
        partitions[day] = os.path.join(table_dir, name)
    return partitions


def list_data_files(day_dir: str) -> List[str]:
    """The Parquet and CSV files of one partition, sorted for determinism."""
    names = (_entry_name(e) for e in fileio.listdir(day_dir))
    return sorted(
        os.path.join(day_dir, n)
        for n in names
        if n.lower().endswith(DATA_FILE_SUFFIXES)
    )


def _select_days(
    available: Sequence[str], first_day: Optional[str], last_day: Optional[str]
) -> List[str]:
    """The available days within the optional inclusive range."""
    return sorted(
        d
        for d in available
        if (first_day is None or d >= first_day) and (last_day is None or d <= last_day)
    )


def _split_days(
    days: Sequence[str], eval_days: int
) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """The last ``eval_days`` days are eval, all earlier ones train."""
    if len(days) <= eval_days:
        raise ValueError(
            f"eval_days={eval_days} leaves no training day: the run selects "
            f"{len(days)} day(s) {list(days)}; ingest more days or lower "
            "eval_days"
        )
    return tuple(days[:-eval_days]), tuple(days[-eval_days:])


def _impression_files(partitions: Dict[str, str], days: Sequence[str]) -> List[DayFile]:
    """(day, path) of every impressions file; a day without files fails."""
    found = []
    for day in days:
        files = list_data_files(partitions[day])
        if not files:
            raise FileNotFoundError(
                f"impressions partition has no {'/'.join(DATA_FILE_SUFFIXES)} "
                f"files: {partitions[day]}"
            )
        found.extend((day, path) for path in files)
    return found


def _event_files(
    partitions: Mapping[str, str], first_day: str, through_day: str
) -> List[DayFile]:
    """(day, path) of the events files from ``first_day`` to ``through_day``.

    Missing event days are normal (a day without actions, or one not yet
    exported), so they are skipped rather than failing the run.
    """
    return [
        (day, path)
        for day in _select_days(list(partitions), first_day, through_day)
        for path in list_data_files(partitions[day])
    ]


def plan_ingestion(cfg: config.IngestConfig) -> IngestionPlan:
    """Resolves days, splits and files of a run; fails naming bad paths."""
    _require_dir(cfg.input_base, "input_base")
    if not fileio.listdir(cfg.input_base):
        raise FileNotFoundError(f"input_base directory is empty: {cfg.input_base}")
    impressions_dir = os.path.join(cfg.input_base, features.IMPRESSIONS_DIR)
    events_dir = os.path.join(cfg.input_base, features.EVENTS_DIR)
    _require_dir(impressions_dir, "impressions")
    _require_dir(events_dir, "events")

    partitions = list_day_partitions(impressions_dir)
    days = _select_days(list(partitions), cfg.first_day, cfg.last_day)
    if not days:
        raise FileNotFoundError(
            f"no impressions partition dt=YYYY-MM-DD between "
            f"{cfg.first_day or 'the first day'} and "
            f"{cfg.last_day or 'the last day'} in {impressions_dir}"
        )
    train_days, eval_days = _split_days(days, cfg.eval_days)
    events_through = shift_day(days[-1], cfg.attribution_window_days)
    event_partitions = list_day_partitions(events_dir)
    return IngestionPlan(
        input_base=cfg.input_base,
        train_days=train_days,
        eval_days=eval_days,
        impression_files=tuple(_impression_files(partitions, days)),
        event_files=tuple(_event_files(event_partitions, days[0], events_through)),
        later_impression_days=frozenset(
            _select_days(list(partitions), shift_day(days[-1], 1), events_through)
        ),
        unread_event_days=tuple(
            _select_days(list(event_partitions), shift_day(events_through, 1), None)
        ),
    )


def input_fingerprint(plan: IngestionPlan) -> str:
    """A digest of the paths, sizes and mtimes of every file the run reads.

    Like ``tfx.utils.io_utils.generate_fingerprint`` but over the exact file
    list, so adding, replacing or touching any input file changes it (and TFX
    reruns), while an unchanged input keeps it (and TFX reuses the result).
    """
    digest = hashlib.sha256()
    total_bytes = 0
    for _, path in sorted(plan.impression_files + plan.event_files):
        stat = fileio.stat(path)
        total_bytes += stat.length
        digest.update(f"{path}\t{stat.length}\t{stat.mtime_nsec}\n".encode())
    return (
        f"days:{plan.first_day}..{plan.last_day},"
        f"impression_files:{len(plan.impression_files)},"
        f"event_files:{len(plan.event_files)},"
        f"total_bytes:{total_bytes},sha256:{digest.hexdigest()}"
    )
