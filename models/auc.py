"""ROC AUC during training, from fine histograms of the logit.

Keras' ``AUC`` puts its 1,000 thresholds evenly over [0, 1] on the
probability; CTCVR scores crowd below 0.01, so nearly every positive/negative
pair falls between two thresholds and counts as a tie (the TensorBoard curve
read CTCVR AUCs far below the Evaluator's exact ones). Here each class's
(weighted) count is histogrammed over the logit, log p - log(1 - p), in
``NUM_BINS`` equal bins of ``LOGIT_RANGE``: a probability of 1e-4 sits as far
from 1e-3 as 0.5 from 0.9, only pairs within one bin (width 0.002) count as
ties, and the counts add across batches and replicas. The range is wide
because composed CTCVR scores of an early model reach logits below -40
(a narrower range lumped them into its end bin: 0.006 off the exact AUC).
Each batch adds a whole histogram of both classes in one segment sum
(``scatter_add`` would touch only its bins, but the replica-local variables
of a distribution strategy lack it).

Reading the AUC is a pass over the histogram. Read at every step, as Keras
does with a step's logs, the three AUCs cost about 2 ms of a 17 ms ESM2
training step on 2 cores (an ablation in a throwaway copy of
``benchmarks/tower_speed.py``'s loop, 58k against 66k examples/s). So a
step logs ``logged_result``, recomputed every ``LOG_REFRESH_UPDATES``
updates; at the end of every epoch and every evaluation Keras reads each
metric's ``result()`` afresh
(``Model._validate_and_get_metrics_result``), so the epoch logs, TensorBoard
and callbacks get the AUC of every example seen.
"""

from __future__ import annotations

from typing import Optional, Tuple

import tensorflow as tf
import tf_keras

NUM_BINS = 50_000
LOGIT_RANGE: Tuple[float, float] = (-50.0, 50.0)  # beyond: the end bins
# A step's logs recompute the AUC at the first update after a reset and
# then every this many updates.
LOG_REFRESH_UPDATES = 100


def logit_bin(logits: tf.Tensor) -> tf.Tensor:
    """The histogram bin of each logit (int32)."""
    low, high = LOGIT_RANGE
    position = (tf.cast(logits, tf.float64) - low) / (high - low) * NUM_BINS
    return tf.cast(tf.clip_by_value(tf.floor(position), 0, NUM_BINS - 1), tf.int32)


def auc_from_histograms(positive: tf.Tensor, negative: tf.Tensor) -> tf.Tensor:
    """AUC from per-bin class masses, bins in ascending score order; ties 1/2."""
    below = tf.cumsum(negative, exclusive=True)
    pairs = tf.reduce_sum(positive * (below + 0.5 * negative))
    return tf.math.divide_no_nan(
        pairs, tf.reduce_sum(positive) * tf.reduce_sum(negative)
    )


class HistogramAUC(tf_keras.metrics.Metric):
    """Streaming ROC AUC of logits; ``update_state(labels, logits, sample_weight)``.

    A weight of 0 leaves an example out (how CVR AUC sees clicks only).
    """

    def __init__(self, name: str = "auc", **kwargs):
        super().__init__(name=name, **kwargs)
        # Row 0: positives' mass per bin; row 1: negatives'.
        self.counts = self.add_weight(
            "counts", shape=(2, NUM_BINS), initializer="zeros", dtype=tf.float64
        )
        self.update_count = self.add_weight(
            "update_count", shape=(), initializer="zeros", dtype=tf.int64
        )
        self.last_result = self.add_weight(
            "last_result", shape=(), initializer="zeros", dtype=tf.float32
        )

    def update_state(
        self,
        labels: tf.Tensor,
        logits: tf.Tensor,
        sample_weight: Optional[tf.Tensor] = None,
    ) -> None:
        labels = tf.cast(tf.reshape(labels, [-1]), tf.float64)
        weights = (
            tf.ones_like(labels)
            if sample_weight is None
            else tf.cast(tf.reshape(sample_weight, [-1]), tf.float64)
        )
        bins = logit_bin(tf.reshape(logits, [-1]))
        # A positive adds to its bin in row 0, a negative (label 0) in row 1.
        row = tf.cast(labels == 0.0, tf.int32)
        masses = tf.math.unsorted_segment_sum(
            weights, row * NUM_BINS + bins, 2 * NUM_BINS
        )
        self.counts.assign_add(tf.reshape(masses, (2, NUM_BINS)))
        self.update_count.assign_add(1)

    def _auc(self) -> tf.Tensor:
        return tf.cast(auc_from_histograms(self.counts[0], self.counts[1]), tf.float32)

    def result(self) -> tf.Tensor:
        return self._auc()

    def logged_result(self) -> tf.Tensor:
        """The AUC for a step's logs: ``result()`` at the first update after a
        reset and every ``LOG_REFRESH_UPDATES`` after it, else the last one.

        Under a distribution strategy it is the replica's own AUC (Keras'
        ``result()`` syncs the replicas, which it cannot inside ``tf.cond``).
        """

        def refresh() -> tf.Tensor:
            self.last_result.assign(self._auc())
            return tf.identity(self.last_result)

        return tf.cond(
            self.update_count % LOG_REFRESH_UPDATES == 1,
            refresh,
            lambda: tf.identity(self.last_result),
        )

    def reset_state(self) -> None:
        for variable in self.variables:
            variable.assign(tf.zeros_like(variable))
