"""The blessing's tests: their arithmetic against scipy, brute force and hand
values, and the two TFMA metrics run through TFMA with thresholds.

The TFMA runs are model-less: each ModelSpec reads its scores from a column
of the crafted examples (``prediction_key``), so the candidate and the
baseline of a paired comparison are two columns of the same rows.  They run
in-process and single-threaded, as tests/test_evaluation_metrics.py explains.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from typing import Dict, Tuple

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.special
import scipy.stats
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.metrics import roc_auc_score
from tensorflow_model_analysis.metrics import metric_types
from tfx_bsl.arrow import table_util

from evaluation import metrics, metrics_paired, ranking, spill
from evaluation.results import load_metrics

PIPELINE_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
CANDIDATE, BASELINE, LABEL, WEIGHT, CASE = "cand", "base", "label", "weight", "case"
# Cases (slices of one run): the candidate is the baseline itself, the
# baseline's scores shuffled across examples, a noisier version of it, or
# a constant.
SAME, SHUFFLED, NOISIER, CONSTANT = "same", "shuffled", "noisier", "constant"
CASES = (SAME, SHUFFLED, NOISIER, CONSTANT)
SKILL_ALPHA = 0.01
REGRESSION_ALPHA = 0.025
NORMAL = statistics.NormalDist()


# --- The skill test's arithmetic --------------------------------------------------
@pytest.mark.parametrize("positives, negatives, shift", [(20, 30, 0.4), (7, 300, 0.8)])
def test_chance_p_value_matches_scipy_mann_whitney(positives, negatives, shift):
    """Untied scores: scipy's asymptotic one-sided test without continuity."""
    rng = np.random.default_rng(positives)
    scores = rng.normal(size=positives + negatives)
    scores[:positives] += shift
    labels = np.r_[np.ones(positives), np.zeros(negatives)]
    expected = scipy.stats.mannwhitneyu(
        scores[:positives],
        scores[positives:],
        alternative="greater",
        method="asymptotic",
        use_continuity=False,
    ).pvalue
    p_value = ranking.auc_skill_p_value(scores, labels)
    assert p_value == pytest.approx(expected, rel=1e-9)


def test_chance_p_value_by_hand():
    # AUC 0.75 with 3 positives and 2 negatives: z = 0.25 / sqrt(6 / 72).
    z = 0.25 / math.sqrt(6.0 / 72.0)
    assert ranking.auc_chance_p_value(0.75, 3, 2) == pytest.approx(
        1.0 - NORMAL.cdf(z), abs=1e-12
    )
    assert ranking.auc_chance_p_value(0.75, 3, 2) == pytest.approx(0.19323, abs=1e-5)
    # A constant score ties every pair: AUC 0.5, p = 0.5.
    labels = np.array([1, 0, 0, 1, 0])
    assert ranking.auc_skill_p_value(np.full(5, 0.3), labels) == 0.5
    # No positives: nothing to test.
    assert math.isnan(ranking.auc_chance_p_value(0.7, 0, 10))


def test_chance_p_value_counts_weights_as_frequencies():
    rng = np.random.default_rng(5)
    scores, labels = rng.normal(size=40), rng.integers(0, 2, 40)
    weights = rng.integers(1, 4, 40).astype(float)
    repeated = ranking.auc_skill_p_value(
        np.repeat(scores, weights.astype(int)), np.repeat(labels, weights.astype(int))
    )
    assert ranking.auc_skill_p_value(scores, labels, weights) == pytest.approx(
        repeated, abs=1e-12
    )


