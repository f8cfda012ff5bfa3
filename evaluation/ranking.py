"""Exact ranking and calibration arithmetic on plain numpy arrays.

The TFMA metrics in ``evaluation.metrics`` gather scored examples with Beam and
hand them to these functions, which hold all the arithmetic.  Keeping it here,
free of Beam and TFMA, lets the tests check each formula against sklearn and
hand computations directly, and keeps the metrics deterministic whatever order
a distributed runner delivers the examples in: every function sorts its input
and breaks ties by averaging, never by position.

Labels may be fractional: an example with label ``l`` and weight ``w`` counts
as positive mass ``w * l`` and negative mass ``w * (1 - l)``, which for 0/1
labels is the usual weighted count and matches TFMA's own fractional-label
convention.

The blessing's tests live here too: whether an AUC beats chance
(``auc_chance_p_value``) and whether a candidate's AUC falls behind a
baseline's on the same examples (``paired_auc_difference``, DeLong's test).
Their weights are frequency weights: an example of weight 3 counts as three
examples, so the tests' sample sizes are the class masses.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Optional, Sequence, Tuple

import numpy as np

# ``q * n`` is rounded to this many decimals before the ceiling, so that
# float noise (0.006 * 1000 == 6.000000000000001) cannot add an example.
_CUTOFF_DECIMALS = 9

# The coverage of the interval reported around an AUC change, and its
# two-sided normal quantile (1.96).
CONFIDENCE_LEVEL = 0.95
_INTERVAL_Z = statistics.NormalDist().inv_cdf(0.5 + CONFIDENCE_LEVEL / 2.0)


@dataclasses.dataclass(frozen=True)
class GroupAUCResult:
    """GAUC (eq. 13) and the number of groups (users) that entered it."""

    gauc: float
    num_groups: int


@dataclasses.dataclass(frozen=True)
class TopFractionResult:
    """Precision, recall and F1 when the top ``fraction`` is called positive."""

    fraction: float
    cutoff: int  # how many examples were called positive: ceil(fraction * n)
    precision: float
    recall: float
    f1: float


@dataclasses.dataclass(frozen=True)
class CalibrationBins:
    """A reliability diagram: per equal-width bin of the prediction over [0, 1].

    ``mean_prediction`` and ``observed_rate`` are NaN for empty bins.
    """

    weight: np.ndarray  # weighted example count per bin
    mean_prediction: np.ndarray
    observed_rate: np.ndarray

    @property
    def num_bins(self) -> int:
        return len(self.weight)

    def expected_calibration_error(self) -> float:
        """sum_b (n_b / N) * |mean_pred_b - mean_label_b|, NaN if N == 0."""
        total = float(np.sum(self.weight))
        if total <= 0.0:
            return float("nan")
        filled = self.weight > 0
        gaps = np.abs(self.mean_prediction[filled] - self.observed_rate[filled])
        return float(np.sum(self.weight[filled] * gaps) / total)


def class_masses(
    labels: np.ndarray, weights: np.ndarray
) -> "tuple[np.ndarray, np.ndarray]":
    """Positive and negative mass of each example (see the module docstring)."""
    labels = np.asarray(labels, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    return weights * labels, weights * (1.0 - labels)


def _tie_blocks(*sorted_keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal keys in arrays that are sorted."""
    size = len(sorted_keys[0])
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    changed = np.zeros(size, dtype=bool)
    changed[0] = True
    for key in sorted_keys:
        changed[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(changed)


def _auc_per_group(
    scores: np.ndarray,
    positive: np.ndarray,
    negative: np.ndarray,
    group_ids: np.ndarray,
    num_groups: int,
) -> "tuple[np.ndarray, np.ndarray, np.ndarray]":
    """Exact AUC of each group, with its positive and negative mass.

    The AUC is the weighted Mann-Whitney statistic: the share of
    (positive, negative) pairs whose positive scores higher, a tie counting
    one half.  This is the area under the ROC curve with straight segments
    across tied scores, i.e. what ``sklearn.metrics.roc_auc_score`` returns.
    Groups without both classes get NaN.
    """
    order = np.lexsort((-scores, group_ids))  # by group, then score descending
    scores, group_ids = scores[order], group_ids[order]
    starts = _tie_blocks(group_ids, scores)
    block_pos = np.add.reduceat(positive[order], starts) if len(starts) else starts
    block_neg = np.add.reduceat(negative[order], starts) if len(starts) else starts
    block_group = group_ids[starts]
    # Positive mass ranked strictly above each block, within its group.
    cum_pos = np.cumsum(block_pos) - block_pos
    group_first_block = np.searchsorted(block_group, block_group, side="left")
    pos_above = cum_pos - cum_pos[group_first_block]
    wins = block_neg * (pos_above + 0.5 * block_pos)
    total_wins = np.bincount(block_group, weights=wins, minlength=num_groups)
    total_pos = np.bincount(block_group, weights=block_pos, minlength=num_groups)
    total_neg = np.bincount(block_group, weights=block_neg, minlength=num_groups)
    pairs = total_pos * total_neg
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.where(pairs > 0, total_wins / np.where(pairs > 0, pairs, 1.0), np.nan)
    return auc, total_pos, total_neg


def exact_auc(
    scores: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray] = None
) -> float:
    """Exact (weighted) ROC AUC, eq. 12 with ties as 1/2; NaN without both classes."""
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones_like(scores) if weights is None else weights
    positive, negative = class_masses(labels, weights)
    auc, _, _ = _auc_per_group(
        scores, positive, negative, np.zeros(len(scores), dtype=np.int64), 1
    )
    return float(auc[0])


