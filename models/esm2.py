"""ESM2 (Wen et al., SIGIR 2020): SEM + four DPM towers + the parameter-free SCM.

    y1 = P(click | impression)        y2 = P(DAction | click)
    y3 = P(purchase | DAction)        y4 = P(purchase | OAction)

    pCTR   = y1
    pCTAVR = y1 * y2
    pCVR   = y2 * y3 + (1 - y2) * y4          (OAction is "not DAction": 1 - y2)
    pCTCVR = y1 * pCVR

Trained on all impressions with w_ctr*L_ctr + w_ctavr*L_ctavr + w_ctcvr*L_ctcvr
(eq. 11). The composition is done on (log p, log(1-p)) pairs
(models/probability.py): probabilities are composed, never logits.
"""

from __future__ import annotations

from typing import Dict

from models.base import EntireSpaceModel, Features
from models.layers import SharedEmbedding
from models.probability import LogProb
from transform import features, tasks


class ESM2(EntireSpaceModel):
    TASKS = (tasks.CTR, tasks.CTAVR, tasks.CTCVR)
    TOWERS = ("y1", "y2", "y3", "y4")

    def __init__(self, vocab_sizes, config, **kwargs):
        super().__init__(vocab_sizes, config, **kwargs)
        self.sem = SharedEmbedding(
            vocab_sizes, config.id_unknown_rate, config.embedding_dim, name="sem"
        )
        # The DPM is ``self.towers``: one tower per decomposed probability y1..y4.

    def decomposed(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        """y1..y4 of the DPM, before composition."""
        shared = self.sem(inputs, training=training)
        logits = self.towers(shared, training=training)
        return dict(
            zip(self.TOWERS, self.tower_probabilities(logits, inputs, training))
        )

    def compose(self, inputs: Features, training: bool) -> Dict[str, LogProb]:
        y = self.decomposed(inputs, training)
        return sequential_composition(y["y1"], y["y2"], y["y3"], y["y4"])


def sequential_composition(
    y1: LogProb, y2: LogProb, y3: LogProb, y4: LogProb
) -> Dict[str, LogProb]:
    """The SCM of section 3.2: eqs. (1)-(4) of the paper."""
    pcvr = y2.mix(y3, y4)  # y2*y3 + (1 - y2)*y4
    return {
        features.OUTPUT_PCTR: y1,
        features.OUTPUT_PCTAVR: y1.times(y2),
        features.OUTPUT_PCVR: pcvr,
        features.OUTPUT_PCTCVR: y1.times(pcvr),
    }
