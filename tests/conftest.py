"""Shared fixtures: one real pipeline run on tiny generated logs.

Running TFX is the slow part of the suite, so the end-to-end tests share a
single LocalDagRunner run (session scope) and assert on its artifacts.
"""

from __future__ import annotations

import dataclasses

import pytest

# Importing the pipeline package first sets TensorFlow's environment
# (TF_USE_LEGACY_KERAS) for every test module.
from pipeline import runs
from models.config import ModelConfig
from pipeline.config import IngestConfig, PipelineConfig, TrainingConfig

TINY_LOGS = dict(
    preset="dense",
    num_impressions=9_000,
    days=3,
    seed=7,
    num_users=600,
    num_items=300,
    num_categories=20,
    num_brands=60,
    num_shops=80,
    chunk_size=3_000,
    progress=False,
)
# Small towers and batches: the suite checks behaviour, not the paper's figures.
TINY_MODEL = ModelConfig(
    tower_units=(64, 32), dropout=0.1, batch_size=128, learning_rate=0.003
)
# eval_steps=0: each validation reads the whole eval split, so the training-time
# AUCs can be checked against the Evaluator's.
TINY_TRAINING = TrainingConfig(train_steps=300, eval_steps=0)


@pytest.fixture(scope="session")
def tiny_logs(tmp_path_factory) -> str:
    from synthetic.generator import generate

    path = str(tmp_path_factory.mktemp("logs"))
    generate(path, **TINY_LOGS)
    return path


def tiny_pipeline_config(workdir: str, input_base: str, **changes) -> PipelineConfig:
    """A config for fast test runs: in-process Beam, tiny model."""
    return dataclasses.replace(
        PipelineConfig(
            pipeline_name="esm2-test",
            workdir=workdir,
            input_base=input_base,
            beam_pipeline_args=(
                "--direct_running_mode=in_memory",
                "--direct_num_workers=1",
            ),
            ingest=IngestConfig(eval_days=1),
            model=TINY_MODEL,
            training=TINY_TRAINING,
        ),
        **changes,
    )


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, tiny_logs):
    """(config, summary) of one full pipeline run on the tiny logs."""
    config = tiny_pipeline_config(str(tmp_path_factory.mktemp("run")), tiny_logs)
    summary = runs.run(config)
    return config, summary
