"""A no-skill reference: the same prediction for every impression.

It learns only the base rates (one logit per task, no features), so every
ranking metric it gets is exactly chance (AUC 0.5). The Evaluator's skill
floor refuses it: its chance p-value is 0.5, far above ``skill_alpha``
(evaluation/eval_config.py), whereas an AUC floor of 0.5 would pass it.
It is also a sanity check for any data set: a model that does not clearly
beat it has learned nothing.
"""

from __future__ import annotations

from typing import Dict

import tensorflow as tf

from models.base import EntireSpaceModel, Features, click_then_conversion
from models.probability import LogProb
from transform import features, tasks


class Prior(EntireSpaceModel):
    TASKS = (tasks.CTR, tasks.CTCVR)

    def __init__(self, vocab_sizes, config, **kwargs):
        super().__init__(vocab_sizes, config, **kwargs)
        self.ctr_logit = self.add_weight(
            name="ctr_logit", shape=(), initializer="zeros"
        )
        self.cvr_logit = self.add_weight(
            name="cvr_logit", shape=(), initializer="zeros"
        )

    def _base_rates(self) -> Dict[str, LogProb]:
        """The model's probabilities, once, as scalars."""
        return click_then_conversion(
            LogProb.from_logit(self.ctr_logit), LogProb.from_logit(self.cvr_logit)
        )

    def compose(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        batch = tf.shape(tf.reshape(inputs[features.ITEM_ID], [-1]))
        return {
            name: LogProb(tf.fill(batch, prob.log_p), tf.fill(batch, prob.log_q))
            for name, prob in self._base_rates().items()
        }

    def call(self, inputs: Features, training: bool = False) -> Dict[str, tf.Tensor]:
        """Every impression gets bit-for-bit the same scores: each probability
        is computed once and copied. Computed per example, exp and log come
        out a last bit apart between vectorised and leftover lanes, and that
        noise broke the ties into AUCs of 0.49 or 0.51."""
        batch = tf.shape(tf.reshape(inputs[features.ITEM_ID], [-1]))
        rates = self._base_rates()
        return {
            name: tf.fill(batch, rates[name].prob() if name in rates else 0.0)
            for name in features.MODEL_OUTPUTS
        }
