"""What ESM2, ESMM and the baselines have in common.

A model says how it composes its probabilities (``compose``), which towers
it has (``TOWERS``) and which tasks it trains on (``TASKS``); this base class
turns that into the four outputs every model exports, the position-bias
offsets of the towers, the weighted training objective, and the Keras
training and evaluation steps.

Training steps see the bias features (position); evaluation steps and the
exported model do not, so the validation figures Keras logs are those of
the model as served.
"""

from __future__ import annotations

import abc
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from models.auc import HistogramAUC
from models.config import ModelConfig
from models.layers import PositionBias, TowerStack
from models.precision import training_matmul_dtype
from models.probability import LogProb, log_loss
from transform import features, tasks

Features = Mapping[str, tf.Tensor]


def click_then_conversion(pctr: LogProb, pcvr: LogProb) -> Dict[str, LogProb]:
    """impression -> click -> purchase: pCTCVR = pCTR * pCVR, no DAction."""
    return {
        features.OUTPUT_PCTR: pctr,
        features.OUTPUT_PCVR: pcvr,
        features.OUTPUT_PCTCVR: pctr.times(pcvr),
    }


def serving_inputs(inputs: Features) -> Dict[str, tf.Tensor]:
    """The features a served model gets: the bias ones (position) left out."""
    return {
        name: value
        for name, value in inputs.items()
        if name in features.SERVING_FEATURE_NAMES
    }


# Training-time AUCs (TensorBoard), named ``<task>_auc``.
_TRACKED_AUCS: Tuple[tasks.Task, ...] = (tasks.CTR, tasks.CVR, tasks.CTCVR)


