"""A mergeable summary of scored examples: fine histograms on the logit scale.

The Evaluator's ranking and calibration figures used to be computed from
every (score, label, weight) of a slice gathered onto one worker: memory
linear in the eval set, on one machine. ``ScoreSketch`` keeps instead, per
bin of the score's logit (``NUM_BINS`` equal bins over ``LOGIT_RANGE``, the
training-time AUC's range in ``models.auc``, 5 times finer), five sums: the
example count, the positive and the negative weight, the weighted score and
the weight.
Sketches of disjoint parts of a slice add up (``absorb``), in any order and
on any worker, to the sketch of the whole; only occupied bins are stored,
so its size is bounded by ``NUM_BINS`` whatever the data's size (10 MB at
most; about 40 bytes per distinct bin below that).

What it gives, and how close it is to the exact figure on the same examples
(``evaluation.ranking`` keeps the exact computations as the test oracle):

- AUC with the pairs inside one bin counted as ties (1/2). A bin is 0.00038
  wide in logit, so a CTCVR score of 1e-4 is apart from 1.0004e-4 as 0.5 is
  from 0.5001; the error is half the share of positive/negative pairs
  within one bin, which ``tie_bound`` gives: 2.4e-6 at most on a 120k
  eval day (benchmarks/sketch_accuracy.py), below 1e-4 on CTCVR-like scores
  near 0 in tests/test_sketch.py.
- The Mann-Whitney skill p-value, from that AUC and the class masses.
- Class masses, mean label, mean prediction: exact (sums).
- Top-fraction precision and recall: the examples of the bin where the cut
  falls share the remaining slots, as tied scores do in the exact version.
- The reliability diagram (ECE): each logit bin goes to the probability bin
  of its mean score; only a logit bin straddling a probability-bin edge
  (width 0.002 in logit) can put an example on the wrong side.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np

from evaluation import ranking
from models.auc import LOGIT_RANGE

NUM_BINS = 2**18  # 0.00038 wide in logit

# Columns of a bin's sums.
COUNT, POSITIVE, NEGATIVE, SCORE_SUM, WEIGHT = range(5)
_WIDTH = 5
_FLUSH_ROWS = 50_000  # buffered rows folded into the bins at a time


def logit_bins(scores: np.ndarray) -> np.ndarray:
    """The bin of each probability's logit (scores of 0 and 1: the end bins)."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        logits = np.log(p) - np.log1p(-p)
    low, high = LOGIT_RANGE
    position = np.floor((logits - low) / (high - low) * NUM_BINS)
    return np.clip(np.nan_to_num(position, nan=0.0), 0, NUM_BINS - 1).astype(np.int64)


