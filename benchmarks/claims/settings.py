"""What every run of the benchmark is trained with, and how the report says so.

The benchmark loops over models and seeds; every other ModelConfig field is a
command-line flag shared by all runs, and each saved run records its own
ModelConfig so that a report rendered later still names what was trained.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Dict, Iterable

from models.config import ModelConfig
from pipeline.config import TrainingConfig
from pipeline.dataclass_cli import apply_overrides

PIPELINE_NAME = "esm2-paper-claims"
# ModelConfig fields the benchmark sets per run; every other one is a flag.
PER_RUN_FIELDS = ("model", "seed")


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """How long each run trains, from the benchmark's flags."""
    return TrainingConfig(
        train_steps=args.train_steps, epochs=args.epochs, eval_steps=args.eval_steps
    )


def model_config(args: argparse.Namespace, model: str, seed: int) -> ModelConfig:
    """The defaults, overridden by any ModelConfig flag given, for one run."""
    return dataclasses.replace(
        apply_overrides(ModelConfig(), args), model=model, seed=seed
    )


def model_settings(all_runs: Iterable[Dict]) -> str:
    """The hyper-parameters the runs were trained with, for the report."""
    settings = sorted(
        {
            ", ".join(
                f"{k}={v}"
                for k, v in run.get("model_config", {}).items()
                if k not in PER_RUN_FIELDS
            )
            or "not recorded"
            for run in all_runs
        }
    )
    return "; ".join(settings) if len(settings) < 2 else (
        "the runs differ: " + " | ".join(settings)
    )
