"""Tests of ImpressionLogExampleGen on tiny hand-written logs.

Every log here is small enough that the expected examples and every count of
the data-quality report are known exactly.  Column names come from
``transform.features`` (looked up by role or bound where the test needs a
particular kind of column), never spelled out.
"""

from __future__ import annotations

import csv
import datetime
import glob
import os
import pathlib
import random
import re
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.orchestration import data_types_utils
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
from tfx.orchestration.portable import data_types as portable_data_types
from tfx.types import standard_artifacts

from components.impression_example_gen import (
    ImpressionLogExampleGen,
    beam_pipeline,
    coercion,
    config,
    driver,
    executor,
    joining,
    layout,
    parsing,
    quality,
    records,
    tf_example,
    vectorized,
)
from transform import features

# --- Columns the tests need, found by their properties ------------------------
COLUMNS = features.IMPRESSION_COLUMNS
PRICE = next(c.name for c in COLUMNS if c.min_exclusive)
RATE_A, RATE_B = [c.name for c in COLUMNS if c.max_value == 1.0][:2]
INT_ID_A, INT_ID_B = [c.name for c in features.ID_FEATURES if c.dtype is int][:2]
STR_IDS = [c.name for c in features.ID_FEATURES if c.dtype is str]
ID = features.IMPRESSION_ID
TS = features.TIMESTAMP
CLICK, CART, PURCHASE = (
    features.EVENT_CLICK,
    features.EVENT_CART,
    features.EVENT_PURCHASE,
)
DAY1, DAY2, DAY3 = "2024-03-01", "2024-03-02", "2024-03-03"
DAY_MS = 24 * 3600 * 1000
WINDOW_MS = features.DEFAULT_ATTRIBUTION_WINDOW_DAYS * DAY_MS


# --- Writing logs ----------------------------------------------------------------
def ms(day: str, seconds: int = 0) -> int:
    """Epoch milliseconds of ``seconds`` after midnight UTC of ``day``."""
    date = datetime.datetime.strptime(day, features.DAY_FORMAT).replace(
        tzinfo=datetime.timezone.utc
    )
    return int(date.timestamp()) * 1000 + seconds * 1000


def day_of(ts: int) -> str:
    return datetime.datetime.fromtimestamp(ts / 1000, datetime.timezone.utc).strftime(
        features.DAY_FORMAT
    )


def _default(column: features.Column) -> Any:
    """A valid value of any column (0.5 is inside every float bound)."""
    return {str: "v", int: 1, float: 0.5}[column.dtype]


def impression(
    impression_id: str, day: str, seconds: int = 0, **overrides: Any
) -> Dict[str, Any]:
    """A valid impression row; pass ``**{column: value}`` to change it."""
    row = {c.name: _default(c) for c in COLUMNS}
    row.update({ID: impression_id, TS: ms(day, seconds)})
    row.update(overrides)
    return row


def event(impression_id: str, ts: Any, event_type: str) -> Dict[str, Any]:
    return {ID: impression_id, TS: ts, features.EVENT_TYPE: event_type}


def _partition(root: pathlib.Path, table: str, day: str) -> pathlib.Path:
    path = root / table / f"{features.DAY_PARTITION_PREFIX}{day}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_parquet(
    root: pathlib.Path,
    table: str,
    day: str,
    rows: List[Dict[str, Any]],
    name: str = "part-0",
) -> None:
    pq.write_table(
        pa.Table.from_pylist(rows), _partition(root, table, day) / f"{name}.parquet"
    )


def write_csv(
    root: pathlib.Path,
    table: str,
    day: str,
    rows: List[Dict[str, Any]],
    name: str = "part-0",
    raw_lines: Sequence[str] = (),
) -> None:
    """Writes rows (None as an empty cell) plus verbatim extra lines."""
    header = list(rows[0])
    with open(
        _partition(root, table, day) / f"{name}.csv", "w", newline="", encoding="utf-8"
    ) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(
            [["" if r.get(h) is None else r[h] for h in header] for r in rows]
        )
        f.writelines(line + "\n" for line in raw_lines)


def write_events_by_day(
    root: pathlib.Path, events: Iterable[Dict[str, Any]], writer=write_parquet
) -> None:
    """Writes each event into the partition of its own day."""
    by_day: Dict[str, List[Dict[str, Any]]] = {}
    for e in events:
        by_day.setdefault(day_of(e[TS]), []).append(e)
    for day, rows in by_day.items():
        writer(root, features.EVENTS_DIR, day, rows)


# --- Running the executor ---------------------------------------------------------
def run_executor(
    root: pathlib.Path, out: pathlib.Path, **props: Any
) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    executor.Executor().Do(
        {},
        {config.EXAMPLES_KEY: [examples]},
        {config.INPUT_BASE_KEY: str(root), **props},
    )
    return examples


