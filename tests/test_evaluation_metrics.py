"""The custom TFMA metrics against sklearn and hand computations, run through TFMA.

One TFMA pipeline evaluates crafted cases, each a slice of the feature
``case``, so every test reads its own slice of a single (module-scoped) run.
The run is in-process and single-threaded: Beam's ``multi_threading`` direct
mode corrupted its own data channel here now and then ("Invalid
PaneInfoEncoding"), so the merging of accumulators that several workers
would cause is tested on the shared combiner directly instead.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from typing import Dict

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.metrics import roc_auc_score
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import metric_types
from tfx_bsl.arrow import table_util

from evaluation import metrics, metrics_group_auc, ranking, spill
from evaluation.sketch import ScoreSketch
from evaluation.results import load_metrics

SCORE, LABEL, WEIGHT, USER, CASE = "score", "label", "weight", "user", "case"
CASE_AUC, CASE_GAUC, CASE_TOPK, CASE_ECE, CASE_TINY = (
    "auc_ties",
    "gauc",
    "top_k",
    "ece",
    "tiny_scores",
)
PIPELINE_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
ECE_BINS = 5
GAUC_BY_IMPRESSIONS = "gauc_by_impressions"
BUILTIN_AUC = "builtin_auc"
# TFMA's own versions of MeanCalibration's figures, under names of their own.
BUILTIN_MEANS = {
    metrics.MEAN_LABEL_NAME: ("MeanLabel", "builtin_mean_label"),
    metrics.MEAN_PREDICTION_NAME: ("MeanPrediction", "builtin_mean_prediction"),
    metrics.CALIBRATION_NAME: ("Calibration", "builtin_calibration"),
}


# --- Crafted cases ---------------------------------------------------------------
def _frame(case: str, scores, labels, weights=None, users=None) -> pd.DataFrame:
    n = len(scores)
    return pd.DataFrame(
        {
            SCORE: np.asarray(scores, dtype=np.float32),
            LABEL: np.asarray(labels, dtype=np.int64),
            WEIGHT: np.ones(n) if weights is None else np.asarray(weights, float),
            USER: ["u0"] * n if users is None else list(users),
            CASE: [case] * n,
        }
    )


def _auc_case(rng) -> pd.DataFrame:
    """Many tied scores, fractional weights, some weight 0."""
    n = 400
    labels = rng.integers(0, 2, n)
    scores = np.round(np.clip(rng.normal(0.4 + 0.2 * labels, 0.2), 0, 1), 1)
    weights = rng.choice([0.0, 0.5, 1.0, 2.5], n)
    return _frame(CASE_AUC, scores, labels, weights)


# (user, score, label, weight).  u2 and u3 have one class only; u5's only
# positive has weight 0, so u5 counts unweighted but not weighted.
GAUC_ROWS = [
    ("u1", 0.9, 1, 1.0),
    ("u1", 0.5, 0, 3.0),
    ("u1", 0.7, 0, 1.0),
    ("u1", 0.5, 1, 1.0),
    ("u2", 0.3, 1, 1.0),
    ("u2", 0.2, 1, 1.0),
    ("u3", 0.8, 0, 1.0),
    ("u4", 0.1, 1, 1.0),
    ("u4", 0.4, 0, 0.0),
    ("u4", 0.6, 0, 1.0),
    ("u5", 0.9, 1, 0.0),
    ("u5", 0.2, 0, 1.0),
]
# By hand.  u1 pairs (pos, neg): (.9,.5) win, (.9,.7) win, (.5,.5) tie, (.5,.7)
# loss -> 2.5/4; weighted, the .5 negative weighs 3 -> (3 + 1 + 1.5) / 8.
# u4 -> 0 either way; u5 -> 1 unweighted.
GAUC_UNWEIGHTED = (0.625 + 0.0 + 1.0) / 3
GAUC_WEIGHTED = (0.6875 + 0.0) / 2
GAUC_BY_IMPRESSIONS_UNWEIGHTED = (4 * 0.625 + 3 * 0.0 + 2 * 1.0) / 9


def _gauc_case() -> pd.DataFrame:
    users, scores, labels, weights = zip(*GAUC_ROWS)
    return _frame(CASE_GAUC, scores, labels, weights, users)


def _top_k_case(rng) -> pd.DataFrame:
    """1000 examples of weight 1 and 5 of weight 0 scored above all of them.

    Top ten by score: 0.99 (+), 0.95 (+), 0.94 (-), 0.93 (+), four tied at
    0.9 (+, +, -, -), 0.85 (+), 0.84 (-); the other 990 score below 0.8 with
    20 positives: 26 positives in all.
    """
    head_scores = [0.99, 0.95, 0.94, 0.93, 0.9, 0.9, 0.9, 0.9, 0.85, 0.84]
    head_labels = [1, 1, 0, 1, 1, 1, 0, 0, 1, 0]
    tail_labels = np.zeros(990, dtype=int)
    tail_labels[rng.choice(990, 20, replace=False)] = 1
    excluded = 5
    scores = head_scores + list(rng.uniform(0, 0.8, 990)) + [1.0] * excluded
    labels = head_labels + list(tail_labels) + [0] * excluded
    weights = [1.0] * 1000 + [0.0] * excluded
    return _frame(CASE_TOPK, scores, labels, weights)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# Weighted (population = the 1000 of weight 1): k = 1, 6, 10.  At k = 6 the
# four examples tied at 0.9 share the 2 remaining slots: 2 positives * 1/2.
TOP_K_WEIGHTED = {0.001: (1, 1), 0.006: (3 + 1, 6), 0.01: (6, 10)}  # (TP, k)
# Unweighted (1005 examples): k = ceil(1.005) = 2, ceil(6.03) = 7, 11.  The
# five negatives tied at 1.0 come first: at k = 2 they share both slots.
TOP_K_UNWEIGHTED = {0.001: (0, 2), 0.006: (2, 7), 0.01: (3 + 1, 11)}
TOP_K_POSITIVES = 26

# (score, label, weight), 5 bins [0, .2) [.2, .4) [.4, .6) [.6, .8) [.8, 1].
# Edges go up (0.2 -> bin 1), 1.0 goes to the last bin, bin 2 stays empty.
ECE_ROWS = [
    (0.1, 0, 1.0),
    (0.15, 1, 1.0),
    (0.2, 0, 1.0),
    (0.3, 0, 1.0),
    (0.6, 1, 1.0),
    (0.7, 0, 0.0),  # in the unweighted figure only
    (0.8, 1, 1.0),
    (0.9, 1, 1.0),
    (1.0, 0, 1.0),
]
# By hand: n_b * |mean pred - rate| = 2 * |.125 - .5| + 2 * |.25 - 0| + 1 * |.6 - 1|
# + 3 * |.9 - 2/3| = .75 + .5 + .4 + .7 over 8 examples; unweighted, bin 3 holds
# .6 (+) and .7 (-): 2 * |.65 - .5| = .3, over 9.
ECE_WEIGHTED = (0.75 + 0.5 + 0.4 + 0.7) / 8
ECE_UNWEIGHTED = (0.75 + 0.5 + 0.3 + 0.7) / 9
ECE_BIN_WEIGHT = [2, 2, 0, 1, 3]
ECE_BIN_MEAN_PREDICTION = [0.125, 0.25, np.nan, 0.6, 0.9]
ECE_BIN_OBSERVED_RATE = [0.5, 0.0, np.nan, 1.0, 2 / 3]


def _ece_case() -> pd.DataFrame:
    scores, labels, weights = zip(*ECE_ROWS)
    return _frame(CASE_ECE, scores, labels, weights)


def _tiny_scores_case(rng) -> pd.DataFrame:
    """CTCVR-like scores, almost all below 1e-4 (TFMA's first AUC bucket)."""
    n = 1500
    labels = (rng.uniform(size=n) < 0.05).astype(int)
    scores = np.exp(rng.normal(-12.0, 1.5, n) + 1.5 * labels)
    return _frame(CASE_TINY, scores, labels)


def _all_cases() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    frame = pd.concat(
        [
            _auc_case(rng),
            _gauc_case(),
            _top_k_case(rng),
            _ece_case(),
            _tiny_scores_case(rng),
        ],
        ignore_index=True,
    )
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)