# --- DeLong's paired test ---------------------------------------------------------
def _brute_force_delong(
    scores: np.ndarray, labels: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) literally: every (positive, negative) pair, 0/1 labels."""
    components10, components01 = [], []
    for model_scores in scores:
        x = model_scores[labels == 1][:, None]
        y = model_scores[labels == 0][None, :]
        psi = (x > y) + 0.5 * (x == y)
        components10.append(psi.mean(axis=1))
        components01.append(psi.mean(axis=0))
    aucs = np.array([c.mean() for c in components10])
    covariance = np.cov(components10) / np.sum(labels == 1) + np.cov(
        components01
    ) / np.sum(labels == 0)
    return aucs, covariance


def test_delong_matches_brute_force_with_ties_and_weights():
    """Integer weights are repeated examples; fractional labels split examples."""
    rng = np.random.default_rng(8)
    for _ in range(30):
        n = int(rng.integers(6, 60))
        labels = rng.integers(0, 2, n)
        if labels.min() == labels.max():
            continue
        weights = rng.integers(1, 4, n)
        scores = np.stack(
            [
                np.round(labels + rng.normal(0, 1, n), 1),  # many ties
                np.round(labels + rng.normal(0, 2, n), 1),
                rng.integers(0, 3, n).astype(float),
            ]
        )
        aucs, covariance = ranking.delong_covariance(scores, labels, weights)
        expected_aucs, expected_covariance = _brute_force_delong(
            np.repeat(scores, weights, axis=1), np.repeat(labels, weights)
        )
        np.testing.assert_allclose(aucs, expected_aucs, atol=1e-12)
        np.testing.assert_allclose(covariance, expected_covariance, atol=1e-12)
        for model_scores, auc in zip(scores, aucs):
            assert auc == pytest.approx(
                roc_auc_score(labels, model_scores, sample_weight=weights), abs=1e-12
            )

    # Label 0.5 with weight 2: one positive and one negative at that score.
    scores = np.array([[0.2, 0.7, 0.4, 0.9], [0.3, 0.1, 0.8, 0.6]])
    aucs, covariance = ranking.delong_covariance(
        scores, np.array([0.0, 1.0, 0.5, 1.0]), np.array([2.0, 1.0, 2.0, 1.0])
    )
    expanded_labels = np.array([0, 0, 1, 1, 0, 1])
    expanded = scores[:, [0, 0, 1, 2, 2, 3]]
    expected_aucs, expected_covariance = _brute_force_delong(expanded, expanded_labels)
    np.testing.assert_allclose(aucs, expected_aucs, atol=1e-12)
    np.testing.assert_allclose(covariance, expected_covariance, atol=1e-12)


def test_paired_difference_by_hand():
    """3 positives, 2 negatives, worked through DeLong's components.

    Candidate: positives .9 .6 .3, negatives .5 .2: V10 = 1, 1, 1/2 and
    V01 = 2/3, 1; AUC 5/6.  Baseline: positives .7 .4 .5, negatives .6 .5
    (a tie): V10 = 1, 0, 1/4 and V01 = 1/3, 1/2; AUC 5/12.  Differences:
    V10 0, 1, 1/4 (sample variance 39/144), V01 1/3, 1/2 (2/144), so
    Var = 39/144 / 3 + 2/144 / 2 = 7/72.
    """
    candidate = np.array([0.9, 0.6, 0.3, 0.5, 0.2])
    baseline = np.array([0.7, 0.4, 0.5, 0.6, 0.5])
    labels = np.array([1, 1, 1, 0, 0])
    result = ranking.paired_auc_difference(candidate, baseline, labels)
    assert result.candidate_auc == pytest.approx(5 / 6, abs=1e-12)
    assert result.baseline_auc == pytest.approx(5 / 12, abs=1e-12)
    assert result.delta == pytest.approx(5 / 12, abs=1e-12)
    assert result.standard_error == pytest.approx(math.sqrt(7 / 72), abs=1e-12)
    z = (5 / 12) / math.sqrt(7 / 72)
    assert result.regression_p_value() == pytest.approx(NORMAL.cdf(z), abs=1e-12)
    assert result.regression_p_value(margin=0.1) == pytest.approx(
        NORMAL.cdf((5 / 12 + 0.1) / math.sqrt(7 / 72)), abs=1e-12
    )
    low, high = result.interval()
    assert (high - low) / 2 == pytest.approx(1.959964 * math.sqrt(7 / 72), rel=1e-6)


def test_identical_scores_tie_at_half():
    rng = np.random.default_rng(1)
    scores, labels = rng.normal(size=50), rng.integers(0, 2, 50)
    result = ranking.paired_auc_difference(scores, scores, labels)
    assert result.delta == 0.0 and result.standard_error == 0.0
    assert result.regression_p_value() == 0.5
    assert result.regression_p_value(margin=0.01) == 1.0
    assert result.interval() == (0.0, 0.0)


def test_regression_p_value_edge_cases():
    certain_loss = ranking.PairedAUCDifference(0.6, 0.7, -0.1, 0.0)
    assert certain_loss.regression_p_value() == 0.0
    assert certain_loss.regression_p_value(margin=0.2) == 1.0
    one_class = ranking.paired_auc_difference(
        np.array([0.1, 0.2]), np.array([0.3, 0.1]), np.array([1, 1])
    )
    assert math.isnan(one_class.delta) and math.isnan(one_class.regression_p_value())
    # One positive: AUCs, but no spread to estimate a variance from.
    single = ranking.paired_auc_difference(
        np.array([0.9, 0.2, 0.1]), np.array([0.1, 0.2, 0.3]), np.array([1, 0, 0])
    )
    assert single.delta == pytest.approx(1.0)
    assert math.isnan(single.standard_error)


def test_delong_standard_error_matches_the_spread_over_draws():
    """Two correlated models of one signal over 400 fresh eval draws: the mean
    DeLong SE matches the spread of the AUC change, and when the models are
    equally good the test refuses about alpha of the draws."""
    rng = np.random.default_rng(2)
    positives, negatives, draws = 80, 800, 400
    labels = np.r_[np.ones(positives), np.zeros(negatives)]
    results = {"unequal": [], "equal": []}
    for _ in range(draws):
        signal = labels * 1.0 + rng.normal(0, 1, len(labels))
        first = signal + rng.normal(0, 0.5, len(labels))
        second = signal + rng.normal(0, 0.8, len(labels))
        twin = signal + rng.normal(0, 0.5, len(labels))
        results["unequal"].append(ranking.paired_auc_difference(first, second, labels))
        results["equal"].append(ranking.paired_auc_difference(first, twin, labels))
    deltas = np.array([r.delta for r in results["unequal"]])
    assert deltas.mean() > 0.01  # the less noisy model is better
    mean_se = np.mean([r.standard_error for r in results["unequal"]])
    assert mean_se == pytest.approx(deltas.std(ddof=1), rel=0.15)
    refused = np.mean(
        [r.regression_p_value() < REGRESSION_ALPHA for r in results["equal"]]
    )
    assert refused < 3 * REGRESSION_ALPHA  # about alpha, binomial noise allowed


# --- Through TFMA --------------------------------------------------------------------
def _probability(logits: np.ndarray) -> np.ndarray:
    """Probabilities whose logits are multiples of 0.01: distinct scores lie
    in distinct bins of the paired test's sketches, so its figures are the
    exact ones (equal scores are ties either way)."""
    return scipy.special.expit(np.round(logits, 2))


def _case(case: str, rng, n: int = 600) -> pd.DataFrame:
    labels = rng.integers(0, 2, n)
    weights = rng.choice([0.0, 1.0, 2.0], n, p=[0.2, 0.5, 0.3])
    logits = labels + rng.normal(0, 0.7, n)
    baseline = _probability(logits)
    candidate = {
        SAME: baseline,
        SHUFFLED: rng.permutation(baseline),
        NOISIER: _probability(logits + rng.normal(0, 0.6, n)),
        CONSTANT: np.full(n, 0.25),
    }[case]
    return pd.DataFrame(
        {
            CANDIDATE: candidate.astype(np.float32),
            BASELINE: baseline.astype(np.float32),
            LABEL: labels,
            WEIGHT: weights,
            CASE: [case] * n,
        }
    )


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(20250101)
    frame = pd.concat([_case(c, rng) for c in CASES], ignore_index=True)
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _model_spec(name: str, column: str, is_baseline: bool = False) -> tfma.ModelSpec:
    return tfma.ModelSpec(
        name=name,
        prediction_key=column,
        label_key=LABEL,
        example_weight_key=WEIGHT,
        is_baseline=is_baseline,
    )


def _metric(metric: tfma.metrics.Metric, lower=None, upper=None) -> tfma.MetricConfig:
    """The metric, with a value threshold on every case's slice."""
    config = tfma.MetricConfig(
        class_name=type(metric).__name__,
        module=type(metric).__module__,
        config=json.dumps(metric.get_config()),
    )
    threshold = tfma.MetricThreshold()
    if lower is not None:
        threshold.value_threshold.lower_bound.value = lower
    if upper is not None:
        threshold.value_threshold.upper_bound.value = upper
    config.per_slice_thresholds.add(
        slicing_specs=[tfma.SlicingSpec(feature_values={CASE: c}) for c in CASES],
        threshold=threshold,
    )
    return config


