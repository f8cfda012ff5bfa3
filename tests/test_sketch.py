"""The Evaluator's mergeable score sketch against the exact computations."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation import metrics, ranking
from evaluation.sketch import NUM_BINS, ScoreSketch
from tests.test_evaluation_metrics import WEIGHT, _all_cases, _metric_inputs


def _ctcvr_like(n: int, seed: int = 0):
    """Scores like a trained model's CTCVR output: most below 1e-3, some near 0."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-7.0, 2.0, n)
    labels = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(logit + 1.5)))).astype(float)
    scores = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)  # a model's float32
    return scores.astype(np.float64), labels


@pytest.mark.parametrize("n", [20_000, 300_000])
def test_auc_is_within_1e4_of_the_exact_auc_for_scores_near_zero(n):
    scores, labels = _ctcvr_like(n)
    assert np.median(scores) < 1e-3 and labels.sum() > 20
    sketch = ScoreSketch.of(scores, labels)
    exact = roc_auc_score(labels, scores)
    assert abs(sketch.auc() - exact) <= min(1e-4, sketch.tie_bound() + 1e-12)


def test_ties_count_half_as_in_the_exact_auc():
    scores = np.array([0.2, 0.2, 0.2, 0.7, 0.7, 0.01])
    labels = np.array([1, 0, 0, 1, 0, 0])
    assert ScoreSketch.of(scores, labels).auc() == pytest.approx(
        roc_auc_score(labels, scores), abs=1e-12
    )


def _split_sketches(frame, weighted: bool, parts: int):
    """What Beam does with bundles: fill apart, compact some, merge."""
    combiner = metrics._score_sketch_computation(
        metrics._KeyArgs(None, "", "", None, None, None, weighted)
    ).combiner
    accumulators = []
    for i, part in enumerate(np.array_split(frame, parts)):
        accumulator = combiner.create_accumulator()
        for _, row in part.iterrows():
            accumulator = combiner.add_input(accumulator, _metric_inputs(row))
        accumulators.append(combiner.compact(accumulator) if i % 2 else accumulator)
    merged = combiner.merge_accumulators(
        [accumulators[-1], combiner.create_accumulator(), *accumulators[:-1]]
    )
    (sketch,) = combiner.extract_output(merged).values()
    return sketch


def _figures(sketch: ScoreSketch):
    tops = sketch.top_fractions(metrics.DEFAULT_TOP_FRACTIONS)
    calibration = sketch.calibration(10)
    return np.concatenate(
        [
            [sketch.auc(), sketch.skill_p_value(), len(sketch)],
            [v for t in tops for v in (t.precision, t.recall, t.f1)],
            calibration.weight,
            np.nan_to_num(calibration.mean_prediction),
            np.nan_to_num(calibration.observed_rate),
        ]
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_bundles_merge_to_the_figures_of_one_bundle(weighted):
    frame = _all_cases()
    one = _split_sketches(frame, weighted, parts=1)
    for parts in (2, 5):
        shuffled = frame.sample(frac=1.0, random_state=parts)
        several = _split_sketches(shuffled, weighted, parts)
        np.testing.assert_array_equal(several.bins, one.bins)
        np.testing.assert_allclose(several.sums, one.sums, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(_figures(several), _figures(one), rtol=1e-12)
    kept = frame[frame[WEIGHT] > 0] if weighted else frame
    assert len(one) == len(kept)  # every example with weight > 0, once


def test_top_fractions_and_calibration_match_the_exact_ones():
    scores, labels = _ctcvr_like(100_000, seed=3)
    weights = np.random.default_rng(4).choice([0.0, 1.0, 2.0], size=len(scores))
    sketch = ScoreSketch.of(scores, labels, weights)
    exact_tops = ranking.top_fraction_precision_recall(
        scores, labels, metrics.DEFAULT_TOP_FRACTIONS, weights
    )
    sketched_tops = sketch.top_fractions(metrics.DEFAULT_TOP_FRACTIONS)
    for got, want in zip(sketched_tops, exact_tops):
        assert got.cutoff == want.cutoff
        assert got.precision == pytest.approx(want.precision, abs=2e-3)
        assert got.recall == pytest.approx(want.recall, abs=2e-3)
    got, want = sketch.calibration(20), ranking.binned_calibration(
        scores, labels, weights, 20
    )
    np.testing.assert_allclose(got.weight, want.weight, atol=1e-9)
    np.testing.assert_allclose(got.mean_prediction, want.mean_prediction, rtol=1e-9)
    np.testing.assert_allclose(got.observed_rate, want.observed_rate, rtol=1e-9)


def test_exact_ties_in_the_top_fraction_are_shared_as_in_the_exact_version():
    scores = np.array([0.9, 0.8, 0.8, 0.8, 0.8, 0.1, 0.1, 0.05, 0.05, 0.01])
    labels = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    (got,) = ScoreSketch.of(scores, labels).top_fractions([0.3])
    (want,) = ranking.top_fraction_precision_recall(scores, labels, [0.3])
    assert (got.cutoff, got.precision, got.recall) == pytest.approx(
        (want.cutoff, want.precision, want.recall), abs=1e-12
    )


def test_the_sketch_stops_growing_with_the_data():
    """Ten times the examples, the same bounded number of bins."""
    small = ScoreSketch.of(*_ctcvr_like(50_000, seed=5))
    large = ScoreSketch.of(*_ctcvr_like(500_000, seed=6))
    assert len(large) == 10 * len(small)
    assert large.sums.nbytes < 2.0 * small.sums.nbytes
    assert len(large.bins) <= NUM_BINS


def test_buffered_rows_are_folded_in_before_any_figure():
    sketch = ScoreSketch()
    for score, label in ((0.3, 1.0), (0.1, 0.0), (0.2, 0.0), (0.4, 0.0)):
        sketch.add(score, label, 1.0)
    sketch.add(0.9, 1.0, 0.0)  # weight 0: not in the population
    assert len(sketch) == 4
    assert sketch.auc() == pytest.approx(2 / 3)