# --- One TFMA run --------------------------------------------------------------------
def _metric(cls: type, **config) -> tfma.MetricConfig:
    return tfma.MetricConfig(
        class_name=cls.__name__, module=cls.__module__, config=json.dumps(config)
    )


def _eval_config(spill_dir: str = "") -> tfma.EvalConfig:
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                prediction_key=SCORE, label_key=LABEL, example_weight_key=WEIGHT
            )
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                example_weights=tfma.ExampleWeightOptions(
                    weighted=True, unweighted=True
                ),
                metrics=[
                    _metric(metrics.HistogramAUC),
                    _metric(metrics.GroupAUC, group_key=USER, spill_dir=spill_dir),
                    _metric(
                        metrics.GroupAUC,
                        name=GAUC_BY_IMPRESSIONS,
                        group_key=USER,
                        weight_by_impressions=True,
                        spill_dir=spill_dir,
                    ),
                    _metric(metrics.TopKPrecisionRecall),
                    _metric(metrics.ExpectedCalibrationError, num_bins=ECE_BINS),
                    _metric(metrics.PositiveCount),
                    _metric(metrics.MeanCalibration),
                    *(
                        tfma.MetricConfig(
                            class_name=class_name, config=json.dumps({"name": name})
                        )
                        for class_name, name in BUILTIN_MEANS.values()
                    ),
                    tfma.MetricConfig(
                        class_name="AUC",
                        config=json.dumps(
                            {"name": BUILTIN_AUC, "num_thresholds": 10000}
                        ),
                    ),
                ],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[CASE])],
    )