def read_examples(uri: str) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """split -> impression_id -> feature values of the written examples."""
    result = {}
    for split in config.SPLIT_NAMES:
        files = glob.glob(os.path.join(uri, f"Split-{split}", "*.gz"))
        assert files, f"no files in split {split}"
        examples = {}
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            values = tf_example.from_example(
                tf.train.Example.FromString(record.numpy())
            )
            examples[values[ID]] = values
        result[split] = examples
    return result


def expected_example(
    row: Dict[str, Any], click: int, daction: int, purchase: int
) -> Dict[str, Any]:
    values = {name: row[name] for name in features.IMPRESSION_COLUMN_NAMES}
    values.update(
        {
            features.LABEL_CLICK: click,
            features.LABEL_DACTION: daction,
            features.LABEL_PURCHASE: purchase,
            features.SLICE_KEY: features.purchase_freq_bucket(
                row[features.USER_PURCHASE_COUNT]
            ),
        }
    )
    return values


def label_counts(click: int, daction: int, purchase: int) -> Dict[str, int]:
    """Positives per label, keyed as in the report."""
    return dict(zip(features.LABELS, (click, daction, purchase)))


# --- A clean two-day log -------------------------------------------------------------
CLEAN_IMPRESSIONS = {
    DAY1: [
        impression("a", DAY1, 10, **{features.USER_PURCHASE_COUNT: 0}),
        impression("b", DAY1, 20, **{features.USER_PURCHASE_COUNT: 15, PRICE: 19.25}),
        impression("c", DAY1, 30, **{features.USER_PURCHASE_COUNT: 50}),
    ],
    DAY2: [
        impression("d", DAY2, 40, **{features.USER_PURCHASE_COUNT: 51}),
        impression("e", DAY2, 50, **{STR_IDS[0]: "user-e"}),
    ],
}
CLEAN_EVENTS = [
    event("a", ms(DAY1, 11), CLICK),
    event("a", ms(DAY1, 12), CART),
    event("a", ms(DAY2, 13), PURCHASE),  # next day, inside the window
    event("b", ms(DAY1, 21), CLICK),
    event("d", ms(DAY2, 41), CLICK),
    event("d", ms(DAY2, 42), features.EVENT_WISHLIST),
]
CLEAN_EXPECTED = {
    config.TRAIN_SPLIT: {
        "a": expected_example(CLEAN_IMPRESSIONS[DAY1][0], 1, 1, 1),
        "b": expected_example(CLEAN_IMPRESSIONS[DAY1][1], 1, 0, 0),
        "c": expected_example(CLEAN_IMPRESSIONS[DAY1][2], 0, 0, 0),
    },
    config.EVAL_SPLIT: {
        "d": expected_example(CLEAN_IMPRESSIONS[DAY2][0], 1, 1, 0),
        "e": expected_example(CLEAN_IMPRESSIONS[DAY2][1], 0, 0, 0),
    },
}


def write_clean_log(root: pathlib.Path, writer=write_parquet) -> pathlib.Path:
    for day, rows in CLEAN_IMPRESSIONS.items():
        writer(root, features.IMPRESSIONS_DIR, day, rows)
    write_events_by_day(root, CLEAN_EVENTS, writer)
    return root


def test_clean_log_gives_exact_examples_in_day_splits(tmp_path):
    root = write_clean_log(tmp_path / "logs")
    examples = run_executor(root, tmp_path / "out")

    assert read_examples(examples.uri) == CLEAN_EXPECTED
    report = quality.load_report(examples.uri)
    assert report.days_per_split == {
        config.TRAIN_SPLIT: [DAY1],
        config.EVAL_SPLIT: [DAY2],
    }
    assert (report.impressions_read, report.impressions_rejected) == (5, 0)
    assert report.label_counts == {
        config.TRAIN_SPLIT: label_counts(2, 1, 1),
        config.EVAL_SPLIT: label_counts(1, 1, 0),
    }
    assert (report.events_read, report.events_used) == (6, 6)
    assert examples.split_names == '["train", "eval"]'
    assert examples.span == layout.day_to_span(DAY2)
    assert examples.get_string_custom_property("first_day") == DAY1
    assert examples.get_string_custom_property("last_day") == DAY2
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert examples.get_int_custom_property("examples_train") == 3


def test_csv_and_parquet_give_identical_examples(tmp_path):
    parquet = run_executor(write_clean_log(tmp_path / "pq"), tmp_path / "o1")
    csv_out = run_executor(
        write_clean_log(tmp_path / "csv", write_csv), tmp_path / "o2"
    )
    assert read_examples(csv_out.uri) == read_examples(parquet.uri)
    assert read_examples(csv_out.uri) == CLEAN_EXPECTED


