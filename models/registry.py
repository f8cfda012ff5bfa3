"""Model names the pipeline config can choose from."""

from __future__ import annotations

from typing import Dict, Mapping, Tuple, Type

import tf_keras

from models.base import EntireSpaceModel
from models.config import ModelConfig
from models.dnn import DNN
from models.esm2 import ESM2
from models.esmm import ESMM
from models.optimizers import LazyAdam
from models.prior import Prior
from transform import tasks

MODELS: Dict[str, Type[EntireSpaceModel]] = {
    "esm2": ESM2,
    "esmm": ESMM,
    "dnn": DNN,
    "prior": Prior,  # no-skill reference: base rates only
}
OPTIMIZERS: Dict[str, Type[tf_keras.optimizers.Optimizer]] = {
    "lazy_adam": LazyAdam,
    "adam": tf_keras.optimizers.Adam,
}


def estimated_tasks(model_name: str) -> Tuple[tasks.Task, ...]:
    """The tasks whose output the named model estimates, so those it is
    evaluated on; it exports the others' outputs as 0 (ESMM's pctavr)."""
    return tasks.estimated_by(MODELS[model_name].TASKS)


def build_model(
    vocab_sizes: Mapping[str, int], config: ModelConfig
) -> EntireSpaceModel:
    """The configured model, compiled with its optimiser (Adam, by default lazy)."""
    if config.model not in MODELS:
        raise ValueError(
            f"unknown model {config.model!r}; choose one of {sorted(MODELS)}"
        )
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {config.optimizer!r}; choose one of {sorted(OPTIMIZERS)}"
        )
    model = MODELS[config.model](vocab_sizes, config, name=config.model)
    model.compile(
        optimizer=OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate)
    )
    return model