def _eval_config(baseline: bool) -> tfma.EvalConfig:
    """Skill test for the candidate; with a baseline, the paired test too."""
    weighted = tfma.ExampleWeightOptions(weighted=True)
    specs = [
        tfma.MetricsSpec(
            model_names=[_candidate_name(baseline)],
            example_weights=weighted,
            metrics=[_metric(metrics.AUCSkillTest(), upper=SKILL_ALPHA)],
        ),
        tfma.MetricsSpec(
            model_names=[tfma.CANDIDATE_KEY, tfma.BASELINE_KEY] if baseline else [""],
            example_weights=weighted,
            metrics=[_metric(metrics.PairedAUCTest(), lower=REGRESSION_ALPHA)],
        ),
    ]
    model_specs = [_model_spec(_candidate_name(baseline), CANDIDATE)]
    if baseline:
        model_specs.append(_model_spec(tfma.BASELINE_KEY, BASELINE, is_baseline=True))
    return tfma.EvalConfig(
        model_specs=model_specs,
        metrics_specs=specs,
        slicing_specs=[tfma.SlicingSpec(feature_keys=[CASE])],
    )


def _candidate_name(baseline: bool) -> str:
    """The candidate's model name: '' when it is the only model."""
    return tfma.CANDIDATE_KEY if baseline else ""