def test_eval_days_and_day_range(tmp_path):
    root = tmp_path / "logs"
    for day in (DAY1, DAY2, DAY3):
        write_parquet(
            root, features.IMPRESSIONS_DIR, day, [impression(f"i-{day}", day)]
        )
    write_events_by_day(
        root,
        [
            event("ghost", ms(DAY2, 5), CLICK),  # day in range: orphan
            event(f"i-{DAY3}", ms(DAY3, 5), CLICK),  # DAY3 not ingested
        ],
    )
    examples = run_executor(
        root, tmp_path / "out", eval_days=1, first_day=DAY1, last_day=DAY2
    )
    report = quality.load_report(examples.uri)
    assert report.days_per_split == {
        config.TRAIN_SPLIT: [DAY1],
        config.EVAL_SPLIT: [DAY2],
    }
    assert report.events_by_outcome[features.EVENT_ORPHAN] == 1
    assert report.events_by_outcome[quality.EVENT_AFTER_RANGE] == 1
    assert examples.span == layout.day_to_span(DAY2)

    examples = run_executor(root, tmp_path / "out2", eval_days=2)
    assert {s: sorted(e) for s, e in read_examples(examples.uri).items()} == {
        config.TRAIN_SPLIT: [f"i-{DAY1}"],
        config.EVAL_SPLIT: [f"i-{DAY2}", f"i-{DAY3}"],
    }
    with pytest.raises(ValueError, match="eval_days=3 leaves no training day"):
        run_executor(root, tmp_path / "out3", eval_days=3)


def test_event_partitions_past_the_window_are_listed_not_read(tmp_path):
    """A late click days after the window is not read, but the report says so."""
    root = write_clean_log(tmp_path / "logs")
    window_end = layout.shift_day(DAY2, features.DEFAULT_ATTRIBUTION_WINDOW_DAYS)
    late_days = [layout.shift_day(window_end, 1), layout.shift_day(window_end, 3)]
    write_events_by_day(
        root, [event("ghost", ms(day, 5), CLICK) for day in [window_end] + late_days]
    )
    report = quality.load_report(run_executor(root, tmp_path / "out").uri)
    assert report.unread_event_days == late_days
    assert report.events_by_outcome[features.EVENT_ORPHAN] == 1  # window_end's
    assert (
        f"not read: 2 later partition(s) past the attribution window, "
        f"dt={late_days[0]}..dt={late_days[1]}" in report.format()
    )
    reloaded = quality.DataQualityReport.from_dict(report.to_dict())
    assert reloaded.unread_event_days == late_days


# --- A messy log: every bad-input kind with a known count ---------------------------
def _messy_day1() -> List[Dict[str, Any]]:
    return [
        impression("a1", DAY1, 1),
        impression("a2", DAY1, 2, **{STR_IDS[0]: None}),  # missing_value
        impression("a3", DAY1, 3, **{PRICE: 0.0}),  # out_of_range
        impression("a4", DAY1, 4, **{PRICE: -2.0}),  # out_of_range
        impression("a5", DAY1, 5, **{RATE_A: 1.5}),  # out_of_range
        impression("a6", DAY1, 6, **{RATE_B: -0.25}),  # out_of_range
        impression("d1", DAY1, 300, **{STR_IDS[1]: "late"}),  # duplicate
        impression("d1", DAY1, 100, **{STR_IDS[1]: "tie-b"}),  # duplicate
        impression("d1", DAY1, 100, **{STR_IDS[1]: "tie-a"}),  # kept
        impression("j1", DAY1, 7),  # cart without click
        impression("j2", DAY1, 8),  # purchase without click
        impression("w1", DAY1, 9),  # purchase after the window
        impression("w2", DAY1, 10),  # purchase at the window's last ms
        impression("o1", DAY1, 11),  # other event types
    ]


def _messy_day2_csv() -> List[Dict[str, Any]]:
    return [
        impression("c1", DAY2, 1),
        impression("c2", DAY2, 2, **{INT_ID_B: "3.5"}),  # unparsable
        impression("c3", DAY2, 3, **{PRICE: "cheap"}),  # unparsable
        impression("c4", DAY2, 4, **{INT_ID_A: "4.0"}),  # integral: accepted
        impression("c5", DAY2, 5, **{TS: ""}),  # missing_value
    ]