def auc_standard_error(auc: float, positives: float, negatives: float) -> float:
    """Standard error of an AUC from its class counts (Hanley & McNeil, 1982).

    How much the AUC of one score would move over fresh draws of the labels:
    with ~100 positives it is about +-0.02, which is why a single held-out day
    cannot rank models whose AUCs differ in the third decimal.
    """
    if positives < 1 or negatives < 1:
        return float("nan")
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (
        auc * (1.0 - auc)
        + (positives - 1.0) * (q1 - auc * auc)
        + (negatives - 1.0) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def per_group_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    groups: Sequence,
    weights: Optional[np.ndarray] = None,
) -> "tuple[np.ndarray, np.ndarray]":
    """Each group's exact AUC and weighted number of examples, for the groups
    with both classes (in no particular order).

    What GAUC averages; a caller that holds the groups in parts (users split
    by a hash, as ``evaluation.metrics_group_auc`` does) sums these per part.
    """
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights)
    if len(scores) == 0:
        return np.zeros(0), np.zeros(0)
    groups = np.asarray(groups)
    if groups.dtype.kind not in "iu":  # IDs as Python objects (str, bytes)
        groups = groups.astype(object)
    _, group_ids = np.unique(groups, return_inverse=True)
    group_ids = group_ids.reshape(-1).astype(np.int64)
    num_groups = int(group_ids.max()) + 1
    positive, negative = class_masses(labels, weights)
    auc, total_pos, total_neg = _auc_per_group(
        scores, positive, negative, group_ids, num_groups
    )
    counted = ~np.isnan(auc)
    return auc[counted], (total_pos + total_neg)[counted]


def mean_group_auc(
    auc_sum: float, weight_sum: float, num_groups: int
) -> GroupAUCResult:
    """GAUC from the sums over counted groups of (group weight * AUC) and of
    the group weights; NaN when no group had both classes."""
    if num_groups == 0:
        return GroupAUCResult(float("nan"), 0)
    return GroupAUCResult(float(auc_sum / weight_sum), int(num_groups))


def group_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    groups: Sequence,
    weights: Optional[np.ndarray] = None,
    weight_by_impressions: bool = False,
) -> GroupAUCResult:
    """GAUC, eq. 13: the mean of per-group AUCs over groups with both classes.

    Each group weighs 1 (the paper's offline setting) or, with
    ``weight_by_impressions``, its weighted number of examples.  Groups with a
    single class have no AUC and are left out of both sums, as the paper's
    "users with both classes" requires.
    """
    auc, size = per_group_auc(scores, labels, groups, weights)
    group_weight = size if weight_by_impressions else np.ones_like(auc)
    return mean_group_auc(
        float(np.sum(group_weight * auc)), float(np.sum(group_weight)), len(auc)
    )