def _record_batch(frame: pd.DataFrame) -> pa.RecordBatch:
    batch = pa.RecordBatch.from_pandas(
        frame.reset_index(drop=True), preserve_index=False
    )
    return table_util.CanonicalizeRecordBatch(batch)


@pytest.fixture(scope="module")
def run():
    """(frame, {slice: {MetricKey: value}}, spill dir) of one TFMA run over
    all cases, GAUC spilling its rows every 100 (the overall slice's 3,500
    rows into 35 files)."""
    frame = _all_cases()
    output_path = tempfile.mkdtemp(prefix="tfma_custom_metrics_")
    # Made by the first spill: its existence says the run spilled.
    spill_dir = os.path.join(tempfile.mkdtemp(prefix="gauc_spill_"), "spill")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spill, "SPILL_ROWS", 100)
        with beam.Pipeline(options=PipelineOptions(PIPELINE_ARGS)) as pipeline:
            _ = (
                pipeline
                | beam.Create([_record_batch(frame)])
                | tfma.ExtractEvaluateAndWriteResults(
                    eval_config=_eval_config(spill_dir), output_path=output_path
                )
            )
    return frame, load_metrics(output_path), spill_dir


def _values(run, case: str, weighted: bool) -> Dict[str, object]:
    """The slice's metrics by name, for one weighting."""
    _, by_slice, _ = run
    slice_key = () if case is None else ((CASE, case),)
    return {
        key.name: value
        for key, value in by_slice[slice_key].items()
        if key.example_weighted == weighted
    }


def _case_frame(run, case: str) -> pd.DataFrame:
    frame, _, _ = run
    return frame if case is None else frame[frame[CASE] == case]


# --- Tests ---------------------------------------------------------------------------
def _metric_inputs(row: pd.Series) -> metric_types.StandardMetricInputs:
    return metric_types.StandardMetricInputs(
        labels=np.array([row[LABEL]]),
        predictions=np.array([row[SCORE]]),
        example_weights=np.array([row[WEIGHT]]),
        features={USER: np.array([row[USER]])},
    )


def _group_auc_combiner(weighted: bool, spill_dir: str, by_impressions: bool = False):
    (computation,) = metrics_group_auc._group_auc_computations(
        metrics._KeyArgs(None, "", "", None, None, None, weighted),
        group_key=USER,
        weight_by_impressions=by_impressions,
        spill_dir=spill_dir,
    )
    return computation.combiner