def _messy_events() -> List[Dict[str, Any]]:
    w1, w2 = ms(DAY1, 9), ms(DAY1, 10)
    return [
        event("a1", ms(DAY1, 20), CLICK),
        event("a2", ms(DAY1, 20), CLICK),  # of a rejected impression
        event("j1", ms(DAY1, 20), CART),  # of a rejected impression
        event("j2", ms(DAY1, 20), PURCHASE),  # of a rejected impression
        event("w1", ms(DAY1, 20), CLICK),
        event("w1", w1 + WINDOW_MS + 1, PURCHASE),  # outside the window
        event("w2", ms(DAY1, 20), CLICK),
        event("w2", w2 + WINDOW_MS, PURCHASE),  # inside (inclusive)
        event("o1", ms(DAY1, 20), CLICK),
        event("o1", ms(DAY1, 21), "share"),
        event("o1", ms(DAY1, 22), "share"),
        event("o1", ms(DAY1, 23), "view"),
        event("ghost", ms(DAY1, 20), CLICK),  # orphan
        event("d1", ms(DAY1, 200), CLICK),  # joins the kept duplicate
    ]


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """The messy log's examples artifact, its report and its examples."""
    root = tmp_path_factory.mktemp("messy")
    write_parquet(root, features.IMPRESSIONS_DIR, DAY1, _messy_day1())
    write_csv(
        root,
        features.IMPRESSIONS_DIR,
        DAY2,
        _messy_day2_csv(),
        raw_lines=["too,many,fields," * 10],
    )
    no_column = impression("m1", DAY2, 6)
    del no_column[STR_IDS[-1]]
    write_csv(root, features.IMPRESSIONS_DIR, DAY2, [no_column], name="missing-column")
    write_events_by_day(root, _messy_events())
    write_csv(
        root,
        features.EVENTS_DIR,
        DAY2,
        [
            event("c1", ms(DAY2, 10), CLICK),
            event("c1", ms(DAY2, 11), CART),
            event("c1", ms(DAY2, 12), PURCHASE),
            event("c1", "soon", CLICK),  # malformed: unparsable ts
            event("c1", ms(DAY2, 13), ""),  # malformed: missing type
        ],
        raw_lines=["c1"],
    )  # malformed: too few fields
    examples = run_executor(root, root / "out", max_reject_rate=1.0)
    return examples, quality.load_report(examples.uri), read_examples(examples.uri)


def test_messy_every_row_is_counted_once(messy):
    _, report, examples = messy
    assert report.impressions_read == 21
    assert report.impressions_accepted == 7
    assert report.impressions_rejected == 14
    assert report.to_dict()["impressions"]["rejected_share"] == 14 / 21
    assert {s: sorted(e) for s, e in examples.items()} == {
        config.TRAIN_SPLIT: ["a1", "d1", "o1", "w1", "w2"],
        config.EVAL_SPLIT: ["c1", "c4"],
    }
    assert report.events_read == 20 and report.events_used == 9
    assert report.written_per_split == {config.TRAIN_SPLIT: 5, config.EVAL_SPLIT: 2}


def test_messy_missing_values(messy):
    _, report, _ = messy
    assert report.rejected_by_reason_and_column[features.REJECT_MISSING_VALUE] == {
        STR_IDS[0]: 1,
        TS: 1,
        STR_IDS[-1]: 1,
    }


def test_messy_unparsable_values(messy):
    _, report, examples = messy
    assert report.rejected_by_reason_and_column[features.REJECT_UNPARSABLE_VALUE] == {
        INT_ID_B: 1,
        PRICE: 1,
        parsing.CSV_ROW_COLUMN: 1,
    }
    assert examples[config.EVAL_SPLIT]["c4"][INT_ID_A] == 4


def test_messy_out_of_range(messy):
    _, report, _ = messy
    assert report.rejected_by_reason_and_column[features.REJECT_OUT_OF_RANGE] == {
        PRICE: 2,
        RATE_A: 1,
        RATE_B: 1,
    }


def test_messy_duplicates_keep_first_by_ts(messy):
    _, report, examples = messy
    assert report.rejected_by_reason[features.REJECT_DUPLICATE_ID] == 2
    kept = examples[config.TRAIN_SPLIT]["d1"]
    assert (kept[TS], kept[STR_IDS[1]]) == (ms(DAY1, 100), "tie-a")
    assert kept[features.LABEL_CLICK] == 1


def test_messy_inconsistent_journeys(messy):
    _, report, _ = messy
    assert report.rejected_by_reason_and_column[
        features.REJECT_INCONSISTENT_JOURNEY
    ] == {features.EVENT_TYPE: 2}
    assert (
        report.events_by_outcome[features.EVENT_OF_REJECTED_IMPRESSION] == 3
    )  # a2, j1, j2


def test_messy_attribution_window(messy):
    _, report, examples = messy
    train = examples[config.TRAIN_SPLIT]
    assert report.events_by_outcome[features.EVENT_OUTSIDE_WINDOW] == 1
    assert (
        train["w1"][features.LABEL_CLICK],
        train["w1"][features.LABEL_PURCHASE],
    ) == (1, 0)
    assert train["w2"][features.LABEL_PURCHASE] == 1


def test_messy_orphan_malformed_and_other_events(messy):
    _, report, _ = messy
    assert report.events_by_outcome[features.EVENT_ORPHAN] == 1
    assert report.events_by_outcome[features.EVENT_MALFORMED] == 3
    assert report.events_by_outcome[quality.EVENT_OTHER] == 3
    assert report.other_events_by_type == {"share": 2, "view": 1}
    assert report.events_by_type == {
        CART: 2,
        CLICK: 8,
        PURCHASE: 4,
        "share": 2,
        "view": 1,
    }


def test_messy_label_counts_and_json_layout(messy):
    examples, report, _ = messy
    assert report.label_counts == {
        config.TRAIN_SPLIT: label_counts(5, 0, 1),
        config.EVAL_SPLIT: label_counts(1, 1, 1),
    }
    data = report.to_dict()
    assert data["events"]["orphan_event"] == 1
    assert data["examples"]["per_split"] == {"train": 5, "eval": 2}
    assert os.path.exists(os.path.join(examples.uri, quality.REPORT_TEXT))
    assert examples.get_int_custom_property("impressions_rejected") == 14