def top_fraction_cutoff(fraction: float, num_examples: int) -> int:
    """ceil(fraction * n): how many top-scored examples are called positive.

    The ceiling keeps at least one example for any fraction > 0 of a
    non-empty population (0.1 % of 500 examples is 1 example, not 0).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return min(
        num_examples, math.ceil(round(fraction * num_examples, _CUTOFF_DECIMALS))
    )


def f1(precision: float, recall: float) -> float:
    if math.isnan(precision) or math.isnan(recall):
        return float("nan")
    if precision + recall == 0.0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def top_fraction_precision_recall(
    scores: np.ndarray,
    labels: np.ndarray,
    fractions: Sequence[float],
    weights: Optional[np.ndarray] = None,
) -> "list[TopFractionResult]":
    """Precision, recall and F1 (eqs. 14-16) at each top fraction of the scores.

    The population is the examples with weight > 0 (weight 0 excludes an
    example, which is how CVR is restricted to clicked impressions); ``n`` is
    their count.  The ``k = ceil(q * n)`` highest-scored are predicted
    positive.  When the k-th score is tied, the tied examples share the
    remaining ``r`` slots equally: each contributes ``r / m`` of its masses
    (``m`` tied examples), the expectation over a random tie-break.  This
    is deterministic and independent of input order, unlike breaking ties
    by position.  Masses are weighted: TP = sum of w * label over the
    predicted positives, precision = TP / their weight, recall = TP / the
    total positive mass.  NaN where a denominator is 0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    weights = (
        np.ones_like(scores) if weights is None else np.asarray(weights, np.float64)
    )
    keep = weights > 0
    scores = scores[keep]
    positive, negative = class_masses(np.asarray(labels)[keep], weights[keep])
    order = np.argsort(-scores, kind="stable")
    scores, positive, negative = scores[order], positive[order], negative[order]
    total_positive = float(np.sum(positive))
    results = []
    for fraction in fractions:
        k = top_fraction_cutoff(fraction, len(scores))
        tp, called = _top_k_masses(scores, positive, negative, k)
        precision = tp / called if called > 0 else float("nan")
        recall = tp / total_positive if total_positive > 0 else float("nan")
        results.append(
            TopFractionResult(fraction, k, precision, recall, f1(precision, recall))
        )
    return results


def _top_k_masses(
    scores: np.ndarray, positive: np.ndarray, negative: np.ndarray, k: int
) -> "tuple[float, float]":
    """(positive mass, total mass) of the top k of descending ``scores``.

    Ties at the cut are shared equally (see top_fraction_precision_recall).
    """
    if k == 0:
        return 0.0, 0.0
    cut_score = scores[k - 1]
    above = int(np.searchsorted(-scores, -cut_score, side="left"))
    tied_end = int(np.searchsorted(-scores, -cut_score, side="right"))
    share = (k - above) / (tied_end - above)
    mass = positive + negative
    tp = np.sum(positive[:above]) + share * np.sum(positive[above:tied_end])
    called = np.sum(mass[:above]) + share * np.sum(mass[above:tied_end])
    return float(tp), float(called)


def calibration_bins(
    bin_weight: np.ndarray, bin_prediction_sum: np.ndarray, bin_label_sum: np.ndarray
) -> CalibrationBins:
    """Per-bin means from per-bin weighted sums (empty bins become NaN)."""
    bin_weight = np.asarray(bin_weight, dtype=np.float64)
    filled = bin_weight > 0
    safe = np.where(filled, bin_weight, 1.0)
    return CalibrationBins(
        weight=bin_weight,
        mean_prediction=np.where(filled, bin_prediction_sum / safe, np.nan),
        observed_rate=np.where(filled, bin_label_sum / safe, np.nan),
    )


def binned_calibration(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, num_bins: int
) -> CalibrationBins:
    """The reliability diagram of scored examples over ``num_bins`` equal-width bins.

    Bin b is [b/B, (b+1)/B); the last bin also holds 1.0, and scores outside
    [0, 1] join the end bins (as TFMA's calibration histogram folds its
    under- and overflow buckets).
    """
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    index = np.clip(np.floor(scores * num_bins), 0, num_bins - 1).astype(np.int64)

    def per_bin(values: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=values, minlength=num_bins)

    return calibration_bins(
        per_bin(weights),
        per_bin(weights * scores),
        per_bin(weights * np.asarray(labels, dtype=np.float64)),
    )