def _spill_files(spill_dir) -> list:
    return sorted(p.name for p in spill_dir.iterdir()) if spill_dir.exists() else []


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("by_impressions", [False, True])
def test_gauc_split_across_workers_and_spilled_is_the_exact_gauc(
    weighted, by_impressions, tmp_path, monkeypatch
):
    """What several workers do: fill accumulators apart (each spilling its
    rows to files every 40 rows), compact some, merge; the GAUC is the one
    ``ranking.group_auc`` computes on all rows at once, and the files go."""
    monkeypatch.setattr(spill, "SPILL_ROWS", 40)
    spill_dir = tmp_path / "spill"
    rng = np.random.default_rng(5)
    n = 1200
    frame = pd.DataFrame(
        {
            USER: rng.integers(0, 60, n).astype(str),
            SCORE: np.round(rng.uniform(0, 1, n), 2),  # ties within users
            LABEL: (rng.uniform(0, 1, n) < 0.3).astype(int),
            WEIGHT: rng.choice([0.0, 0.5, 1.0, 2.0], n),
        }
    )
    combiner = _group_auc_combiner(weighted, str(spill_dir), by_impressions)
    accumulators = []
    for i, part in enumerate(np.array_split(frame, 3)):
        accumulator = combiner.create_accumulator()
        for _, row in part.iterrows():
            accumulator = combiner.add_input(accumulator, _metric_inputs(row))
            assert accumulator.held < 40
        # Beam compacts before a shuffle; the last part arrives uncompacted.
        accumulators.append(combiner.compact(accumulator) if i < 2 else accumulator)
    merged = combiner.merge_accumulators(
        [accumulators[0], combiner.create_accumulator(), *accumulators[1:]]
    )
    kept = frame[frame[WEIGHT] > 0] if weighted else frame
    assert len(_spill_files(spill_dir)) == len(merged.files) >= len(kept) // 40
    gauc, users = combiner.extract_output(merged).values()

    want = ranking.group_auc(
        kept[SCORE].to_numpy(),
        kept[LABEL].to_numpy(),
        kept[USER].to_numpy(),
        kept[WEIGHT].to_numpy() if weighted else None,
        weight_by_impressions=by_impressions,
    )
    assert users == want.num_groups > 50
    assert gauc == pytest.approx(want.gauc, abs=1e-12)
    assert _spill_files(spill_dir) == []


def _rising_rows(count: int, users: int):
    """Inputs of rising score and alternating label, the users in turn."""
    for i in range(count):
        row = {SCORE: i / count, LABEL: i % 2, WEIGHT: 1.0, USER: i % users}
        yield _metric_inputs(pd.Series(row))


def test_what_a_gauc_accumulator_shuffles_does_not_grow_with_its_rows(
    tmp_path, monkeypatch
):
    """Past SPILL_ROWS, and past SPILL_BEFORE_SHUFFLE when Beam compacts
    before a shuffle, the rows go to files: the pickled accumulator (what
    Beam moves between workers) holds paths and a few rows, and the Python
    tuples stay under COMPACT_EVERY."""
    monkeypatch.setattr(spill, "SPILL_ROWS", 1000)
    monkeypatch.setattr(spill, "SPILL_BEFORE_SHUFFLE", 100)
    combiner = _group_auc_combiner(False, str(tmp_path))
    accumulator = combiner.create_accumulator()
    for element in _rising_rows(5250, users=7):
        accumulator = combiner.add_input(accumulator, element)
        assert len(accumulator.memory.rows) < spill.COMPACT_EVERY
    assert len(accumulator.files) == 5 and accumulator.held == 250
    shuffled = pickle.dumps(combiner.compact(accumulator))
    assert len(accumulator.files) == 6 and accumulator.held == 0
    assert len(shuffled) < 2000  # six paths; 250 rows took 3,250 bytes
    for i in range(99):  # too few to be worth a file
        row = pd.Series({SCORE: 0.5, LABEL: 0, WEIGHT: 1.0, USER: 0})
        accumulator = combiner.add_input(accumulator, _metric_inputs(row))
    combiner.compact(accumulator)
    assert len(accumulator.files) == 6 and accumulator.held == 99
    gauc, users = combiner.extract_output(accumulator).values()
    # Within a user, scores rise with i and labels alternate: each user's
    # negatives and positives interleave almost evenly.
    assert users == 7 and 0.45 < gauc < 0.55


def test_spilled_rows_read_twice_fail_with_a_clear_error(tmp_path, monkeypatch):
    """The files go once a slice's GAUC is computed; extracting the same
    accumulator again (TFMA's confidence intervals would) says why."""
    monkeypatch.setattr(spill, "SPILL_ROWS", 10)
    combiner = _group_auc_combiner(False, str(tmp_path))
    accumulator = combiner.create_accumulator()
    for element in _rising_rows(25, users=3):
        accumulator = combiner.add_input(accumulator, element)
    paths = list(accumulator.files)
    copy = pickle.loads(pickle.dumps(accumulator))
    combiner.extract_output(accumulator)
    with pytest.raises(FileNotFoundError, match="read once and deleted"):
        combiner.extract_output(copy)
    assert paths and not any(os.path.exists(p) for p in paths)


