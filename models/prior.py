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
from transform import features


class Prior(EntireSpaceModel):
    TASKS = ("ctr", "ctcvr")

    def __init__(self, vocab_sizes, config, **kwargs):
        super().__init__(vocab_sizes, config, **kwargs)
        self.ctr_logit = self.add_weight(
            name="ctr_logit", shape=(), initializer="zeros"
        )
        self.cvr_logit = self.add_weight(
            name="cvr_logit", shape=(), initializer="zeros"
        )

    def compose(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        batch = tf.shape(tf.reshape(inputs[features.ITEM_ID], [-1]))
        pctr = LogProb.from_logit(tf.fill(batch, self.ctr_logit))
        pcvr = LogProb.from_logit(tf.fill(batch, self.cvr_logit))
        return click_then_conversion(pctr, pcvr)