# --- Blessing tests ----------------------------------------------------------
def normal_survival(z: float) -> float:
    """1 - Phi(z), accurate in the upper tail (where p-values live)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def auc_chance_p_value(auc: float, positives: float, negatives: float) -> float:
    """One-sided p-value that a score ranks no better than chance (AUC <= 0.5).

    The Mann-Whitney test in its normal approximation, z = (AUC - 0.5) /
    sqrt((n1 + n0 + 1) / (12 n1 n0)), p = 1 - Phi(z), with n1 and n0 the
    class masses.  The variance is the no-ties one: ties (a constant score
    ties every pair) only shrink the true variance, so the test errs on the
    side of "no skill".  A constant score (AUC exactly 0.5) gets p = 0.5;
    NaN without both classes.
    """
    if not (positives > 0.0 and negatives > 0.0) or math.isnan(auc):
        return float("nan")
    variance = (positives + negatives + 1.0) / (12.0 * positives * negatives)
    return normal_survival((auc - 0.5) / math.sqrt(variance))


def auc_skill_p_value(
    scores: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray] = None
) -> float:
    """``auc_chance_p_value`` of the scores' exact AUC and their class masses."""
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones_like(scores) if weights is None else weights
    positive, negative = class_masses(labels, weights)
    auc = exact_auc(scores, labels, weights)
    return auc_chance_p_value(auc, float(np.sum(positive)), float(np.sum(negative)))


def _structural_components(
    scores: np.ndarray, positive: np.ndarray, negative: np.ndarray
) -> "tuple[np.ndarray, np.ndarray]":
    """DeLong's structural components of every example, ties counting 1/2.

    V10 (as a positive): the share of the negative mass it outscores; V01
    (as a negative): the share of the positive mass that outscores it.  One
    sort and two searchsorted calls, O(n log n), instead of the O(n^2) pairs.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    cum_neg = np.concatenate(([0.0], np.cumsum(negative[order])))
    cum_pos = np.concatenate(([0.0], np.cumsum(positive[order])))
    below = np.searchsorted(sorted_scores, scores, side="left")
    up_to = np.searchsorted(sorted_scores, scores, side="right")
    # Mass strictly below (V10) or above (V01), plus half the mass tied with it.
    v10 = (cum_neg[below] + cum_neg[up_to]) / (2.0 * cum_neg[-1])
    v01 = (2.0 * cum_pos[-1] - cum_pos[below] - cum_pos[up_to]) / (2.0 * cum_pos[-1])
    return v10, v01


@dataclasses.dataclass
class ComponentMoments:
    """Sums over one class of the DeLong structural components of k scores:
    the class mass, sum m v (k) and sum m v v' (k x k). Sums over disjoint
    parts of a slice add up, so a slice can be read a file at a time."""

    mass: float
    first: np.ndarray
    second: np.ndarray

    @classmethod
    def zeros(cls, k: int) -> "ComponentMoments":
        return cls(0.0, np.zeros(k), np.zeros((k, k)))

    def add(self, components: np.ndarray, mass: np.ndarray) -> None:
        """Adds examples: ``components`` (k, n), their class ``mass`` (n)."""
        self.mass += float(np.sum(mass))
        self.first += components @ mass
        self.second += (components * mass) @ components.T

    def covariance(self) -> np.ndarray:
        """Unbiased covariance under frequency weights: sum m (v - mean)(v -
        mean)' / (sum m - 1), for integer masses the covariance of the data
        with every example repeated m times."""
        mean = self.first / self.mass
        return (self.second - self.mass * np.outer(mean, mean)) / (self.mass - 1.0)


def delong_from_moments(
    positives: ComponentMoments, negatives: ComponentMoments
) -> "tuple[np.ndarray, np.ndarray]":
    """The AUCs (mean V10 over the positives) and DeLong's covariance S10 /
    n1 + S01 / n0; NaN covariance when a class mass is <= 1 (no spread to
    estimate), NaN AUCs without both classes."""
    k = len(positives.first)
    if not (positives.mass > 0.0 and negatives.mass > 0.0):
        return np.full(k, np.nan), np.full((k, k), np.nan)
    aucs = positives.first / positives.mass
    if positives.mass <= 1.0 or negatives.mass <= 1.0:
        return aucs, np.full((k, k), np.nan)
    covariance = (
        positives.covariance() / positives.mass
        + negatives.covariance() / negatives.mass
    )
    return aucs, covariance


def delong_covariance(
    scores: np.ndarray, labels: np.ndarray, weights: Optional[np.ndarray] = None
) -> "tuple[np.ndarray, np.ndarray]":
    """Exact AUCs of k scores of the same examples and their covariance matrix.

    DeLong, DeLong & Clarke-Pearson (1988): ``scores`` is (k, n); the
    covariance is S10 / n1 + S01 / n0, S10 and S01 the k x k covariances of
    the structural components over the positives and the negatives.  It is
    what makes two AUCs of the same examples comparable: their errors are
    correlated, often strongly.  See ``delong_from_moments`` for the NaNs.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    weights = np.ones(scores.shape[1]) if weights is None else weights
    positive, negative = class_masses(labels, weights)
    k = scores.shape[0]
    positives, negatives = ComponentMoments.zeros(k), ComponentMoments.zeros(k)
    if np.sum(positive) > 0.0 and np.sum(negative) > 0.0:
        components = [_structural_components(s, positive, negative) for s in scores]
        positives.add(np.stack([c[0] for c in components]), positive)
        negatives.add(np.stack([c[1] for c in components]), negative)
    return delong_from_moments(positives, negatives)