def test_group_hashes_are_stable_across_processes_and_encodings():
    here = [metrics.group_hash(v) for v in (b"u-1", "u-1", "u-2", 17, "17")]
    assert here[0] == here[1] and here[3] == here[4]
    assert len({here[0], here[2], here[3]}) == 3
    # Python's own hash of str and bytes changes from process to process.
    code = "from evaluation import metrics; print(metrics.group_hash(b'u-1'))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert int(other.stdout.split()[-1]) == here[0]


@pytest.mark.parametrize("case", [CASE_AUC, CASE_TINY, CASE_GAUC, None])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogram_auc_is_within_1e4_of_sklearn(run, case, weighted):
    frame = _case_frame(run, case)
    weights = frame[WEIGHT] if weighted else None
    expected = roc_auc_score(frame[LABEL], frame[SCORE], sample_weight=weights)
    assert _values(run, case, weighted)[metrics.AUC_NAME] == pytest.approx(
        expected, abs=1e-4
    )


def test_builtin_auc_is_not_exact_on_tiny_scores(run):
    """Why HistogramAUC: TFMA's bucketed AUC ties nearly every CTCVR-sized score."""
    frame = _case_frame(run, CASE_TINY)
    assert (frame[SCORE] < 1e-4).mean() > 0.9
    exact = roc_auc_score(frame[LABEL], frame[SCORE])
    values = _values(run, CASE_TINY, weighted=False)
    assert values[metrics.AUC_NAME] == pytest.approx(exact, abs=1e-4)
    assert abs(values[BUILTIN_AUC] - exact) > 0.05


def test_builtin_auc_error_is_small_on_spread_scores(run):
    """The documented error of the built-in AUC at 10,000 thresholds elsewhere."""
    values = _values(run, CASE_AUC, weighted=True)
    assert values[BUILTIN_AUC] == pytest.approx(
        values[metrics.AUC_NAME], abs=1e-3
    )


@pytest.mark.parametrize(
    "weighted, gauc, by_impressions, users",
    [
        (False, GAUC_UNWEIGHTED, GAUC_BY_IMPRESSIONS_UNWEIGHTED, 3),
        (True, GAUC_WEIGHTED, None, 2),
    ],
)
def test_group_auc_by_hand(run, weighted, gauc, by_impressions, users):
    values = _values(run, CASE_GAUC, weighted)
    assert values[metrics.GROUP_AUC_NAME] == pytest.approx(gauc, abs=1e-12)
    assert values[metrics.group_auc_count_name()] == users
    if by_impressions is not None:
        assert values[GAUC_BY_IMPRESSIONS] == pytest.approx(by_impressions, abs=1e-12)


def test_gauc_spills_in_a_tfma_run_and_leaves_no_file(run):
    """The module's run spilled (the directory is made by the first spill),
    and every file was deleted once its slice's GAUC was computed."""
    _, _, spill_dir = run
    assert os.path.isdir(spill_dir) and os.listdir(spill_dir) == []


def _sklearn_gauc(frame: pd.DataFrame, weighted: bool) -> float:
    aucs = []
    for _, user in (
        frame[frame[WEIGHT] > 0].groupby(USER) if weighted else frame.groupby(USER)
    ):
        if user[LABEL].nunique() == 2:
            weights = user[WEIGHT] if weighted else None
            aucs.append(roc_auc_score(user[LABEL], user[SCORE], sample_weight=weights))
    return float(np.mean(aucs))


@pytest.mark.parametrize("weighted", [False, True])
def test_group_auc_matches_sklearn_per_user(run, weighted):
    frame = _case_frame(run, CASE_GAUC)
    values = _values(run, CASE_GAUC, weighted)
    assert values[metrics.GROUP_AUC_NAME] == pytest.approx(
        _sklearn_gauc(frame, weighted), abs=1e-12
    )


