"""The paper's DNN baseline: two independent networks.

A CTR network trained on all impressions and a CVR network trained on clicked
impressions only (the "click -> purchase" path), each with its own
embeddings, as in section 4.1.3. pCTCVR = pCTR * pCVR, pCTAVR is exported as 0.
Training the CVR net on clicks only is exactly the sample-selection bias that
ESMM and ESM2 remove, which is what this baseline is for.
"""

from __future__ import annotations

from typing import Dict

import tensorflow as tf

from models.base import EntireSpaceModel, Features, click_then_conversion
from models.layers import SharedEmbedding
from models.probability import LogProb
from transform import tasks


class DNN(EntireSpaceModel):
    TASKS = (tasks.CTR, tasks.CVR)
    TOWERS = ("ctr", "cvr")

    def __init__(self, vocab_sizes, config, **kwargs):
        super().__init__(vocab_sizes, config, **kwargs)
        self.ctr_embedding = SharedEmbedding(
            vocab_sizes,
            config.id_unknown_rate,
            config.embedding_dim,
            name="ctr_embedding",
        )
        self.cvr_embedding = SharedEmbedding(
            vocab_sizes,
            config.id_unknown_rate,
            config.embedding_dim,
            name="cvr_embedding",
        )

    def compose(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        ctr_input = self.ctr_embedding(inputs, training=training)
        cvr_input = self.cvr_embedding(inputs, training=training)
        # Each tower reads its own embeddings: a (2, batch, width) stack.
        logits = self.towers(tf.stack([ctr_input, cvr_input]), training=training)
        pctr, pcvr = self.tower_probabilities(logits, inputs, training)
        return click_then_conversion(pctr, pcvr)
