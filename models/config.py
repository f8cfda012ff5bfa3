"""Model hyper-parameters; the defaults are the ESM2 paper's (Table 2, section 4.3)."""

from __future__ import annotations

import dataclasses
from typing import Tuple


@dataclasses.dataclass
class ModelConfig:
    """What the Trainer builds and how it optimises it."""

    model: str = "esm2"  # esm2 | esmm | dnn | prior (models/registry.py)
    tower_units: Tuple[int, ...] = (512, 256, 128, 32)  # then a 1-unit output
    dropout: float = 0.5
    # Width of every ID feature's embedding: 0 keeps each feature's own width
    # (transform/features.py, the paper's section 4.3: item 128, user 64, ...);
    # n gives every ID feature n, as DeepCTR's one ``embedding_dim`` does.
    # The towers' first layer, the largest, scales with the sum of the widths.
    embedding_dim: int = 0
    # The towers' training matmuls: auto (bfloat16 where the CPU or every GPU
    # has bfloat16 matmul units, else float32) | float32 | bfloat16. Weights,
    # updates, evaluation and serving are float32 (models/precision.py).
    matmul_precision: str = "auto"
    learning_rate: float = 0.0005
    # lazy_adam: Adam that updates only the embedding rows a batch looked up
    # (models/optimizers.py); adam: tf_keras's Adam, which moves every row of
    # every table each step. Same update for the dense layers.
    optimizer: str = "lazy_adam"
    batch_size: int = 1000
    # ESM2's loss weights (eq. 11); ESMM uses ctr and ctcvr, the DNN ctr and cvr.
    loss_weight_ctr: float = 1.0
    loss_weight_ctavr: float = 1.0
    loss_weight_ctcvr: float = 1.0
    loss_weight_cvr: float = 1.0
    # Share of training lookups of each ID feature sent to a random OOV
    # bucket, so every OOV row is trained: a request with a missing or new
    # ID gets a learned "unknown" embedding, not its random initial value.
    id_unknown_rate: float = 0.01
    # Share of training examples whose position is hidden, which trains the
    # position-bias offset the served model uses (position is unknown when
    # ranking; models/layers.py, PositionBias).
    position_unknown_rate: float = 0.1
    # Seeds weight initialisation, dropout and shuffling; runs that differ
    # only in it measure the spread of a model's figures.
    seed: int = 0

    def loss_weight(self, task: str) -> float:
        """The weight of a task's loss, by its name (``transform.tasks``):
        the ``loss_weight_<task>`` field, so the pipeline config's flags name
        each weight."""
        return getattr(self, f"loss_weight_{task}")