# --- Failures with clear messages ----------------------------------------------------
def test_missing_input_paths_are_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        run_executor(missing, tmp_path / "out")
    root = write_clean_log(tmp_path / "logs")
    (root / features.IMPRESSIONS_DIR / "dt=2024-03-04").mkdir()
    with pytest.raises(FileNotFoundError, match="dt=2024-03-04"):
        run_executor(root, tmp_path / "out")
    root = tmp_path / "no-events"
    write_parquet(root, features.IMPRESSIONS_DIR, DAY1, [impression("a", DAY1)])
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(root / features.EVENTS_DIR))
    ):
        run_executor(root, tmp_path / "out")


def test_too_many_rejects_fail_with_reasons_and_counts(tmp_path):
    root = tmp_path / "logs"
    write_parquet(
        root,
        features.IMPRESSIONS_DIR,
        DAY1,
        [
            impression("a", DAY1),
            impression("b", DAY1, **{PRICE: -1.0}),
            impression("a", DAY1, 5),
        ],
    )
    write_parquet(
        root,
        features.IMPRESSIONS_DIR,
        DAY2,
        [impression("c", DAY2), impression("d", DAY2)],
    )
    write_events_by_day(root, [event("a", ms(DAY1, 9), CLICK)])
    with pytest.raises(ValueError) as raised:
        run_executor(root, tmp_path / "out")
    message = str(raised.value)
    for part in (
        "2 of 5 impressions rejected",
        "40.00% > max_reject_rate 1.00%",
        f"out_of_range=1 ({PRICE} 1)",
        "duplicate_impression_id=1",
    ):
        assert part in message
    # The orchestrator deletes a failed execution's outputs, report included,
    # so the message carries the report's table itself.
    assert "Data quality of" in message
    assert re.search(rf"{PRICE}\s+1\n", message)
    assert quality.load_report(str(tmp_path / "out")).impressions_rejected == 2


def test_a_file_without_a_required_column_fails_naming_the_column(tmp_path):
    """A whole day exported without one column: every row is rejected for it."""
    root = write_clean_log(tmp_path / "logs", writer=write_csv)
    day1 = _partition(root, features.IMPRESSIONS_DIR, DAY1)
    for path in day1.glob("*.csv"):
        path.unlink()
    rows = [
        {k: v for k, v in row.items() if k != RATE_A}
        for row in CLEAN_IMPRESSIONS[DAY1]
    ]
    write_csv(root, features.IMPRESSIONS_DIR, DAY1, rows)
    with pytest.raises(ValueError) as raised:
        run_executor(root, tmp_path / "out")
    missing = len(rows)
    assert f"missing_value={missing} ({RATE_A} {missing})" in str(raised.value)


# --- Pure functions (no Beam) ------------------------------------------------------
def _report(
    impressions_read: int,
    accepted: int,
    clicks_parsed: int,
    clicks_joined: int,
    written: Optional[int] = None,
):
    labels = {name: 0 for name in features.LABELS}
    counts = [
        (quality.impressions_read_key(), impressions_read),
        (quality.impression_rejected_key(features.REJECT_OUT_OF_RANGE, PRICE), 1),
        (quality.example_key(config.TRAIN_SPLIT, labels), accepted),
        (
            quality.examples_written_key(config.TRAIN_SPLIT),
            accepted if written is None else written,
        ),
        (quality.event_type_key(CLICK), clicks_parsed),
        (quality.event_outcome_key(features.LABEL_CLICK), clicks_joined),
        (quality.event_outcome_key(features.EVENT_MALFORMED), 2),
    ]
    return quality.DataQualityReport.from_counts(
        counts, "logs", {config.TRAIN_SPLIT: [DAY1]}, 1.0
    )


def test_rows_lost_between_parse_and_join_fail_the_run():
    """A runner that drops records must not pass as clean logs."""
    assert quality.lost_rows_error(_report(10, 9, 4, 4)) is None
    message = quality.lost_rows_error(_report(10, 7, 4, 1))
    assert "10 impressions read but 8 accepted or rejected (2 unaccounted for)" in (
        message
    )
    assert "4 well-formed events parsed but 1 reached the join (3 unaccounted" in (
        message
    )
    message = quality.lost_rows_error(_report(10, 9, 4, 4, written=6))
    assert "9 train examples joined but 6 written to files (3 unaccounted" in message


_INT = features.COLUMNS_BY_NAME[INT_ID_A]
_FLOAT = features.COLUMNS_BY_NAME[RATE_A]
_STR = features.COLUMNS_BY_NAME[STR_IDS[0]]