def _bin_sums(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """(occupied bins, their sums) of some scored examples."""
    bins = logit_bins(scores)
    positive, negative = ranking.class_masses(labels, weights)
    values = np.stack(
        [np.ones_like(weights), positive, negative, weights * scores, weights], axis=1
    )
    return _fold(bins, values)


def _fold(bins: np.ndarray, values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Rows with the same bin summed; bins ascending and unique."""
    occupied, index = np.unique(bins, return_inverse=True)
    sums = np.zeros((len(occupied), _WIDTH))
    for column in range(_WIDTH):
        sums[:, column] = np.bincount(
            index.reshape(-1), weights=values[:, column], minlength=len(occupied)
        )
    return occupied, sums


class ScoreSketch:
    """Per-logit-bin sums of a slice's examples with weight > 0; see the module."""

    __slots__ = ("bins", "sums", "_rows")

    def __init__(self):
        self.bins = np.zeros(0, dtype=np.int64)
        self.sums = np.zeros((0, _WIDTH))
        self._rows: List[Tuple[float, float, float]] = []

    @classmethod
    def of(
        cls,
        scores: np.ndarray,
        labels: np.ndarray,
        weights: Optional[np.ndarray] = None,
    ) -> "ScoreSketch":
        """The sketch of arrays of examples (weight 0 leaves one out)."""
        sketch = cls()
        scores = np.asarray(scores, dtype=np.float64)
        weights = np.ones_like(scores) if weights is None else weights
        sketch._add_columns(scores, np.asarray(labels), np.asarray(weights, float))
        return sketch

    # --- Building ---------------------------------------------------------
    def add(self, score: float, label: float, weight: float) -> None:
        """One example (buffered; folded in by the hundred thousand)."""
        if weight > 0.0:
            self._rows.append((score, label, weight))
            if len(self._rows) >= _FLUSH_ROWS:
                self.compact()

    def compact(self) -> "ScoreSketch":
        """Folds the buffered examples into the bins (before a shuffle)."""
        if self._rows:
            rows = np.asarray(self._rows, dtype=np.float64)
            self._rows = []
            self._add_columns(rows[:, 0], rows[:, 1], rows[:, 2])
        return self

    def _add_columns(
        self, scores: np.ndarray, labels: np.ndarray, weights: np.ndarray
    ) -> None:
        keep = weights > 0
        bins, sums = _bin_sums(scores[keep], labels[keep], weights[keep])
        self._merge(bins, sums)

    def _merge(self, bins: np.ndarray, sums: np.ndarray) -> None:
        self.bins, self.sums = _fold(
            np.concatenate([self.bins, bins]), np.concatenate([self.sums, sums])
        )

    def absorb(self, other: "ScoreSketch") -> None:
        """Adds ``other``'s examples to this sketch."""
        other.compact()
        self._merge(other.bins, other.sums)

    # --- Figures ------------------------------------------------------------
    def column(self, which: int) -> np.ndarray:
        """One sum per occupied bin, bins in ascending score order."""
        self.compact()
        return self.sums[:, which]

    def total(self, which: int) -> float:
        return float(np.sum(self.column(which)))

    def __len__(self) -> int:
        """The number of examples summarised."""
        return int(round(self.total(COUNT)))

    def auc(self) -> float:
        """ROC AUC with pairs within one bin as ties; NaN without both classes."""
        positive, negative = self.column(POSITIVE), self.column(NEGATIVE)
        if not (np.sum(positive) > 0 and np.sum(negative) > 0):
            return float("nan")
        below = np.cumsum(negative) - negative
        pairs = np.sum(positive * (below + 0.5 * negative))
        return float(pairs / (np.sum(positive) * np.sum(negative)))

    def placements(self, scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """DeLong's structural components of examples of this sketch with
        these scores, pairs within a bin as ties: V10 (as a positive), the
        share of the negative mass it outscores; V01 (as a negative), the
        share of the positive mass that outscores it. Their means over the
        classes give ``auc``. The scores must be of the sketch's examples
        (their bins are occupied)."""
        positive, negative = self.column(POSITIVE), self.column(NEGATIVE)
        index = np.searchsorted(self.bins, logit_bins(scores))
        below = np.cumsum(negative) - negative
        above = np.sum(positive) - np.cumsum(positive)
        with np.errstate(divide="ignore", invalid="ignore"):  # a class missing
            v10 = (below[index] + 0.5 * negative[index]) / np.sum(negative)
            v01 = (above[index] + 0.5 * positive[index]) / np.sum(positive)
        return v10, v01

    def tie_bound(self) -> float:
        """The most the AUC can be off the exact one: half the share of
        positive/negative pairs that share a bin."""
        positive, negative = self.column(POSITIVE), self.column(NEGATIVE)
        pairs = np.sum(positive) * np.sum(negative)
        return float(0.5 * np.sum(positive * negative) / pairs) if pairs else 0.0

    def skill_p_value(self) -> float:
        """``ranking.auc_chance_p_value`` of this AUC and the class masses."""
        return ranking.auc_chance_p_value(
            self.auc(), self.total(POSITIVE), self.total(NEGATIVE)
        )

    def top_fractions(
        self, fractions: Sequence[float]
    ) -> List[ranking.TopFractionResult]:
        """Precision, recall and F1 at each top fraction (eqs. 14-16).

        The ``k = ceil(q * n)`` highest-scored examples are called positive;
        the bin the k-th falls in shares its remaining slots among its
        examples, as ``ranking.top_fraction_precision_recall`` shares them
        among tied scores.
        """
        count = self.column(COUNT)[::-1]  # descending scores
        positive = self.column(POSITIVE)[::-1]
        mass = positive + self.column(NEGATIVE)[::-1]
        total_positive = float(np.sum(positive))
        before = np.cumsum(count) - count  # examples in higher bins
        results = []
        for fraction in fractions:
            k = ranking.top_fraction_cutoff(fraction, len(self))
            share = np.clip((k - before) / np.where(count > 0, count, 1), 0.0, 1.0)
            tp, called = float(np.sum(share * positive)), float(np.sum(share * mass))
            precision = tp / called if called > 0 else float("nan")
            recall = tp / total_positive if total_positive > 0 else float("nan")
            results.append(
                ranking.TopFractionResult(
                    fraction, k, precision, recall, ranking.f1(precision, recall)
                )
            )
        return results

    def calibration(self, num_bins: int) -> ranking.CalibrationBins:
        """The reliability diagram over ``num_bins`` equal-width probability bins."""
        if num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}")
        weight, score_sum = self.column(WEIGHT), self.column(SCORE_SUM)
        mean = score_sum / np.where(weight > 0, weight, 1.0)
        index = np.clip(np.floor(mean * num_bins), 0, num_bins - 1).astype(np.int64)

        def per_bin(values: np.ndarray) -> np.ndarray:
            return np.bincount(index, weights=values, minlength=num_bins)

        return ranking.calibration_bins(
            per_bin(weight), per_bin(score_sum), per_bin(self.column(POSITIVE))
        )


class AbsorbingCombineFn(beam.CombineFn):
    """Merging and compacting of accumulators that ``absorb`` one another and
    ``compact`` before a shuffle (``ScoreSketch``, the Evaluator's gathers)."""

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.absorb(accumulator)
        return result

    def compact(self, accumulator: Any) -> Any:
        return accumulator.compact()


class SketchCombineFn(AbsorbingCombineFn):
    """Beam's combiner of (score, label, weight) tuples into a ``ScoreSketch``."""

    def create_accumulator(self) -> ScoreSketch:
        return ScoreSketch()

    def add_input(
        self, sketch: ScoreSketch, scored: Tuple[float, float, float]
    ) -> ScoreSketch:
        sketch.add(*scored)
        return sketch

    def extract_output(self, sketch: ScoreSketch) -> ScoreSketch:
        return sketch.compact()