def _sum_over_replicas(value: tf.Tensor) -> tf.Tensor:
    """``value`` summed over the replicas of a distribution strategy (or as is)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


class EntireSpaceModel(tf_keras.Model, abc.ABC):
    """A multi-task CVR model with the outputs of shared/specs/evaluation.md."""

    # The tasks whose losses the model trains on (``transform.tasks``); what
    # it is evaluated on follows from them (``tasks.estimated_by``).
    TASKS: Tuple[tasks.Task, ...] = ()
    # Names of the towers (``self.towers``, in this order), whose logits also
    # get a position-bias offset; none for a model without towers.
    TOWERS: Tuple[str, ...] = ()

    def __init__(self, vocab_sizes: Mapping[str, int], config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.vocab_sizes = dict(vocab_sizes)
        self.position_bias = (
            PositionBias(
                vocab_sizes[features.POSITION],
                len(self.TOWERS),
                config.position_unknown_rate,
                name="position_bias",
            )
            if self.TOWERS
            else None
        )
        # One MLP per ``TOWERS`` name, computed as one stack (layers.TowerStack).
        self.towers = (
            TowerStack(
                len(self.TOWERS),
                config.tower_units,
                config.dropout,
                training_matmul_dtype(config.matmul_precision),
                name="towers",
            )
            if self.TOWERS
            else None
        )
        self._loss_tracker = tf_keras.metrics.Mean(name="loss")
        self._task_trackers = {
            task.name: tf_keras.metrics.Mean(name=f"{task.name}_loss")
            for task in self.TASKS
        }
        self._aucs = {
            task.name: HistogramAUC(name=f"{task.name}_auc") for task in _TRACKED_AUCS
        }

    @abc.abstractmethod
    def compose(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        """The model's probabilities, keyed by ``features.MODEL_OUTPUTS`` names.

        An output the model does not estimate (ESMM's pctavr) is left out and
        exported as 0, as the evaluation spec asks.
        """

    def tower_probabilities(
        self, logits: Sequence[tf.Tensor], inputs: Features, training: bool
    ) -> List[LogProb]:
        """The towers' probabilities (``TOWERS`` order), each logit shifted by
        the position-bias offset: the logged position's in training, the
        "position unknown" one where ``inputs`` has no position."""
        offsets = self.position_bias(inputs, logits[0], training=training)
        return [LogProb.from_logit(logit + o) for logit, o in zip(logits, offsets)]

    def task_losses(
        self, labels: Features, probs: Mapping[str, LogProb]
    ) -> Dict[str, tf.Tensor]:
        """Weighted scalar losses by task name; their sum is the objective."""
        losses = {}
        for task in self.TASKS:
            mask = labels[task.population] if task.population else None
            loss = mean_log_loss(labels[task.label], probs[task.output], mask=mask)
            losses[task.name] = self.config.loss_weight(task.name) * loss
        return losses

    def call(self, inputs: Features, training: bool = False) -> Dict[str, tf.Tensor]:
        probs = self.compose(inputs, training)
        batch = tf.shape(next(iter(probs.values())).log_p)
        return {
            name: probs[name].prob() if name in probs else tf.zeros(batch)
            for name in features.MODEL_OUTPUTS
        }

    # --- Training and evaluation steps --------------------------------------
    def _loss_trackers(self) -> List[tf_keras.metrics.Mean]:
        return [self._loss_tracker, *self._task_trackers.values()]

    @property
    def metrics(self):
        return [*self._loss_trackers(), *self._aucs.values()]

    def _track(
        self,
        labels: Features,
        probs: Mapping[str, LogProb],
        losses: Mapping[str, tf.Tensor],
        total: tf.Tensor,
    ) -> Dict[str, tf.Tensor]:
        # Each replica's losses are its share of the global batch's mean:
        # summed, they are the figures of the whole batch.
        self._loss_tracker.update_state(_sum_over_replicas(total))
        for name, value in losses.items():
            self._task_trackers[name].update_state(_sum_over_replicas(value))
        for task in _TRACKED_AUCS:
            prob = probs[task.output]
            self._aucs[task.name].update_state(
                labels[task.label],
                prob.log_p - prob.log_q,
                None if task.population is None else labels[task.population],
            )
        logs = {m.name: m.result() for m in self._loss_trackers()}
        # Cheap stand-ins between refreshes; Keras replaces them with every
        # metric's result() at the end of each epoch and evaluation.
        logs.update({m.name: m.logged_result() for m in self._aucs.values()})
        return logs

    def _objective(self, inputs: Features, labels: Features, training: bool):
        probs = self.compose(inputs, training)
        losses = self.task_losses(labels, probs)
        total = tf.add_n(list(losses.values()))
        if self.losses:  # regularisation terms of the layers, if any
            total += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
        return probs, losses, total

    def train_step(self, data):
        inputs, labels = data
        with tf.GradientTape() as tape:
            probs, losses, total = self._objective(inputs, labels, training=True)
        # Under a distribution strategy the optimiser sums the replicas'
        # gradients; each replica's loss is already its share of the global
        # mean (mean_log_loss), so the sum is the single-device gradient.
        grads = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._track(labels, probs, losses, total)

    def test_step(self, data):
        inputs, labels = data
        probs, losses, total = self._objective(
            serving_inputs(inputs), labels, training=False
        )
        return self._track(labels, probs, losses, total)


def mean_log_loss(
    label: tf.Tensor, prob: LogProb, mask: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """Mean log loss over the global batch, or over its examples where ``mask`` is 1.

    Under a distribution strategy each replica returns its examples' share:
    their loss sum over the global batch's count (``tf.nn.compute_average_loss``
    with the global batch size, and the same for a masked population), so
    the replicas' gradients add up to the gradient of the global mean. A
    masked mean over a batch without any selected example is 0, not NaN.
    """
    per_example = log_loss(tf.reshape(label, [-1]), prob)
    if mask is None:
        mask = tf.ones_like(per_example)
    mask = tf.cast(tf.reshape(mask, [-1]), per_example.dtype)
    return tf.math.divide_no_nan(
        tf.reduce_sum(per_example * mask), _sum_over_replicas(tf.reduce_sum(mask))
    )