@pytest.mark.parametrize(
    "column,raw,expected",
    [
        (_INT, "3", 3),
        (_INT, 3.0, 3),
        (_INT, b" 7 ", 7),
        (_INT, "2e0", 2),
        (_FLOAT, "0.25", 0.25),
        (_FLOAT, 1, 1.0),
        (_STR, 12, "12"),
        (_STR, 12.0, "12"),
        (_STR, b"u\xc3\xa9", "u\u00e9"),
    ],
)
def test_coerce_accepts(column, raw, expected):
    assert coercion.coerce_value(raw, column) == expected


@pytest.mark.parametrize(
    "column,raw,reason",
    [
        (_INT, 3.5, features.REJECT_UNPARSABLE_VALUE),
        (_INT, "3.5", features.REJECT_UNPARSABLE_VALUE),
        (_INT, "1_000", features.REJECT_UNPARSABLE_VALUE),
        (_INT, True, features.REJECT_UNPARSABLE_VALUE),
        (_INT, str(2**63), features.REJECT_UNPARSABLE_VALUE),
        (_INT, "9" * 5000, features.REJECT_UNPARSABLE_VALUE),
        (_FLOAT, 10**400, features.REJECT_UNPARSABLE_VALUE),
        (_FLOAT, float("nan"), features.REJECT_UNPARSABLE_VALUE),
        (_FLOAT, "inf", features.REJECT_UNPARSABLE_VALUE),
        (_FLOAT, "1.5", features.REJECT_OUT_OF_RANGE),
        (_STR, b"\xff", features.REJECT_UNPARSABLE_VALUE),
        (_STR, None, features.REJECT_MISSING_VALUE),
        (_STR, "  ", features.REJECT_MISSING_VALUE),
        (_INT, b"", features.REJECT_MISSING_VALUE),
    ],
)
def test_coerce_rejects(column, raw, reason):
    with pytest.raises(coercion.Invalid) as raised:
        coercion.coerce_value(raw, column)
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"eval_days": 0}, "eval_days=0 must be >= 1"),
        ({"first_day": "2024-3-1x"}, "first_day='2024-3-1x' is not a day"),
        ({"first_day": DAY2, "last_day": DAY1}, "is after"),
        ({"daction_events": [CLICK]}, "daction_events=\\['click'\\]"),
        ({"max_reject_rate": 2.0}, "max_reject_rate=2.0"),
    ],
)
def test_component_rejects_bad_parameters_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImpressionLogExampleGen(input_base="/logs", **kwargs)


def test_config_accepts_lists_in_json_form():
    """How KFP and the driver output hand list properties over."""
    cfg = config.IngestConfig.from_exec_properties(
        {
            config.INPUT_BASE_KEY: "/logs",
            config.DACTION_EVENTS_KEY: '["cart"]',
            config.FIRST_DAY_KEY: "",
        }
    )
    assert (cfg.daction_events, cfg.first_day, cfg.eval_days) == (
        (CART,),
        None,
        config.DEFAULT_EVAL_DAYS,
    )


def test_join_uses_configured_daction_events():
    settings = joining.JoinSettings.create(
        {DAY1: config.TRAIN_SPLIT}, ["wishlist"], 7, []
    )
    row = impression("x", DAY1)
    values = tuple(row[name] for name in features.IMPRESSION_COLUMN_NAMES)
    result = joining.join_impression(
        [
            records.impression(DAY1, values),
            records.event(DAY1, ms(DAY1, 1), CLICK),
            records.event(DAY1, ms(DAY1, 2), CART),
        ],
        settings,
    )
    assert result.example[features.LABEL_DACTION] == 0
    assert result.counts[quality.other_event_type_key(CART)] == 1


# Cells of every shape a messy export has, by the column's dtype.
_TEXT_CELLS = [
    "",
    "  ",
    " 7",
    "7 ",
    "007",
    "-5",
    "+5",
    "3.0",
    "3.5",
    "1e3",
    "0.25",
    "-0.0",
    "1_0",
    "nan",
    "inf",
    "abc",
    "x y",
    "\u00e9t\u00e9",
    str(2**63),
    "99999999999999999999",
    None,
]
_NATIVE_CELLS = {
    int: [0, 1, -3, 7, 2**40, None],
    float: [0.0, 1.0, 0.25, -0.5, 1.5, float("nan"), float("inf"), None],
    str: ["a", "Z9", " lead", "", "  ", "\u00e9", "-x", None],
}
_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), str: pa.string()}


def _random_cells(
    column: features.Column, n: int, rng: random.Random, messy_cells: List[Any]
) -> List[Any]:
    """Mostly valid values, and a random share of messy ones."""
    valid = {
        int: [1, 4, 9, 12, 60],
        float: [0.25, 0.5, 0.75],
        str: ["a1", "Zed", "9x"],
    }[column.dtype]
    messiness = rng.choice([0.0, 0.03, 0.3])
    return [
        rng.choice(messy_cells) if rng.random() < messiness else rng.choice(valid)
        for _ in range(n)
    ]


