"""The data-quality report written beside the examples.

The input contract says nothing is lost silently: every impression and event
row that is read ends in exactly one count, and the counts are written next
to the examples as ``data_quality.json`` (for machines: the pipeline's
summary printer, tests, alerting) and ``data_quality.txt`` (for people).

The Beam pipeline only produces (key, count) pairs; the keys are built by the
``*_key`` helpers below so producer and report agree on them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

from transform import features

REPORT_JSON = "data_quality.json"
REPORT_TEXT = "data_quality.txt"

# Event outcomes not named in transform/features.py.
EVENT_OTHER = "other_event"  # a type that is no label (see other_by_type)
# An event after the last ingested day that matches no ingested impression
# while its day has impressions this run did not read: probably not an orphan.
EVENT_AFTER_RANGE = "unmatched_event_after_range"
# Events that became label evidence.
USED_EVENT_OUTCOMES: Tuple[str, ...] = features.LABELS
EVENT_OUTCOMES: Tuple[str, ...] = USED_EVENT_OUTCOMES + (
    features.EVENT_OUTSIDE_WINDOW,
    EVENT_OTHER,
    features.EVENT_ORPHAN,
    EVENT_AFTER_RANGE,
    features.EVENT_OF_REJECTED_IMPRESSION,
    features.EVENT_MALFORMED,
)

CountKey = Tuple[Any, ...]

_IMPRESSIONS_READ = "impressions_read"
_IMPRESSION_REJECTED = "impression_rejected"
_EVENT_TYPE = "event_type"
_EVENT_OUTCOME = "event_outcome"
_OTHER_EVENT_TYPE = "other_event_type"
_EXAMPLE = "example"
_EXAMPLES_WRITTEN = "examples_written"


def impressions_read_key() -> CountKey:
    return (_IMPRESSIONS_READ,)


def impression_rejected_key(reason: str, column: str) -> CountKey:
    return (_IMPRESSION_REJECTED, reason, column)


def event_type_key(event_type: str) -> CountKey:
    """Well-formed events read, by their type."""
    return (_EVENT_TYPE, event_type)


def event_outcome_key(outcome: str) -> CountKey:
    """What became of an event row: one of ``EVENT_OUTCOMES``."""
    return (_EVENT_OUTCOME, outcome)


def other_event_type_key(event_type: str) -> CountKey:
    return (_OTHER_EVENT_TYPE, event_type)


def example_key(split: str, labels: Mapping[str, int]) -> CountKey:
    """One emitted example, with its labels (label counts come from it)."""
    return (_EXAMPLE, split) + tuple(labels[name] for name in features.LABELS)


def examples_written_key(split: str) -> CountKey:
    """Records of ``split`` that reached a file (the writer's own count)."""
    return (_EXAMPLES_WRITTEN, split)


def _sorted(counts: Mapping[str, int]) -> Dict[str, int]:
    return {k: counts[k] for k in sorted(counts)}


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclasses.dataclass
class DataQualityReport:
    """Counts of one run; every row read is in exactly one count."""

    input_base: str
    days_per_split: Dict[str, List[str]]
    max_reject_rate: float
    impressions_read: int = 0
    rejected_by_reason_and_column: Dict[str, Dict[str, int]] = dataclasses.field(
        default_factory=dict
    )
    events_by_outcome: Dict[str, int] = dataclasses.field(default_factory=dict)
    events_by_type: Dict[str, int] = dataclasses.field(default_factory=dict)
    other_events_by_type: Dict[str, int] = dataclasses.field(default_factory=dict)
    examples_per_split: Dict[str, int] = dataclasses.field(default_factory=dict)
    label_counts: Dict[str, Dict[str, int]] = dataclasses.field(default_factory=dict)
    # Split -> records the writer put in files; equal to examples_per_split
    # unless records were lost on the way (see lost_rows_error).
    written_per_split: Dict[str, int] = dataclasses.field(default_factory=dict)
    # Events partitions past the last ingested day's attribution window: not
    # read, so listed here (layout.IngestionPlan.unread_event_days).
    unread_event_days: List[str] = dataclasses.field(default_factory=list)

    # --- derived figures ---------------------------------------------------
    @property
    def first_day(self) -> str:
        return min(d for days in self.days_per_split.values() for d in days)

    @property
    def last_day(self) -> str:
        return max(d for days in self.days_per_split.values() for d in days)

    @property
    def rejected_by_reason(self) -> Dict[str, int]:
        """Every impression reject reason (zeros included) -> count."""
        return {
            reason: sum(self.rejected_by_reason_and_column.get(reason, {}).values())
            for reason in features.IMPRESSION_REJECT_REASONS
        }

    @property
    def impressions_rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def impressions_accepted(self) -> int:
        return sum(self.examples_per_split.values())

    @property
    def rejected_share(self) -> float:
        return _share(self.impressions_rejected, self.impressions_read)

    @property
    def events_read(self) -> int:
        return sum(self.events_by_outcome.values())

    @property
    def events_used(self) -> int:
        return sum(self.events_by_outcome.get(o, 0) for o in USED_EVENT_OUTCOMES)

    # --- building from the pipeline's counts --------------------------------
    @classmethod
    def from_counts(
        cls,
        counts: Iterable[Tuple[CountKey, int]],
        input_base: str,
        days_per_split: Mapping[str, List[str]],
        max_reject_rate: float,
        unread_event_days: Sequence[str] = (),
    ) -> "DataQualityReport":
        """Assembles the report from the (key, count) pairs of a run."""
        report = cls(
            input_base=input_base,
            days_per_split={k: list(v) for k, v in days_per_split.items()},
            max_reject_rate=max_reject_rate,
            unread_event_days=list(unread_event_days),
        )
        report.events_by_outcome = {o: 0 for o in EVENT_OUTCOMES}
        for split in days_per_split:
            report.examples_per_split[split] = 0
            report.written_per_split[split] = 0
            report.label_counts[split] = {name: 0 for name in features.LABELS}
        for key, count in counts:
            report._add(tuple(key), count)
        report._sort()
        return report

    def _add(self, key: CountKey, count: int) -> None:
        """Adds one (key, count) pair to the matching field."""
        kind = key[0]
        if kind == _IMPRESSIONS_READ:
            self.impressions_read += count
        elif kind == _IMPRESSION_REJECTED:
            by_column = self.rejected_by_reason_and_column.setdefault(key[1], {})
            by_column[key[2]] = by_column.get(key[2], 0) + count
        elif kind in (_EVENT_TYPE, _EVENT_OUTCOME, _OTHER_EVENT_TYPE):
            target = {
                _EVENT_TYPE: self.events_by_type,
                _EVENT_OUTCOME: self.events_by_outcome,
                _OTHER_EVENT_TYPE: self.other_events_by_type,
            }[kind]
            target[key[1]] = target.get(key[1], 0) + count
        elif kind == _EXAMPLE:
            self._add_examples(key[1], key[2:], count)
        elif kind == _EXAMPLES_WRITTEN:
            self.written_per_split[key[1]] = (
                self.written_per_split.get(key[1], 0) + count
            )
        else:
            raise ValueError(f"unknown count key {key!r}")

    def _add_examples(
        self, split: str, label_values: Tuple[int, ...], count: int
    ) -> None:
        self.examples_per_split[split] = self.examples_per_split.get(split, 0) + count
        labels = self.label_counts.setdefault(
            split, {name: 0 for name in features.LABELS}
        )
        for name, value in zip(features.LABELS, label_values):
            labels[name] += value * count

    def _sort(self) -> None:
        """Sorted keys make the JSON diffable across runs."""
        self.rejected_by_reason_and_column = {
            r: _sorted(c) for r, c in sorted(self.rejected_by_reason_and_column.items())
        }
        self.events_by_type = _sorted(self.events_by_type)
        self.other_events_by_type = _sorted(self.other_events_by_type)

    # --- serialisation -------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """The machine-readable form written to ``data_quality.json``."""
        outcomes = self.events_by_outcome
        return {
            "input_base": self.input_base,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "days_per_split": self.days_per_split,
            "impressions": {
                "read": self.impressions_read,
                "accepted": self.impressions_accepted,
                "rejected": self.impressions_rejected,
                "rejected_share": self.rejected_share,
                "max_reject_rate": self.max_reject_rate,
                "rejected_by_reason": self.rejected_by_reason,
                "rejected_by_reason_and_column": self.rejected_by_reason_and_column,
            },
            "events": {
                "read": self.events_read,
                "used": self.events_used,
                "by_type": self.events_by_type,
                "by_outcome": outcomes,
                "other_by_type": self.other_events_by_type,
                "unread_later_days": self.unread_event_days,
                **{
                    name: outcomes.get(name, 0)
                    for name in (
                        features.EVENT_ORPHAN,
                        features.EVENT_OF_REJECTED_IMPRESSION,
                        features.EVENT_MALFORMED,
                        features.EVENT_OUTSIDE_WINDOW,
                        EVENT_AFTER_RANGE,
                    )
                },
            },
            "examples": {
                "per_split": self.examples_per_split,
                "written_per_split": self.written_per_split,
                "label_counts": self.label_counts,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DataQualityReport":
        """Reads back what ``to_dict`` wrote (derived figures are recomputed)."""
        impressions, events, examples = (
            data["impressions"],
            data["events"],
            data["examples"],
        )
        return cls(
            input_base=data["input_base"],
            days_per_split=data["days_per_split"],
            max_reject_rate=impressions["max_reject_rate"],
            impressions_read=impressions["read"],
            rejected_by_reason_and_column=impressions["rejected_by_reason_and_column"],
            events_by_outcome=events["by_outcome"],
            events_by_type=events["by_type"],
            other_events_by_type=events["other_by_type"],
            examples_per_split=examples["per_split"],
            label_counts=examples["label_counts"],
            # Reports written before the writer counted its records have none.
            written_per_split=examples.get("written_per_split", {}),
            unread_event_days=events.get("unread_later_days", []),
        )

    def format(self) -> str:
        """The human-readable table written to ``data_quality.txt``."""
        return "\n".join(_text_lines(self)) + "\n"

    def headline(self) -> Dict[str, Any]:
        """The few figures worth putting on the artifact as properties."""
        figures: Dict[str, Any] = {
            "impressions_read": self.impressions_read,
            "impressions_accepted": self.impressions_accepted,
            "impressions_rejected": self.impressions_rejected,
            "rejected_share": self.rejected_share,
            "events_read": self.events_read,
            "events_used": self.events_used,
        }
        figures.update(
            {f"examples_{split}": n for split, n in self.examples_per_split.items()}
        )
        return figures


def _row(label: str, count: Any, note: str = "", indent: int = 1) -> str:
    return f"{'  ' * indent}{label:<{40 - 2 * indent}}{count:>12}  {note}".rstrip()


def _percent(part: int, whole: int) -> str:
    return f"{100 * _share(part, whole):.2f}%"


def _impression_lines(report: DataQualityReport) -> List[str]:
    read = report.impressions_read
    lines = [
        "impressions",
        _row("read", read),
        _row(
            "accepted",
            report.impressions_accepted,
            _percent(report.impressions_accepted, read),
        ),
        _row(
            "rejected",
            report.impressions_rejected,
            f"{_percent(report.impressions_rejected, read)} "
            f"(max {100 * report.max_reject_rate:.2f}%)",
        ),
    ]
    for reason, count in report.rejected_by_reason.items():
        lines.append(_row(reason, count, _percent(count, read), indent=2))
        by_column = report.rejected_by_reason_and_column.get(reason, {})
        lines.extend(_row(column, n, indent=3) for column, n in by_column.items())
    return lines


def _event_lines(report: DataQualityReport) -> List[str]:
    lines = [
        "events",
        _row("read", report.events_read),
        _row("used for labels", report.events_used),
        "  by outcome",
    ]
    lines.extend(_row(o, n, indent=2) for o, n in report.events_by_outcome.items())
    lines.append("  by type (well-formed rows)")
    lines.extend(_row(t, n, indent=2) for t, n in report.events_by_type.items())
    if report.other_events_by_type:
        lines.append("  other types of accepted impressions")
        lines.extend(
            _row(t, n, indent=2) for t, n in report.other_events_by_type.items()
        )
    unread = report.unread_event_days
    if unread:
        lines.append(
            f"  not read: {len(unread)} later partition(s) past the attribution "
            f"window, dt={unread[0]}..dt={unread[-1]}"
        )
    return lines


def _example_lines(report: DataQualityReport) -> List[str]:
    header = f"  {'split':<10}{'days':>6}{'examples':>12}{'written':>12}" + "".join(
        f"{name:>12}" for name in features.LABELS
    )
    lines = ["examples", header]
    for split, count in report.examples_per_split.items():
        labels = report.label_counts.get(split, {})
        lines.append(
            f"  {split:<10}{len(report.days_per_split.get(split, [])):>6}"
            f"{count:>12}{report.written_per_split.get(split, 0):>12}"
            + "".join(f"{labels.get(name, 0):>12}" for name in features.LABELS)
        )
    return lines


def _text_lines(report: DataQualityReport) -> List[str]:
    days = "; ".join(
        f"{split}: {', '.join(days)}" for split, days in report.days_per_split.items()
    )
    return (
        [
            f"Data quality of {report.input_base}",
            f"days {report.first_day}..{report.last_day} ({days})",
            "",
        ]
        + _impression_lines(report)
        + [""]
        + _event_lines(report)
        + [""]
        + _example_lines(report)
    )


def write_report(report: DataQualityReport, examples_uri: str) -> None:
    """Writes ``data_quality.json`` and ``data_quality.txt`` into the uri."""
    fileio.makedirs(examples_uri)
    with fileio.open(os.path.join(examples_uri, REPORT_JSON), "w") as f:
        f.write(json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n")
    with fileio.open(os.path.join(examples_uri, REPORT_TEXT), "w") as f:
        f.write(report.format())


def load_report(examples_uri: str) -> DataQualityReport:
    """Reads the report of an Examples artifact (its uri)."""
    with fileio.open(os.path.join(examples_uri, REPORT_JSON), "r") as f:
        return DataQualityReport.from_dict(json.loads(f.read()))


def lost_rows_error(report: DataQualityReport) -> Optional[str]:
    """The failure message when records vanished inside the pipeline.

    Every impression read ends accepted or rejected, every well-formed event
    read gets exactly one outcome in the join, and every joined example is
    written to a file.  A shortfall is not a property of the logs: records
    vanished between two stages (a runner fault), so the examples are
    incomplete and the run must fail rather than train on them.
    """
    problems = []
    settled = report.impressions_accepted + report.impressions_rejected
    if settled != report.impressions_read:
        problems.append(
            f"{report.impressions_read} impressions read but {settled} accepted "
            f"or rejected ({report.impressions_read - settled} unaccounted for)"
        )
    parsed_events = sum(report.events_by_type.values())
    joined_events = report.events_read - report.events_by_outcome.get(
        features.EVENT_MALFORMED, 0
    )
    if joined_events != parsed_events:
        problems.append(
            f"{parsed_events} well-formed events parsed but {joined_events} "
            f"reached the join ({parsed_events - joined_events} unaccounted for)"
        )
    for split, joined in report.examples_per_split.items():
        written = report.written_per_split.get(split, 0)
        if written != joined:
            problems.append(
                f"{joined} {split} examples joined but {written} written to files "
                f"({joined - written} unaccounted for)"
            )
    if not problems:
        return None
    return (
        "; ".join(problems) + ". Records were lost inside the pipeline "
        "(a Beam runner fault, not bad input); the examples are incomplete."
    )


def reject_rate_error(report: DataQualityReport) -> Optional[str]:
    """The failure message when too many impressions were rejected.

    Each reason names its columns: a column missing from a whole file shows
    up as one column with many ``missing_value`` rejects.
    """
    if report.rejected_share <= report.max_reject_rate:
        return None
    by_column = report.rejected_by_reason_and_column
    reasons = [
        f"{reason}={count} ("
        + ", ".join(f"{column} {n}" for column, n in by_column[reason].items())
        + ")"
        for reason, count in report.rejected_by_reason.items()
        if count
    ]
    return (
        f"{report.impressions_rejected} of {report.impressions_read} "
        f"impressions rejected ({100 * report.rejected_share:.2f}% > "
        f"max_reject_rate {100 * report.max_reject_rate:.2f}%): {'; '.join(reasons)}."
    )