@pytest.mark.parametrize(
    "weighted, expected", [(True, TOP_K_WEIGHTED), (False, TOP_K_UNWEIGHTED)]
)
def test_top_k_ties_and_zero_weights_by_hand(run, weighted, expected):
    values = _values(run, CASE_TOPK, weighted)
    for fraction, (tp, k) in expected.items():
        precision, recall = tp / k, tp / TOP_K_POSITIVES
        for kind, value in (
            (metrics.PRECISION, precision),
            (metrics.RECALL, recall),
            (metrics.F1, _f1(precision, recall)),
        ):
            name = metrics.top_fraction_key_name(kind, fraction)
            assert values[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize(
    "weighted, expected", [(True, ECE_WEIGHTED), (False, ECE_UNWEIGHTED)]
)
def test_ece_by_hand(run, weighted, expected):
    assert _values(run, CASE_ECE, weighted)[metrics.ECE_NAME] == pytest.approx(
        expected, abs=1e-6
    )


def test_ece_bins_for_reliability_plots(run):
    values = _values(run, CASE_ECE, weighted=True)
    weight, mean_prediction, observed_rate = (
        values[name] for name in metrics.ece_bin_names()
    )
    np.testing.assert_allclose(weight, ECE_BIN_WEIGHT)
    np.testing.assert_allclose(mean_prediction, ECE_BIN_MEAN_PREDICTION, atol=1e-6)
    np.testing.assert_allclose(observed_rate, ECE_BIN_OBSERVED_RATE, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_positive_count(run, weighted):
    frame = _case_frame(run, None)
    weights = frame[WEIGHT] if weighted else 1.0
    expected = float(np.sum(frame[LABEL] * weights))
    assert _values(run, None, weighted)[metrics.POSITIVE_COUNT_NAME] == pytest.approx(
        expected
    )


# --- The arithmetic alone (no Beam) ---------------------------------------------------
def test_ranking_functions_match_sklearn_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(4, 80))
        scores = rng.integers(0, 6, n) / 5.0  # many ties
        labels = rng.integers(0, 2, n)
        weights = rng.uniform(0.1, 3.0, n)
        users = rng.integers(0, 5, n)
        if labels.min() == labels.max():
            continue
        assert ranking.exact_auc(scores, labels, weights) == pytest.approx(
            roc_auc_score(labels, scores, sample_weight=weights), abs=1e-12
        )
        per_user = [
            roc_auc_score(
                labels[users == u],
                scores[users == u],
                sample_weight=weights[users == u],
            )
            for u in np.unique(users)
            if len(set(labels[users == u])) == 2
        ]
        result = ranking.group_auc(scores, labels, users, weights)
        assert result.num_groups == len(per_user)
        if per_user:
            assert result.gauc == pytest.approx(np.mean(per_user), abs=1e-12)


def test_top_fraction_cutoff_rounding():
    assert (
        ranking.top_fraction_cutoff(0.006, 1000) == 6
    )  # 0.006 * 1000 = 6.000000000000001
    assert ranking.top_fraction_cutoff(0.001, 500) == 1  # never 0 for a non-empty set
    assert ranking.top_fraction_cutoff(0.01, 1001) == 11
    assert ranking.top_fraction_cutoff(0.01, 0) == 0
    with pytest.raises(ValueError):
        ranking.top_fraction_cutoff(0.0, 10)


def test_group_auc_needs_the_group_feature():
    element = metric_types.StandardMetricInputs({constants.FEATURES_KEY: {}})
    with pytest.raises(ValueError, match=USER):
        metrics._group_value(element, USER)


def test_empty_or_single_class_slices_are_nan():
    assert np.isnan(ranking.exact_auc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert np.isnan(ranking.exact_auc(np.zeros(0), np.zeros(0)))
    result = ranking.group_auc(np.array([0.1]), np.array([0]), ["u"])
    assert np.isnan(result.gauc) and result.num_groups == 0
    (top,) = ranking.top_fraction_precision_recall(np.zeros(0), np.zeros(0), [0.01])
    assert np.isnan(top.precision) and np.isnan(top.recall)


def test_auc_standard_error_matches_the_spread_over_label_draws():
    """Hanley-McNeil's SE against the AUC's spread over 400 fresh samples."""
    rng = np.random.default_rng(3)
    positives, negatives = 60, 3_000
    aucs = []
    for _ in range(400):
        scores = np.concatenate(
            [rng.normal(1.2, 1.0, positives), rng.normal(0.0, 1.0, negatives)]
        )
        labels = np.concatenate([np.ones(positives), np.zeros(negatives)])
        aucs.append(ranking.exact_auc(scores, labels))
    predicted = ranking.auc_standard_error(np.mean(aucs), positives, negatives)
    assert predicted == pytest.approx(np.std(aucs), rel=0.15)
    assert np.isnan(ranking.auc_standard_error(0.8, 0, 100))


@pytest.mark.parametrize("case", [CASE_AUC, CASE_ECE, CASE_TINY, None])
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_calibration_by_hand_and_as_tfma_computes_it(run, case, weighted):
    frame = _case_frame(run, case)
    weights = frame[WEIGHT].to_numpy() if weighted else np.ones(len(frame))
    label_sum = float(np.dot(weights, frame[LABEL]))
    prediction_sum = float(np.dot(weights, frame[SCORE].astype(np.float64)))
    expected = {
        metrics.MEAN_LABEL_NAME: label_sum / weights.sum(),
        metrics.MEAN_PREDICTION_NAME: prediction_sum / weights.sum(),
        metrics.CALIBRATION_NAME: prediction_sum / label_sum,
    }
    values = _values(run, case, weighted)
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, rel=1e-9), name
        assert values[name] == pytest.approx(
            values[BUILTIN_MEANS[name][1]], rel=1e-6
        ), name


def test_mean_calibration_is_nan_without_positives():
    empty_labels = ScoreSketch.of(
        np.array([0.2, 0.4]), np.zeros(2), np.array([1.0, 3.0])
    )
    mean_label, mean_prediction, calibration = metrics._mean_calibration_values(
        empty_labels
    )
    assert mean_label == 0.0
    assert mean_prediction == pytest.approx(0.35)
    assert np.isnan(calibration)


def test_binned_calibration_folds_out_of_range_scores_into_the_end_bins():
    # 4 bins [0, .25) [.25, .5) [.5, .75) [.75, 1]; -0.5 -> bin 0, 1.0 and 3 -> bin 3.
    scores = np.array([-0.5, 0.1, 0.25, 0.5, 0.74, 1.0, 3.0])
    labels = np.array([0, 1, 1, 0, 1, 1, 0])
    weights = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0])
    bins = ranking.binned_calibration(scores, labels, weights, num_bins=4)
    np.testing.assert_allclose(bins.weight, [2.0, 2.0, 2.0, 1.5])
    np.testing.assert_allclose(bins.mean_prediction, [-0.2, 0.25, 0.62, 3.5 / 1.5])
    np.testing.assert_allclose(bins.observed_rate, [0.5, 1.0, 0.5, 0.5 / 1.5])
    with pytest.raises(ValueError, match="num_bins"):
        ranking.binned_calibration(scores, labels, weights, num_bins=0)