def _analyse(frame: pd.DataFrame, eval_config: tfma.EvalConfig) -> str:
    output_path = tempfile.mkdtemp(prefix="tfma_blessing_")
    batch = table_util.CanonicalizeRecordBatch(
        pa.RecordBatch.from_pandas(frame, preserve_index=False)
    )
    with beam.Pipeline(options=PipelineOptions(PIPELINE_ARGS)) as pipeline:
        _ = (
            pipeline
            | beam.Create([batch])
            | tfma.ExtractEvaluateAndWriteResults(
                eval_config=eval_config, output_path=output_path
            )
        )
    return output_path


@pytest.fixture(scope="module")
def paired_run():
    """(frame, {case: {(name, model): value}}, {case: failed metric names})."""
    frame = _frame()
    output_path = _analyse(frame, _eval_config(baseline=True))
    by_case = {
        dict(slice_key)[CASE]: {
            (key.name, key.model_name): value for key, value in values.items()
        }
        for slice_key, values in load_metrics(output_path).items()
    }
    failed: Dict[str, set] = {case: set() for case in CASES}
    validation = tfma.load_validation_result(output_path)
    for per_slice in validation.metric_validations_per_slice:
        case = dict(tfma.slicer.deserialize_slice_key(per_slice.slice_key))[CASE]
        failed[case] |= {f.metric_key.name for f in per_slice.failures}
    return frame, by_case, failed


