"""Tests of the synthetic impression-log generator (synthetic/).

Data is kept tiny except one 150k-row dense run shared by the statistical
tests (rates, buckets, selection bias, journeys); the whole file runs in
well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from synthetic import columns as col
from synthetic.__main__ import main as cli_main
from synthetic.entities import bucket_index
from synthetic.generator import generate
from synthetic.summary import SUMMARY_FILE
from transform import features

TINY = dict(
    num_users=2_000,
    num_items=1_000,
    num_categories=20,
    num_brands=50,
    num_shops=80,
    calibration_size=20_000,
    progress=False,
)
DAY_MS = 86_400_000
WINDOW_MS = features.DEFAULT_ATTRIBUTION_WINDOW_DAYS * DAY_MS
DATA_DIRS = (features.IMPRESSIONS_DIR, features.EVENTS_DIR, features.GROUNDTRUTH_DIR)


# --- helpers -----------------------------------------------------------------
def data_files(root: Path, table: str, pattern: str = "*") -> List[Path]:
    """The files of one table, sorted by path."""
    return sorted((root / table).glob(f"{features.DAY_PARTITION_PREFIX}*/{pattern}"))


def read_parquet(root: Path, table: str, unparsable: bool = False) -> pd.DataFrame:
    """All typed (or all unparsable side) Parquet files of a table."""
    files = [
        f
        for f in data_files(root, table, "*.parquet")
        if f.stem.endswith("-unparsable") == unparsable
    ]
    if not files:
        return pd.DataFrame()
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()


def file_bytes(root: Path) -> Dict[str, bytes]:
    """Relative path -> content of every data file of a run."""
    return {
        str(f.relative_to(root)): f.read_bytes()
        for table in DATA_DIRS
        for f in data_files(root, table)
    }


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula."""
    ranks = pd.Series(scores).rank().to_numpy()
    positive = np.asarray(labels).astype(bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def event_sets(events: pd.DataFrame) -> Dict[str, set]:
    """Impression ids having each event type."""
    return {
        kind: set(group[col.IMPRESSION_ID])
        for kind, group in events.groupby(col.EVENT_TYPE)
    }


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
    """One 150k-row dense run (3 days), shared by the statistical tests."""
    out = tmp_path_factory.mktemp("dense")
    summary = generate(
        out,
        preset="dense",
        num_impressions=150_000,
        days=3,
        seed=7,
        num_users=20_000,
        num_items=10_000,
        chunk_size=50_000,
        progress=False,
    )
    return out, summary


@pytest.fixture(scope="module")
def dense_tables(dense_run):
    """(impressions, events, groundtruth) DataFrames of the dense run."""
    out, _ = dense_run
    return tuple(read_parquet(out, table) for table in DATA_DIRS)


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    """A tiny run with 2 % extra bad rows of each kind, and its clean twin."""
    out = tmp_path_factory.mktemp("bad")
    clean = tmp_path_factory.mktemp("clean")
    options = dict(
        preset="dense", num_impressions=6_000, days=2, seed=3, chunk_size=2_500, **TINY
    )
    return (
        out,
        generate(out, bad_row_share=0.02, **options),
        clean,
        generate(clean, **options),
    )


# --- layout and types --------------------------------------------------------
def test_layout_and_column_types(tmp_path):
    summary = generate(
        tmp_path,
        num_impressions=3_000,
        days=3,
        chunk_size=1_000,
        start_day="2026-02-27",
        **TINY,
    )
    expected_days = ["dt=2026-02-27", "dt=2026-02-28", "dt=2026-03-01"]
    for table in (features.IMPRESSIONS_DIR, features.GROUNDTRUTH_DIR):
        days = sorted(p.name for p in (tmp_path / table).iterdir())
        assert days == expected_days
        assert summary.partitions[table] == expected_days
    event_days = sorted(p.name for p in (tmp_path / features.EVENTS_DIR).iterdir())
    assert event_days[0] == expected_days[0] and len(event_days) >= 3
    schemas = {
        features.IMPRESSIONS_DIR: col.IMPRESSION_SCHEMA,
        features.EVENTS_DIR: col.EVENT_SCHEMA,
        features.GROUNDTRUTH_DIR: col.GROUNDTRUTH_SCHEMA,
    }
    for table, schema in schemas.items():
        for path in data_files(tmp_path, table):
            assert path.name.startswith("part-") and path.suffix == ".parquet"
            assert pq.read_schema(path).remove_metadata() == schema
    contract = {str: pa.string(), int: pa.int64(), float: pa.float64()}
    assert [(f.name, f.type) for f in col.IMPRESSION_SCHEMA] == [
        (c.name, contract[c.dtype]) for c in features.IMPRESSION_COLUMNS
    ]
    impressions = read_parquet(tmp_path, features.IMPRESSIONS_DIR)
    assert len(impressions) == 3_000 == impressions[col.IMPRESSION_ID].nunique()
    day_of_row = (impressions[col.TIMESTAMP] // DAY_MS).value_counts()
    assert sorted(day_of_row.tolist()) == [1_000, 1_000, 1_000]
    saved = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert saved["impressions"] == 3_000 and len(saved["rates"]) == 4


def test_ids_are_strings_and_values_in_contract_ranges(dense_tables):
    impressions, _, groundtruth = dense_tables
    for c in features.IMPRESSION_COLUMNS:
        values = impressions[c.name]
        assert values.notna().all(), c.name
        assert not any(c.violation(v) for v in values.iloc[:5_000]), c.name
    assert set(impressions[col.USER_GENDER]) <= {"m", "f", "u"}
    assert impressions[col.USER_AGE_BUCKET].between(0, 9).all()
    assert impressions[col.USER_POWER].between(0, 9).all()
    assert impressions[col.POSITION].min() >= 1
    assert (groundtruth[col.IMPRESSION_ID] == impressions[col.IMPRESSION_ID]).all()


# --- determinism -------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    options = dict(
        num_impressions=4_000, days=2, chunk_size=1_500, bad_row_share=0.01, **TINY
    )
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        generate(tmp_path / name, seed=seed, **options)
        runs[name] = file_bytes(tmp_path / name)
    first, again, other = runs["a"], runs["b"], runs["c"]
    assert first == again and len(first) > 6
    assert first != other


def test_injection_does_not_change_clean_rows(bad_run):
    out, bad, clean, good = bad_run
    assert bad.rates == good.rates and bad.events_by_type == good.events_by_type

    def truth(root: Path) -> Dict[str, bytes]:
        return {
            k: v
            for k, v in file_bytes(root).items()
            if k.startswith(features.GROUNDTRUTH_DIR)
        }

    assert truth(out) == truth(clean)


# --- events and journeys -----------------------------------------------------
def test_events_after_impression_and_purchases_in_window(dense_tables):
    impressions, events, _ = dense_tables
    joined = events.merge(
        impressions[[col.IMPRESSION_ID, col.TIMESTAMP]],
        on=col.IMPRESSION_ID,
        suffixes=("", "_imp"),
    )
    assert len(joined) == len(events)  # no orphans in clean data
    delay = joined[col.TIMESTAMP] - joined[col.TIMESTAMP + "_imp"]
    assert (delay > 0).all()
    purchase = joined[col.EVENT_TYPE] == features.EVENT_PURCHASE
    assert (delay[purchase] < WINDOW_MS).all()


def test_event_partition_is_event_day(dense_run):
    out, _ = dense_run
    for path in data_files(out, features.EVENTS_DIR):
        ts = pq.read_table(path).column(col.TIMESTAMP).to_numpy()
        days = {
            pd.Timestamp(t, unit="ms").strftime(features.DAY_FORMAT)
            for t in (ts.min(), ts.max())
        }
        assert days == {path.parent.name[len(features.DAY_PARTITION_PREFIX) :]}


def test_journeys_are_consistent_and_match_summary(dense_run, dense_tables):
    _, summary = dense_run
    impressions, events, groundtruth = dense_tables
    sets = event_sets(events)
    clicked = sets[features.EVENT_CLICK]
    daction = clicked & set().union(*(sets[e] for e in features.DEFAULT_DACTION_EVENTS))
    purchased = sets[features.EVENT_PURCHASE]
    for kind in features.DEFAULT_DACTION_EVENTS + (features.EVENT_PURCHASE,):
        assert sets[kind] <= clicked, kind
    assert len(clicked) == summary.clicks
    assert len(daction) == summary.dactions
    assert len(purchased) == summary.purchases
    assert len(purchased & daction) == summary.purchases_after_daction
    ordered = events.sort_values([col.IMPRESSION_ID, col.TIMESTAMP], kind="stable")
    first = ordered.groupby(col.IMPRESSION_ID)[col.EVENT_TYPE].first()
    assert (first == features.EVENT_CLICK).all()  # click precedes everything
    counts = events[col.EVENT_TYPE].value_counts().to_dict()
    assert counts == {k: v for k, v in summary.events_by_type.items() if v}
    # For clicked impressions the counterfactual draw is what happened.
    truth = groundtruth.set_index(col.IMPRESSION_ID)[col.PURCHASE_IF_CLICKED]
    assert truth[list(clicked)].sum() == summary.purchases


# --- rates and buckets -------------------------------------------------------
def test_dense_rates_within_statistical_tolerance(dense_run):
    """Each rate within 4.5 binomial standard errors + 2 % of its target.

    The binomial term is the sampling noise of the labels given the
    probabilities (4.5 sigma: false alarm ~1e-5); 2 % covers the fit of the
    intercepts on a finite calibration sample and the clustering of
    impressions on popular users/items.  Over 12 seeds the observed errors
    stayed below 8 % for the purchase rates and 2.5 % for the others.
    """
    _, summary = dense_run
    denominators = {
        "click_rate": summary.impressions,
        "daction_rate": summary.clicks,
        "purchase_rate": summary.clicks,
        "purchase_per_daction": summary.dactions,
    }
    for rate in summary.rates:
        p = rate.target
        tolerance = 4.5 * math.sqrt((1 - p) / (p * denominators[rate.name])) + 0.02
        assert rate.relative_error < tolerance, (rate, tolerance)


def test_every_purchase_freq_bucket_populated(dense_run, dense_tables):
    _, summary = dense_run
    impressions = dense_tables[0]
    counts = impressions[col.USER_PURCHASE_COUNT].to_numpy()
    names = np.array(features.PURCHASE_FREQ_BUCKET_NAMES)[bucket_index(counts)]
    sample = counts[:: max(1, len(counts) // 2_000)]
    assert [features.purchase_freq_bucket(int(c)) for c in sample] == list(
        names[:: max(1, len(counts) // 2_000)]
    )
    shares = pd.Series(names).value_counts(normalize=True)
    for name, target in zip(features.PURCHASE_FREQ_BUCKET_NAMES, (0.5, 0.2, 0.2, 0.1)):
        assert abs(shares[name] - target) < 0.06, (name, shares[name])
        assert summary.bucket_shares[name] == pytest.approx(shares[name])


def test_conversion_signal_in_every_bucket(dense_tables):
    """The oracle (true CVR) ranks the counterfactual purchases in each bucket.

    Over the entire space, so every bucket has hundreds of positives; about
    0.82 is what the process gives, 0.5 would mean no signal.
    """
    impressions, _, truth = dense_tables
    y2 = truth[col.P_DACTION].to_numpy()
    cvr = y2 * truth[col.P_BUY_DACTION] + (1 - y2) * truth[col.P_BUY_OACTION]
    buckets = bucket_index(impressions[col.USER_PURCHASE_COUNT].to_numpy())
    bought = truth[col.PURCHASE_IF_CLICKED].to_numpy()
    for index, name in enumerate(features.PURCHASE_FREQ_BUCKET_NAMES):
        rows = buckets == index
        assert bought[rows].sum() > 300, name
        assert auc(cvr.to_numpy()[rows], bought[rows]) > 0.75, name


def test_paper_preset_is_sparse(tmp_path):
    summary = generate(
        tmp_path,
        preset="paper",
        num_impressions=60_000,
        days=1,
        chunk_size=30_000,
        **TINY,
    )
    assert summary.purchases / summary.impressions < 0.002
    assert summary.dactions > 5 * summary.purchases  # DAction: denser signal


def test_marketplace_preset_is_a_differently_shaped_world(tmp_path):
    """The second benchmark world: rates on target, and the slot biases
    clicks only while DAction says less about a purchase than in ``paper``."""
    summary = generate(
        tmp_path,
        preset="marketplace",
        num_impressions=60_000,
        days=1,
        chunk_size=30_000,
        **TINY,
    )
    assert summary.clicks / summary.impressions == pytest.approx(0.045, rel=0.1)
    impressions, _, truth = (read_parquet(tmp_path, table) for table in DATA_DIRS)
    y2 = truth[col.P_DACTION]
    cvr = y2 * truth[col.P_BUY_DACTION] + (1 - y2) * truth[col.P_BUY_OACTION]
    position = impressions[col.POSITION]
    assert np.corrcoef(position, truth[col.P_CLICK])[0, 1] < -0.15
    assert abs(np.corrcoef(position, cvr)[0, 1]) < 0.02  # paper: > 0.05
    ratio = truth[col.P_BUY_DACTION].mean() / truth[col.P_BUY_OACTION].mean()
    assert 1.5 < ratio < 4.0, ratio


# --- selection bias ----------------------------------------------------------
def test_selection_bias_is_real(dense_run, dense_tables):
    _, summary = dense_run
    impressions, _, truth = dense_tables
    y2 = truth[col.P_DACTION]
    cvr = y2 * truth[col.P_BUY_DACTION] + (1 - y2) * truth[col.P_BUY_OACTION]
    position = impressions[col.POSITION]
    # Position pushes clicks and conversions in opposite directions ...
    assert np.corrcoef(position, truth[col.P_CLICK])[0, 1] < -0.15
    assert np.corrcoef(position, cvr)[0, 1] > 0.05
    # ... and so does the latent clickbait: the clicked population converts
    # clearly worse than the entire impression space.
    assert summary.entire_space_cvr > 1.08 * summary.clicked_cvr
    assert cvr.mean() == pytest.approx(summary.entire_space_cvr)
    # DAction is purchase-related: y3 well above y4.
    assert truth[col.P_BUY_DACTION].mean() > 2 * truth[col.P_BUY_OACTION].mean()


# --- CSV ---------------------------------------------------------------------
def test_csv_and_parquet_hold_the_same_values(tmp_path):
    options = dict(num_impressions=3_000, days=2, seed=5, chunk_size=1_000, **TINY)
    generate(tmp_path / "pq", **options)
    generate(tmp_path / "csv", file_format="csv", **options)
    schemas = {
        features.IMPRESSIONS_DIR: col.IMPRESSION_SCHEMA,
        features.EVENTS_DIR: col.EVENT_SCHEMA,
    }
    for table, schema in schemas.items():
        parquet_files = data_files(tmp_path / "pq", table)
        csv_files = data_files(tmp_path / "csv", table)
        assert [
            f.with_suffix("").relative_to(tmp_path / "pq") for f in parquet_files
        ] == [f.with_suffix("").relative_to(tmp_path / "csv") for f in csv_files]
        for p_file, c_file in zip(parquet_files, csv_files):
            text = c_file.read_text(encoding="utf-8")
            assert text.splitlines()[0] == ",".join(schema.names)
            parsed = pacsv.read_csv(
                c_file,
                convert_options=pacsv.ConvertOptions(
                    column_types=schema, strings_can_be_null=False
                ),
            )
            assert parsed.equals(pq.read_table(p_file).replace_schema_metadata())
    assert not data_files(tmp_path / "csv", features.GROUNDTRUTH_DIR, "*.csv")


# --- bad rows ----------------------------------------------------------------
def _is_missing(frame: pd.DataFrame) -> pd.Series:
    """Rows with a null, or an empty string, in any column."""
    return frame.isna().any(axis=1) | (frame == "").any(axis=1)


def _is_out_of_range(frame: pd.DataFrame) -> pd.Series:
    """Complete rows with a value outside its column's bounds."""
    bounded = [
        c
        for c in features.IMPRESSION_COLUMNS
        if c.min_value is not None or c.max_value is not None
    ]
    return frame.apply(
        lambda row: any(
            pd.notna(row[c.name]) and c.violation(row[c.name]) is not None
            for c in bounded
        ),
        axis=1,
    )


def test_injected_bad_rows_counted_exactly_and_present(bad_run):
    out, summary, _, clean = bad_run
    injected = summary.injected
    kinds = set(features.IMPRESSION_REJECT_REASONS) | {features.EVENT_ORPHAN}
    assert set(injected) == kinds
    assert all(n > 0 for n in injected.values())
    impressions = read_parquet(out, features.IMPRESSIONS_DIR)
    events = read_parquet(out, features.EVENTS_DIR)
    missing = _is_missing(impressions)
    assert missing.sum() == injected[features.REJECT_MISSING_VALUE]
    complete = impressions[~missing]
    assert _is_out_of_range(complete).sum() == injected[features.REJECT_OUT_OF_RANGE]
    # Duplicates: same id, later ts than the kept first one.
    by_ts = complete.sort_values(col.TIMESTAMP, kind="stable")
    duplicated = by_ts[col.IMPRESSION_ID].duplicated(keep="first")
    assert duplicated.sum() == injected[features.REJECT_DUPLICATE_ID]
    # Unparsable rows: the side files, one non-numeric value per row.
    unparsable = read_parquet(out, features.IMPRESSIONS_DIR, unparsable=True)
    assert len(unparsable) == injected[features.REJECT_UNPARSABLE_VALUE]
    numeric = unparsable[list(col.NUMERIC_IMPRESSION_COLUMNS)]
    bad_cells = numeric.apply(lambda c: pd.to_numeric(c, errors="coerce").isna())
    assert (bad_cells.sum(axis=1) == 1).all()
    # Journeys: DAction or purchase without a click.
    sets = event_sets(events)
    no_click = (
        sets[features.EVENT_CART]
        | sets[features.EVENT_PURCHASE]
        | sets.get(features.EVENT_WISHLIST, set())
    ) - sets[features.EVENT_CLICK]
    all_ids = set(impressions[col.IMPRESSION_ID].dropna()) | set(
        unparsable[col.IMPRESSION_ID]
    )
    assert len(no_click & all_ids) == injected[features.REJECT_INCONSISTENT_JOURNEY]
    orphans = (~events[col.IMPRESSION_ID].isin(all_ids)).sum()
    assert orphans == injected[features.EVENT_ORPHAN]
    assert summary.impression_rows_written == len(impressions) + len(unparsable)
    assert summary.event_rows_written == len(events)
    assert summary.impressions == clean.impressions == 6_000


def test_bad_rows_in_csv(tmp_path):
    summary = generate(
        tmp_path,
        preset="dense",
        num_impressions=3_000,
        days=1,
        file_format="csv",
        bad_row_share=0.02,
        **TINY,
    )
    frames = [
        pd.read_csv(f, dtype=str, keep_default_na=False)
        for f in data_files(tmp_path, features.IMPRESSIONS_DIR)
    ]
    impressions = pd.concat(frames)
    assert len(impressions) == summary.impression_rows_written
    numeric = impressions[list(col.NUMERIC_IMPRESSION_COLUMNS)]
    filled = numeric != ""
    unparsable = (
        filled & numeric.apply(lambda c: pd.to_numeric(c, errors="coerce").isna())
    ).any(axis=1)
    assert unparsable.sum() == summary.injected[features.REJECT_UNPARSABLE_VALUE]
    assert (impressions == "").any(axis=1).sum() == summary.injected[
        features.REJECT_MISSING_VALUE
    ]


# --- memory, CLI, config -----------------------------------------------------
def _peak_traced_bytes(root: Path, rows: int) -> int:
    """Peak tracemalloc memory of one generation of ``rows`` rows."""
    tracemalloc.start()
    try:
        generate(
            root,
            num_impressions=rows,
            days=2,
            chunk_size=5_000,
            bad_row_share=0.01,
            **{**TINY, "calibration_size": 5_000},
        )
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_chunk(tmp_path):
    small = _peak_traced_bytes(tmp_path / "n", 15_000)
    large = _peak_traced_bytes(tmp_path / "4n", 60_000)
    assert large < 1.3 * small, (small, large)


def test_cli_prints_summary(tmp_path, capsys):
    code = cli_main(
        [
            "--output",
            str(tmp_path),
            "--preset",
            "paper",
            "--impressions",
            "2000",
            "--days",
            "1",
            "--seed",
            "4",
            "--format",
            "csv",
            "--bad-row-share",
            "0.01",
            "--num-users",
            "500",
            "--num-items",
            "300",
            "--calibration-size",
            "10000",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "click_rate" in printed and "preset paper" in printed
    assert data_files(tmp_path, features.IMPRESSIONS_DIR, "*.csv")
    assert cli_main(["--output", str(tmp_path), "--bad-row-share", "0.5"]) == 2


def test_invalid_options_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="num_impression"):
        generate(tmp_path, num_impression=10)
    with pytest.raises(ValueError, match="preset"):
        generate(tmp_path, preset="sparse")
    with pytest.raises(ValueError, match="file_format"):
        generate(tmp_path, file_format="json")
