"""ESMM (Ma et al., SIGIR 2018), the baseline: impression -> click -> purchase.

CTR and CVR towers on shared embeddings, pCTCVR = pCTR * pCVR, trained on the
CTR and CTCVR losses over all impressions. It does not model DActions, so its
pCTAVR output is exported as 0 (shared/specs/evaluation.md).
"""

from __future__ import annotations

from typing import Dict

from models.base import EntireSpaceModel, Features, click_then_conversion
from models.layers import SharedEmbedding
from models.probability import LogProb
from transform import tasks


class ESMM(EntireSpaceModel):
    TASKS = (tasks.CTR, tasks.CTCVR)
    TOWERS = ("ctr", "cvr")

    def __init__(self, vocab_sizes, config, **kwargs):
        super().__init__(vocab_sizes, config, **kwargs)
        self.sem = SharedEmbedding(
            vocab_sizes, config.id_unknown_rate, config.embedding_dim, name="sem"
        )

    def compose(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        shared = self.sem(inputs, training=training)
        pctr, pcvr = self.tower_probabilities(
            self.towers(shared, training=training), inputs, training
        )
        return click_then_conversion(pctr, pcvr)
