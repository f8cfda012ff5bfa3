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
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

# ``q * n`` is rounded to this many decimals before the ceiling, so that
# float noise (0.006 * 1000 == 6.000000000000001) cannot add an example.
_CUTOFF_DECIMALS = 9


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
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights)
    if len(scores) == 0:
        return GroupAUCResult(float("nan"), 0)
    _, group_ids = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
    group_ids = group_ids.reshape(-1).astype(np.int64)
    num_groups = int(group_ids.max()) + 1
    positive, negative = class_masses(labels, weights)
    auc, total_pos, total_neg = _auc_per_group(
        scores, positive, negative, group_ids, num_groups
    )
    counted = ~np.isnan(auc)
    if not np.any(counted):
        return GroupAUCResult(float("nan"), 0)
    group_weight = (
        (total_pos + total_neg) if weight_by_impressions else np.ones_like(auc)
    )
    value = np.sum(group_weight[counted] * auc[counted]) / np.sum(group_weight[counted])
    return GroupAUCResult(float(value), int(np.sum(counted)))


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


def _f1(precision: float, recall: float) -> float:
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
            TopFractionResult(fraction, k, precision, recall, _f1(precision, recall))
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