def _random_array(column: features.Column, n: int, rng: random.Random) -> pa.Array:
    """A column as Arrow would read it: native type, text, or CSV bytes."""
    kind = rng.choice(["native", "text", "bytes"])
    if kind == "native":
        cells = _random_cells(column, n, rng, _NATIVE_CELLS[column.dtype])
        return pa.array(cells, type=_ARROW_TYPES[column.dtype])
    text = [
        None if c is None else str(c)
        for c in _random_cells(column, n, rng, _TEXT_CELLS)
    ]
    if kind == "text":
        return pa.array(text, type=pa.string())
    encoded = [None if c is None else c.encode() for c in text]
    if rng.random() < 0.05:
        encoded[0] = b"\xff"  # not UTF-8: the whole column goes per row
    return pa.array(encoded, type=pa.binary())


@pytest.mark.parametrize("seed", range(12))
def test_columnwise_parsing_equals_per_row_rules(seed):
    rng = random.Random(seed)
    table = pa.table({c.name: _random_array(c, 400, rng) for c in COLUMNS})
    expected = [
        coercion.parse_row(raw, COLUMNS) for raw in vectorized.raw_rows(table, COLUMNS)
    ]
    got = [parsed for parsed, _ in vectorized.parse_table(table, COLUMNS)]
    assert sorted(map(repr, got)) == sorted(map(repr, expected))


def test_columnwise_parsing_takes_plain_rows_fast(tmp_path):
    rows = [impression(f"i{k}", DAY1, k) for k in range(50)]
    table = pa.Table.from_pylist(rows)
    results = list(vectorized.parse_table(table, COLUMNS))
    assert all(raw is None and parsed[0] is not None for parsed, raw in results)


def _resolve(root: pathlib.Path) -> Dict[str, Any]:
    """What the driver adds to the exec properties, called as launchers call it."""
    output = driver.ImpressionLogDriver(None).run(
        portable_data_types.ExecutionInfo(
            exec_properties={config.INPUT_BASE_KEY: str(root), config.EVAL_DAYS_KEY: 1},
            output_dict={config.EXAMPLES_KEY: [standard_artifacts.Examples()]},
        )
    )
    return {
        key: data_types_utils.get_metadata_value(value)
        for key, value in output.exec_properties.items()
    }


def test_driver_pins_days_and_fingerprints_every_input_file(tmp_path):
    root = write_clean_log(tmp_path / "logs")
    first = _resolve(root)
    assert (first[config.FIRST_DAY_KEY], first[config.LAST_DAY_KEY]) == (DAY1, DAY2)
    assert _resolve(root) == first

    late = ms(DAY2) + WINDOW_MS + DAY_MS  # one day after the window
    write_parquet(root, features.EVENTS_DIR, day_of(late), [event("d", late, PURCHASE)])
    assert _resolve(root) == first  # not an input of this run

    write_parquet(root, features.EVENTS_DIR, DAY3, [event("d", ms(DAY3), CART)])
    second = _resolve(root)
    assert second[config.INPUT_FINGERPRINT_KEY] != first[config.INPUT_FINGERPRINT_KEY]

    touched = next((root / features.IMPRESSIONS_DIR).rglob("*.parquet"))
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert (
        _resolve(root)[config.INPUT_FINGERPRINT_KEY]
        != second[config.INPUT_FINGERPRINT_KEY]
    )


# --- Inside a real TFX pipeline ---------------------------------------------------
def _run_pipeline(root: pathlib.Path, work: pathlib.Path, runner: type) -> None:
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="impression-example-gen-test",
        pipeline_root=str(work / "pipeline_root"),
        components=[ImpressionLogExampleGen(input_base=str(root), eval_days=1)],
        enable_cache=True,
        metadata_connection_config=(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(work / "mlmd.sqlite")
            )
        ),
    )
    runner().run(pipeline)


def _example_gen_runs(work: pathlib.Path):
    """(state, output Examples artifact) per ExampleGen execution, in order."""
    store_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        str(work / "mlmd.sqlite")
    )
    store = metadata_store.MetadataStore(store_config)
    type_ids = {
        t.id
        for t in store.get_execution_types()
        if t.name.endswith("ImpressionLogExampleGen")
    }
    runs = []
    for execution in sorted(store.get_executions(), key=lambda e: e.id):
        if execution.type_id not in type_ids:
            continue
        outputs = [
            e.artifact_id
            for e in store.get_events_by_execution_ids([execution.id])
            if e.type == metadata_store_pb2.Event.OUTPUT
        ]
        runs.append((execution.last_known_state, store.get_artifacts_by_id(outputs)))
    return runs