def test_gathered_columns_are_narrowed_without_changing_a_value():
    rng = np.random.default_rng(0)
    columns = {
        "weights of 1": np.ones(100),
        "labels": rng.integers(0, 2, 100).astype(np.float64),
        "float32 scores": rng.uniform(0, 1, 100).astype(np.float32).astype(np.float64),
        "float64 scores": rng.uniform(0, 1, 100),
        "with a NaN": np.append(rng.uniform(0, 1, 99), np.nan),
        "empty": np.zeros(0),
    }
    for name, column in columns.items():
        narrow = spill._narrowest(column)
        np.testing.assert_array_equal(spill._widened(narrow), column, name)
    assert isinstance(spill._narrowest(columns["weights of 1"]), spill._Repeated)
    assert spill._narrowest(columns["labels"]).dtype == np.uint8
    assert spill._narrowest(columns["float32 scores"]).dtype == np.float32
    assert spill._narrowest(columns["float64 scores"]).dtype == np.float64


def test_a_gauc_row_takes_13_bytes_in_a_chunk():
    accumulator = spill._RowsAccumulator(3, grouped=True)
    scores = np.random.default_rng(1).uniform(0, 1, 1000).astype(np.float32)
    for i, score in enumerate(scores):
        accumulator.add((float(score), float(i % 2), 1.0), i)
    (chunk,) = accumulator.compact().chunks
    stored = sum(c.nbytes for c in chunk.columns if isinstance(c, np.ndarray))
    assert stored + chunk.groups.nbytes == 13 * 1000