def _expected(frame: pd.DataFrame, case: str) -> ranking.PairedAUCDifference:
    rows = frame[(frame[CASE] == case) & (frame[WEIGHT] > 0)]
    return ranking.paired_auc_difference(
        rows[CANDIDATE].to_numpy(np.float64),
        rows[BASELINE].to_numpy(np.float64),
        rows[LABEL].to_numpy(),
        rows[WEIGHT].to_numpy(),
    )


def _figure(by_case, case: str, name: str) -> float:
    return by_case[case][(name, tfma.CANDIDATE_KEY)]


@pytest.mark.parametrize("case", CASES)
def test_paired_figures_are_the_arithmetic_on_both_models_scores(paired_run, case):
    frame, by_case, _ = paired_run
    expected = _expected(frame, case)
    change, se, low, high = metrics.auc_change_names()
    for name, value in (
        (metrics.AUC_REGRESSION_P_VALUE_NAME, expected.regression_p_value()),
        (change, expected.delta),
        (se, expected.standard_error),
        (low, expected.interval()[0]),
        (high, expected.interval()[1]),
    ):
        assert _figure(by_case, case, name) == pytest.approx(value, abs=1e-12), name
    # The weights count: the change differs from the unweighted one.
    rows = frame[frame[CASE] == case]
    if case == NOISIER:
        unweighted = roc_auc_score(rows[LABEL], rows[CANDIDATE]) - roc_auc_score(
            rows[LABEL], rows[BASELINE]
        )
        assert abs(_figure(by_case, case, change) - unweighted) > 1e-4


def test_nothing_is_stored_for_the_baseline(paired_run):
    _, by_case, _ = paired_run
    models = {model for values in by_case.values() for _, model in values}
    assert models == {tfma.CANDIDATE_KEY}


def test_a_candidate_identical_to_the_baseline_passes(paired_run):
    _, by_case, failed = paired_run
    assert _figure(by_case, SAME, metrics.AUC_REGRESSION_P_VALUE_NAME) == 0.5
    assert _figure(by_case, SAME, metrics.AUC_CHANGE_NAME) == 0.0
    assert not failed[SAME]


@pytest.mark.parametrize("case", [SHUFFLED, NOISIER])
def test_a_clearly_worse_candidate_fails_the_comparison(paired_run, case):
    _, by_case, failed = paired_run
    assert _figure(by_case, case, metrics.AUC_REGRESSION_P_VALUE_NAME) < 1e-4
    assert _figure(by_case, case, metrics.AUC_CHANGE_NAME) < -0.05
    assert metrics.AUC_REGRESSION_P_VALUE_NAME in failed[case]


def test_skill_floor(paired_run):
    frame, by_case, failed = paired_run
    # A constant score: p = 0.5, refused by the skill floor.
    assert _figure(by_case, CONSTANT, metrics.AUC_CHANCE_P_VALUE_NAME) == 0.5
    assert metrics.AUC_CHANCE_P_VALUE_NAME in failed[CONSTANT]
    # Shuffled scores rank by chance; the baseline's own scores do not.
    assert _figure(by_case, SHUFFLED, metrics.AUC_CHANCE_P_VALUE_NAME) > SKILL_ALPHA
    assert _figure(by_case, SAME, metrics.AUC_CHANCE_P_VALUE_NAME) < 1e-6
    rows = frame[(frame[CASE] == SAME) & (frame[WEIGHT] > 0)]
    assert _figure(by_case, SAME, metrics.AUC_CHANCE_P_VALUE_NAME) == pytest.approx(
        ranking.auc_skill_p_value(
            rows[CANDIDATE].to_numpy(np.float64), rows[LABEL], rows[WEIGHT]
        ),
        rel=1e-9,
    )