# Both call the driver through the portable launcher (``run``); a new day or
# file must rerun the component and unchanged inputs must hit the cache.
@pytest.mark.parametrize(
    "runner", [tfx.orchestration.LocalDagRunner, BeamDagRunner], ids=["local", "beam"]
)
def test_component_in_dag_runners_with_caching(tmp_path, runner):
    root = write_clean_log(tmp_path / "logs")
    _run_pipeline(root, tmp_path, runner)
    _run_pipeline(root, tmp_path, runner)  # unchanged inputs
    write_parquet(root, features.IMPRESSIONS_DIR, DAY3, [impression("f", DAY3)])
    _run_pipeline(root, tmp_path, runner)  # a new day arrived
    _run_pipeline(root, tmp_path, runner)  # unchanged again
    write_parquet(
        root, features.IMPRESSIONS_DIR, DAY3, [impression("g", DAY3)], name="part-1"
    )
    _run_pipeline(root, tmp_path, runner)  # a new file in the last day

    runs = _example_gen_runs(tmp_path)
    execution = metadata_store_pb2.Execution
    assert [state for state, _ in runs] == [
        execution.COMPLETE,
        execution.CACHED,
        execution.COMPLETE,
        execution.CACHED,
        execution.COMPLETE,
    ]
    first, cached, last = [runs[i][1][0] for i in (0, 1, 2)]
    assert cached.id == first.id
    assert first.properties["span"].int_value == layout.day_to_span(DAY2)
    assert last.properties["span"].int_value == layout.day_to_span(DAY3)
    assert last.properties["split_names"].string_value == '["train", "eval"]'
    props = last.custom_properties
    assert (props["first_day"].string_value, props["last_day"].string_value) == (
        DAY1,
        DAY3,
    )
    assert props["input_fingerprint"].string_value.startswith(
        f"days:{DAY1}..{DAY3},impression_files:3"
    )
    assert props["examples_eval"].int_value == 1
    for split in config.SPLIT_NAMES:
        assert glob.glob(os.path.join(last.uri, f"Split-{split}", "*.gz"))
    assert quality.load_report(last.uri).examples_per_split == {
        config.TRAIN_SPLIT: 5,
        config.EVAL_SPLIT: 1,
    }


# --- Write order ---------------------------------------------------------------
def test_split_files_are_sharded_and_not_in_arrival_order(tmp_path, monkeypatch):
    """Label-sorted input (as a join emits it) must come out mixed in every file.

    Every example is written exactly once, into TFX-named shards, and each
    half of each shard holds about half of that shard's positives.
    """
    monkeypatch.setattr(beam_pipeline, "EXAMPLES_PER_SHARD", 1_500)
    sorted_examples = [b"positive-%05d" % i for i in range(2_000)] + [
        b"negative-%05d" % i for i in range(4_000)
    ]
    prefix = str(tmp_path / "Split-train" / "data_tfrecord")
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | beam.Create(sorted_examples, reshuffle=False)
            | beam_pipeline.WriteInHashOrder(prefix)
        )
    files = sorted(glob.glob(prefix + "*"))
    assert [os.path.basename(f) for f in files] == [
        f"data_tfrecord-0000{i}-of-00004.gz" for i in range(4)
    ]
    written = [[r.numpy() for r in tf.data.TFRecordDataset(f, "GZIP")] for f in files]
    assert sorted(sum(written, [])) == sorted(sorted_examples)
    for records_in_file in written:
        half = len(records_in_file) // 2
        positives = [r.startswith(b"positive") for r in records_in_file]
        expected = sum(positives) / 2
        assert abs(sum(positives[:half]) - expected) < 5 * expected**0.5


def _example_values(i: int) -> Dict[str, Any]:
    """Values of every ``EXAMPLE_FEATURES`` feature, varied by ``i``; strings
    include non-ASCII text and floats need all their digits."""
    kinds = {str: f"id-é{i}" if i % 2 else "", int: (-1) ** i * 2**40 + i, float: i / 7}
    return {name: kinds[dtype] for name, dtype in features.EXAMPLE_FEATURES}


def test_packed_values_serialize_to_the_same_bytes():
    for i in range(50):
        values = _example_values(i)
        packed = tf_example.pack(values)
        assert tf_example.serialize_packed(packed) == tf_example.serialize(values)
        # The point of packing: the feature names stay out of the shuffles.
        assert len(packed) < len(tf_example.serialize(values)) / 2


def test_packed_examples_are_written_as_their_serialized_form_would_be(tmp_path):
    """The pipeline's packed path writes the very files the plain one does:
    same shards, same records, same order."""
    examples = [_example_values(i) for i in range(300)]
    outputs = {}
    for name, elements, to_record in (
        ("plain", [tf_example.serialize(e) for e in examples], None),
        (
            "packed",
            [beam_pipeline._pack_example(e) for e in examples],
            tf_example.serialize_packed,
        ),
    ):
        prefix = str(tmp_path / name / "data_tfrecord")
        with beam.Pipeline() as pipeline:
            _ = (
                pipeline
                | beam.Create(elements, reshuffle=False)
                | beam_pipeline.WriteInHashOrder(prefix, to_record=to_record)
            )
        outputs[name] = {
            os.path.basename(f): [r.numpy() for r in tf.data.TFRecordDataset(f, "GZIP")]
            for f in sorted(glob.glob(prefix + "*"))
        }
    assert outputs["packed"] == outputs["plain"]
    assert sum(map(len, outputs["plain"].values())) == len(examples)
