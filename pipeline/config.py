"""Pipeline configuration: one dataclass with defaults, overridable from the CLI.

Every runner (local, Beam, Kubeflow) builds its pipeline from a
``PipelineConfig``; the command line can override any field by its name
(``--eval-days 2``, ``--max-reject-rate 0.05``, ``--daction-events cart``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional, Sequence, Tuple

from components.impression_example_gen import config as example_gen_config
from evaluation.eval_config import BlessingThresholds
from models.config import ModelConfig
from pipeline.dataclass_cli import add_dataclass_arguments, apply_overrides
from transform import features

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# A curated schema, reviewed like code (see README, "Why a curated schema").
DEFAULT_SCHEMA_PATH = os.path.join(_PACKAGE_DIR, "schema", "schema.pbtxt")

# Beam on the local machine: the DirectRunner in this process.  Its
# multi-process mode (Beam 2.60) loses records: on the benchmark's 1.32M
# impressions it dropped 25,568 of 1.1M train examples between the
# ExampleGen's join and its writer, on 5.28M also ~1.1M impressions before
# the join, without an error; its multi-threaded mode failed on a corrupt
# stream.  In-process, the ExampleGen on 1.32M took 89 s against 76 s.  The
# README ("Beam, Kubeflow and the cluster") has the figures and the cluster
# settings.
LOCAL_BEAM_ARGS: Tuple[str, ...] = (
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
)


@dataclasses.dataclass
class IngestConfig:
    """How the ExampleGen reads the impression logs (impression_logs.md)."""

    first_day: Optional[str] = None  # 'YYYY-MM-DD'; default: the earliest day
    last_day: Optional[str] = None  # 'YYYY-MM-DD'; default: the latest day
    eval_days: int = example_gen_config.DEFAULT_EVAL_DAYS  # the last N days: eval split
    daction_events: Tuple[str, ...] = features.DEFAULT_DACTION_EVENTS
    attribution_window_days: int = features.DEFAULT_ATTRIBUTION_WINDOW_DAYS
    # Fail past this share of rejected impressions.
    max_reject_rate: float = example_gen_config.DEFAULT_MAX_REJECT_RATE


@dataclasses.dataclass
class TrainingConfig:
    """How long the Trainer runs (batches of ``ModelConfig.batch_size``).

    By default one pass over the train split, whatever its size: CTR models
    with ID embeddings overfit from the second pass on (models/trainer.py).
    """

    # Batches to train on, repeating the split as needed; 0: ``epochs`` passes.
    train_steps: int = 0
    epochs: int = 1
    # Eval batches validated after each round; 0: the whole eval split.
    eval_steps: int = 100

    def describe(self) -> str:
        """How long the Trainer trains, for reports: "2 passes", "3000 steps"."""
        if self.train_steps:
            return f"{self.train_steps} steps"
        return (
            f"{self.epochs} pass{'es' if self.epochs > 1 else ''} over the train split"
        )


@dataclasses.dataclass
class PipelineConfig:
    """Everything a pipeline run needs; paths default to places under workdir."""

    pipeline_name: str = "esm2"
    workdir: str = "workdir"
    # Where components write artifacts; default <workdir>/pipeline_root. A
    # gs:// or s3:// root lets Dataflow or Flink workers read and write them
    # while ML Metadata stays in <workdir>.
    artifact_root: Optional[str] = None
    input_base: Optional[str] = None  # default: <workdir>/data
    schema_path: str = DEFAULT_SCHEMA_PATH
    enable_cache: bool = True
    beam_pipeline_args: Tuple[str, ...] = LOCAL_BEAM_ARGS
    ingest: IngestConfig = dataclasses.field(default_factory=IngestConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    blessing: BlessingThresholds = dataclasses.field(default_factory=BlessingThresholds)
    # Blessed models are pushed to <serving_base>/<serving_model_name>/<version>/.
    serving_base: Optional[str] = None  # default: <workdir>/serving
    serving_model_name: str = "esm2"
    # Score against the true probabilities; default: when the logs have them.
    groundtruth: Optional[bool] = None
    # Where the Evaluator's GAUC and paired test spill each slice's rows
    # (every Beam worker must reach it: evaluation/spill.py); default
    # <pipeline_root>/tmp/evaluator-spill, under the artifact root.
    evaluator_spill_dir: Optional[str] = None
    # Transform's own TFDV statistics of its input and output (pre- and
    # post-transform). Off: StatisticsGen computes the input's already.
    transform_statistics: bool = False

    @property
    def data_dir(self) -> str:
        return _absolute(self.input_base or os.path.join(self.workdir, "data"))

    @property
    def pipeline_root(self) -> str:
        root = self.artifact_root or os.path.join(self.workdir, "pipeline_root")
        return _absolute(os.path.join(root, self.pipeline_name))

    @property
    def spill_dir(self) -> str:
        return _absolute(
            self.evaluator_spill_dir
            or os.path.join(self.pipeline_root, "tmp", "evaluator-spill")
        )

    @property
    def push_base_directory(self) -> str:
        base = self.serving_base or os.path.join(self.workdir, "serving")
        return _absolute(os.path.join(base, self.serving_model_name))

    @property
    def has_groundtruth(self) -> bool:
        if self.groundtruth is not None:
            return self.groundtruth
        return os.path.isdir(os.path.join(self.data_dir, features.GROUNDTRUTH_DIR))

    @property
    def metadata_path(self) -> str:
        return _absolute(os.path.join(self.workdir, "metadata.sqlite"))


def _absolute(path: str) -> str:
    """Local paths made absolute; URIs (gs://, s3://, ...) left as they are."""
    return path if "://" in path else os.path.abspath(path)


def parse_config(
    argv: Optional[Sequence[str]] = None,
    parser: Optional[argparse.ArgumentParser] = None,
    base: Optional[PipelineConfig] = None,
) -> Tuple[PipelineConfig, argparse.Namespace]:
    """Parses ``argv`` into a ``PipelineConfig`` (and the raw namespace)."""
    parser = parser or argparse.ArgumentParser()
    add_dataclass_arguments(parser, PipelineConfig)
    args = parser.parse_args(argv)
    return apply_overrides(base or PipelineConfig(), args), args
