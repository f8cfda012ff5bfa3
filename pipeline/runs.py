"""Running the pipeline on this machine, with either local orchestrator.

``LocalDagRunner`` and ``BeamDagRunner`` run the same ``create_pipeline``
graph with ML Metadata in SQLite; the thin entry points ``local_runner`` and
``beam_runner`` choose one. (The Beam *orchestrator* is separate from the
Beam *runner* of the components' data processing, which
``--beam-pipeline-args`` selects: DirectRunner here, Dataflow or Flink on a
cluster, see the README.)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Callable, Dict, Optional, Sequence

from tfx import v1 as tfx
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

from pipeline import run_summary
from pipeline.config import PipelineConfig, TrainingConfig, parse_config
from pipeline.pipeline import create_pipeline
from transform import features

DAG_RUNNERS: Dict[str, Callable[[], object]] = {
    "local": tfx.orchestration.LocalDagRunner,
    "beam": BeamDagRunner,
}

# The demo's built-in data: small enough to run in a few minutes on 2 cores.
DEMO_IMPRESSIONS = 20_000
DEMO_DAYS = 4
DEMO_PRESET = "dense"
# About 10 passes over the demo's training days; flags still override it.
DEMO_CONFIG = dataclasses.replace(
    PipelineConfig(), training=TrainingConfig(train_steps=150, eval_steps=5)
)


def build_pipeline(
    config: PipelineConfig, with_metadata: bool = True
) -> tfx.dsl.Pipeline:
    """The pipeline of ``config``; MLMD in SQLite unless the orchestrator brings its own."""
    return create_pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        input_base=config.data_dir,
        schema_path=config.schema_path,
        ingest=config.ingest,
        model=config.model,
        training=config.training,
        blessing=config.blessing,
        push_base_directory=config.push_base_directory,
        groundtruth=config.has_groundtruth,
        evaluator_spill_dir=config.spill_dir,
        transform_statistics=config.transform_statistics,
        beam_pipeline_args=config.beam_pipeline_args,
        enable_cache=config.enable_cache,
        metadata_connection_config=(
            run_summary.sqlite_connection(config.metadata_path)
            if with_metadata
            else None
        ),
    )


def run(config: PipelineConfig, runner: str = "local") -> run_summary.RunSummary:
    """Runs the pipeline with the named orchestrator; returns what it produced."""
    if runner not in DAG_RUNNERS:
        raise ValueError(
            f"unknown runner {runner!r}; choose one of {sorted(DAG_RUNNERS)}"
        )
    os.makedirs(config.workdir, exist_ok=True)
    DAG_RUNNERS[runner]().run(build_pipeline(config))
    return run_summary.summarize(
        config.metadata_path, config.pipeline_name, config.model.model
    )


def ensure_demo_data(data_dir: str, impressions: int, seed: int) -> None:
    """Generates the demo's logs into ``data_dir`` unless they are there."""
    if os.path.isdir(os.path.join(data_dir, features.IMPRESSIONS_DIR)):
        print(f"Using the logs already in {data_dir}")
        return
    from synthetic import generator  # only the demo needs the generator

    summary = generator.generate(
        data_dir,
        preset=DEMO_PRESET,
        num_impressions=impressions,
        days=DEMO_DAYS,
        seed=seed,
        progress=False,
    )
    print(summary.format())


def main(
    argv: Optional[Sequence[str]] = None, runner: str = "local", description: str = ""
) -> None:
    """Command line of the local entry points: any config field is a flag."""
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n")[0])
    parser.add_argument(
        "--demo",
        action="store_true",
        help="generate small synthetic logs into <workdir>/data first (if absent)",
    )
    parser.add_argument("--demo-impressions", type=int, default=DEMO_IMPRESSIONS)
    parser.add_argument("--demo-seed", type=int, default=0)
    argv = sys.argv[1:] if argv is None else list(argv)
    config, args = parse_config(
        argv, parser, base=DEMO_CONFIG if "--demo" in argv else None
    )
    logging.basicConfig(level=logging.INFO)
    if args.demo:
        ensure_demo_data(config.data_dir, args.demo_impressions, args.demo_seed)
    print(run(config, runner).format())