@dataclasses.dataclass(frozen=True)
class PairedAUCDifference:
    """DeLong's comparison of a candidate's AUC with a baseline's, same examples."""

    candidate_auc: float
    baseline_auc: float
    delta: float  # candidate - baseline
    standard_error: float  # of delta

    @classmethod
    def of(cls, aucs: np.ndarray, covariance: np.ndarray) -> "PairedAUCDifference":
        """From the (candidate, baseline) AUCs and their 2 x 2 DeLong
        covariance: the variance of the change is c' S c, c = (1, -1)."""
        contrast = np.array([1.0, -1.0])
        return cls(
            candidate_auc=float(aucs[0]),
            baseline_auc=float(aucs[1]),
            delta=float(aucs[0] - aucs[1]),
            standard_error=_standard_error(float(contrast @ covariance @ contrast)),
        )

    def interval(self) -> Tuple[float, float]:
        """The normal ``CONFIDENCE_LEVEL`` interval of the AUC change."""
        half_width = _INTERVAL_Z * self.standard_error
        return self.delta - half_width, self.delta + half_width

    def regression_p_value(self, margin: float = 0.0) -> float:
        """One-sided p-value that the candidate is worse by more than ``margin``.

        The non-inferiority test: H0 "delta <= -margin" against "delta >
        -margin", p = Phi((delta + margin) / SE).  A small p means the
        candidate is significantly worse than the baseline less the margin;
        a tie with margin 0 gives p = 0.5.  SE = 0 (the scores rank every
        pair alike, e.g. the same model twice) leaves no doubt: p = 1 above
        the margin, 0 below, 0.5 on it.  NaN when delta or SE is.
        """
        shifted = self.delta + margin
        if math.isnan(shifted) or math.isnan(self.standard_error):
            return float("nan")
        if self.standard_error == 0.0:
            return 0.5 if shifted == 0.0 else float(shifted > 0.0)
        return normal_survival(-shifted / self.standard_error)


def paired_auc_difference(
    candidate: np.ndarray,
    baseline: np.ndarray,
    labels: np.ndarray,
    weights: Optional[np.ndarray] = None,
) -> PairedAUCDifference:
    """AUC(candidate) - AUC(baseline) on the same examples, with DeLong's SE.

    The variance of the difference is c' S c with c = (1, -1) and S the 2 x 2
    ``delong_covariance``: two models that rank alike move together from one
    eval draw to the next, so their difference is far less noisy than
    either AUC.
    """
    return PairedAUCDifference.of(
        *delong_covariance(np.stack([candidate, baseline]), labels, weights)
    )


def _standard_error(variance: float) -> float:
    """sqrt(variance), NaN kept; rounding can leave a tiny negative variance
    when two models rank alike, which is 0."""
    return variance if math.isnan(variance) else math.sqrt(max(variance, 0.0))
