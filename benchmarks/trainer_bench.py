"""Trainer speed: examples/s through the Trainer's input pipeline vs in memory.

    .venv/bin/python benchmarks/trainer_bench.py --impressions 200000

Runs the pipeline (generate -> ExampleGen -> Transform -> a short Trainer) in
--workdir unless it already holds a run, then trains the configured model
(default: the paper's ESM2) twice on the same transformed examples:

1. through the Trainer's own input path: the DataAccessor that the TFX
   Trainer builds for ``run_fn`` and ``models.trainer.input_dataset``;
2. on the same batches pre-materialised as in-memory tensors, the bound the
   input pipeline can approach.

It prints both throughputs (median over timed windows, after warm-up) and
their ratio. ``benchmarks/speed.py`` calls ``measure`` on the transformed
examples of its own pipeline run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Dict, List, Mapping

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402

from models.config import ModelConfig  # noqa: E402
from models.registry import build_model  # noqa: E402
from models.trainer import input_dataset, trainer_fn_args  # noqa: E402
from pipeline import run_summary, runs  # noqa: E402
from pipeline.config import PipelineConfig, TrainingConfig  # noqa: E402
from pipeline.dataclass_cli import add_dataclass_arguments, apply_overrides  # noqa: E402
from transform.preprocessing import vocabulary_sizes  # noqa: E402

PIPELINE = "trainer input pipeline"
IN_MEMORY = "in-memory tensors"
WINDOW = 20  # steps per timed window


class StepTimer(tf_keras.callbacks.Callback):
    """Wall time of every training batch."""

    def __init__(self):
        super().__init__()
        self.durations: List[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.durations.append(time.perf_counter() - self._start)


def examples_per_second(
    model, dataset, steps: int, warmup: int, batch_size: int
) -> float:
    """Median throughput over windows of WINDOW steps, after ``warmup`` steps."""
    if steps < WINDOW:
        raise ValueError(f"time at least {WINDOW} steps, not {steps}")
    timer = StepTimer()
    model.fit(
        dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[timer]
    )
    timed = timer.durations[warmup:]
    windows = [
        sum(timed[i : i + WINDOW]) for i in range(0, len(timed) - WINDOW + 1, WINDOW)
    ]
    return batch_size * WINDOW / statistics.median(windows)


def ensure_pipeline_run(
    config: PipelineConfig, impressions: int
) -> run_summary.RunSummary:
    if os.path.exists(config.metadata_path):
        return run_summary.summarize(config.metadata_path, config.pipeline_name)
    runs.ensure_demo_data(config.data_dir, impressions, seed=0)
    return runs.run(config)


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The timing flags; ``prefix`` keeps them apart in a parser shared with others."""
    parser.add_argument(
        f"--{prefix}steps", type=int, default=200, help="timed training steps"
    )
    parser.add_argument(
        f"--{prefix}warmup", type=int, default=20, help="untimed steps before them"
    )


def measure(
    outputs: Mapping[str, metadata_store_pb2.Artifact],
    model_config: ModelConfig,
    steps: int,
    warmup: int,
) -> Dict[str, float]:
    """Examples/s of ``model_config``'s model through the Trainer's input path and
    on the same batches in memory, from a pipeline run's ``outputs``
    (``RunSummary.artifacts``)."""
    fn_args = trainer_fn_args(outputs)
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    vocab = vocabulary_sizes(tft_output)
    batch = model_config.batch_size
    pipeline_data = input_dataset(
        fn_args.train_files, fn_args.data_accessor, tft_output, batch, shuffle=True
    )
    in_memory = pipeline_data.take(warmup + steps).cache()
    for _ in in_memory:  # materialise every batch before timing
        pass

    rates = {}
    for name, dataset in (
        (PIPELINE, pipeline_data),
        (IN_MEMORY, in_memory.repeat()),
    ):
        model = build_model(vocab, model_config)
        rates[name] = examples_per_second(model, dataset, steps, warmup, batch)
    return rates


def format_rates(
    rates: Mapping[str, float], model_config: ModelConfig, steps: int, warmup: int
) -> List[str]:
    """Both throughputs and their ratio, under a line saying what was timed."""
    lines = [
        f"Trainer speed, model={model_config.model}, optimizer={model_config.optimizer}, "
        f"batch={model_config.batch_size}, "
        f"{steps} timed steps after {warmup} warm-up, {os.cpu_count()} CPU cores"
    ]
    for name, rate in rates.items():
        lines.append(f"  {name:<24} {rate:>10,.0f} examples/s")
    ratio = rates[PIPELINE] / rates[IN_MEMORY]
    lines.append(f"  ratio (target >= 0.8)   {ratio:>10.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/esm2-trainer-bench")
    parser.add_argument("--impressions", type=int, default=200_000)
    parser.add_argument(
        "--pipeline-name",
        default=PipelineConfig.pipeline_name,
        help="measure on this pipeline's newest run in --workdir, e.g. a benchmark's",
    )
    add_arguments(parser)
    add_dataclass_arguments(parser, ModelConfig)  # --model, --optimizer, ...
    args = parser.parse_args()

    model_config = apply_overrides(ModelConfig(), args)
    pipeline_config = PipelineConfig(
        pipeline_name=args.pipeline_name,
        workdir=args.workdir,
        model=model_config,
        training=TrainingConfig(train_steps=1, eval_steps=1),
    )
    outputs = ensure_pipeline_run(pipeline_config, args.impressions).artifacts
    rates = measure(outputs, model_config, args.steps, args.warmup)
    print()
    print("\n".join(format_rates(rates, model_config, args.steps, args.warmup)))


if __name__ == "__main__":
    main()