def test_without_a_baseline_only_a_passing_p_value_is_stored():
    """A first run: no baseline ModelSpec, the paired spec names the lone model."""
    frame = _frame()
    output_path = _analyse(frame, _eval_config(baseline=False))
    comparison_names = {
        metrics.AUC_REGRESSION_P_VALUE_NAME,
        *metrics.auc_change_names(),
    }
    for slice_key, values in load_metrics(output_path).items():
        stored = {k.name: v for k, v in values.items() if k.name in comparison_names}
        assert stored == {
            metrics.AUC_REGRESSION_P_VALUE_NAME: metrics.NO_BASELINE_P_VALUE
        }, slice_key
    validation = tfma.load_validation_result(output_path)
    failed = {
        (dict(tfma.slicer.deserialize_slice_key(s.slice_key))[CASE], f.metric_key.name)
        for s in validation.metric_validations_per_slice
        for f in s.failures
    }
    # Only the skill floor refuses: the scores that rank by chance.
    assert failed == {
        (CONSTANT, metrics.AUC_CHANCE_P_VALUE_NAME),
        (SHUFFLED, metrics.AUC_CHANCE_P_VALUE_NAME),
    }


# --- The paired comparison's rows, spilled ----------------------------------------------
def _paired_combiner(spill_dir: str):
    eval_config = _eval_config(baseline=True)
    computations = metrics_paired._paired_auc_computations(
        metrics._KeyArgs(eval_config, tfma.CANDIDATE_KEY, "", None, None, None, True),
        spill_dir=spill_dir,
    )
    return computations[0].combiner


def _paired_inputs(candidate, baseline, label, weight):
    return metric_types.StandardMetricInputs(
        labels=np.array([label]),
        predictions={
            tfma.CANDIDATE_KEY: np.array([candidate]),
            tfma.BASELINE_KEY: np.array([baseline]),
        },
        example_weights=np.array([weight]),
    )


def test_paired_comparison_spilled_across_workers_is_within_the_sketch_ties_of_exact(
    tmp_path, monkeypatch
):
    """Continuous scores, 3,000 examples filled into three accumulators that
    spill every 200 rows, then merged: the change and its SE are DeLong's
    exact ones up to the pairs within one sketch bin, and equal (to
    rounding) to the same rows held in memory; the files are deleted."""
    rng = np.random.default_rng(11)
    n = 3000
    labels = (rng.uniform(size=n) < 0.1).astype(float)
    logits = 2.0 * labels + rng.normal(-3.0, 1.0, n)
    candidate = scipy.special.expit(logits + rng.normal(0, 0.3, n))
    baseline = scipy.special.expit(logits + rng.normal(0, 0.6, n))
    weights = rng.choice([0.0, 1.0, 2.0], n, p=[0.2, 0.5, 0.3])
    rows = list(zip(candidate, baseline, labels, weights))

    def compare(spill_rows: int, parts: int):
        monkeypatch.setattr(spill, "SPILL_ROWS", spill_rows)
        combiner = _paired_combiner(str(tmp_path / "spill"))
        accumulators = []
        for part in np.array_split(np.arange(n), parts):
            accumulator = combiner.create_accumulator()
            for i in part:
                accumulator = combiner.add_input(accumulator, _paired_inputs(*rows[i]))
            accumulators.append(combiner.compact(accumulator))
        merged = combiner.merge_accumulators(accumulators)
        files = len(merged.files)
        (difference,) = combiner.extract_output(merged).values()
        return difference, files

    spilled, files = compare(200, 3)
    held, no_files = compare(10**6, 1)
    assert files >= 10 and no_files == 0  # about 2,400 rows of weight > 0
    assert not list((tmp_path / "spill").iterdir())
    assert spilled.delta == pytest.approx(held.delta, abs=1e-12)
    assert spilled.standard_error == pytest.approx(held.standard_error, rel=1e-9)
    kept = weights > 0
    exact = ranking.paired_auc_difference(
        candidate[kept], baseline[kept], labels[kept], weights[kept]
    )
    assert spilled.delta == pytest.approx(exact.delta, abs=1e-4)
    assert spilled.candidate_auc == pytest.approx(exact.candidate_auc, abs=1e-4)
    assert spilled.standard_error == pytest.approx(exact.standard_error, rel=1e-3)
    assert spilled.delta > 0.01  # the less noisy candidate is better
