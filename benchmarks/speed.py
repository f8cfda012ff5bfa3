"""Speed of the whole system on this machine, in one report.

    .venv/bin/python benchmarks/speed.py --impressions 1000000 --output speed.md

On N synthetic impressions (dense preset unless --preset) it runs, one after
the other so that none competes with another for the cores:

1. the pipeline with each --runner, in a fresh workdir (pipeline_bench):
   every component's wall time and impressions/s, from ML Metadata;
2. the Trainer's examples/s through its own input path against the same
   model on in-memory tensors (trainer_bench), on the transformed examples of
   the first runner's run;
3. Predict latency over gRPC and in-process (serving_bench) of the model that
   run pushed, or of the one it trained when the Evaluator did not bless it
   (the latency does not depend on the blessing).

It ends with one markdown report, also written to --output, that names the
machine, its load when the command started (other work on the machine slows
every figure) and the command.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from typing import List, Sequence, Tuple

import pipeline  # noqa: F401  (sets the TensorFlow environment first)
import pipeline_bench
import serving_bench
import trainer_bench
from pipeline import run_summary
from tfx.utils import path_utils

TRAINER_MODEL = "Trainer.model"


def machine() -> str:
    """The machine as os sees it: every figure depends on its cores and their load."""
    system = os.uname()
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{system.sysname} {system.release} {system.machine}, "
        f"{os.cpu_count()} CPUs (os.cpu_count()), "
        f"load average {load} (1 / 5 / 15 min) at the start"
    )


def served_model(summary: run_summary.RunSummary) -> Tuple[str, str]:
    """The SavedModel to serve and where it comes from: the pushed one if any."""
    if summary.pushed_to:
        return summary.pushed_to, "pushed by the run"
    trained = path_utils.serving_model_path(summary.artifacts[TRAINER_MODEL].uri)
    return trained, "trained by the run, not pushed (the Evaluator did not bless it)"


def section(title: str, lines: Sequence[str]) -> List[str]:
    """A heading over a fenced block, so that the tables keep their columns."""
    return [f"## {title}", "", "```", *lines, "```", ""]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pipeline_bench.add_arguments(
        parser, impressions=1_000_000, runners=("local",), workdir="/tmp/esm2-speed"
    )
    trainer_bench.add_arguments(parser, prefix="trainer-")
    serving_bench.add_arguments(parser, prefix="serving-")
    parser.add_argument("--output", help="also write the report to this file")
    args = parser.parse_args()
    header = [
        "# ESM2 speed on this machine",
        "",
        f"- machine: {machine()}",
        f"- command: `{shlex.join([sys.executable, *sys.argv])}`",
        f"- started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
    ]
    started = time.perf_counter()

    logs = pipeline_bench.ensure_logs(
        args.workdir, args.preset, args.impressions, args.days
    )
    configs = {
        runner: pipeline_bench.runner_config(
            args.workdir, runner, logs, args.train_steps
        )
        for runner in args.runner
    }
    timings = {
        runner: pipeline_bench.timed_run(config, runner)
        for runner, config in configs.items()
    }
    measured_runner = args.runner[0]
    config = configs[measured_runner]
    summary = run_summary.summarize(
        config.metadata_path, config.pipeline_name, config.model.model
    )
    rates = trainer_bench.measure(
        summary.artifacts, config.model, args.trainer_steps, args.trainer_warmup
    )
    model_dir, provenance = served_model(summary)
    options = serving_bench.latency_options(args, prefix="serving-")
    latencies = serving_bench.measure(model_dir, options)

    report = [
        *header,
        f"- logs: {logs}",
        f"- Trainer and serving: on the {measured_runner} run in {config.workdir}",
        f"- served model: {provenance}",
        f"- took: {time.perf_counter() - started:,.0f} s (logs, runs, measurements)",
        "",
        *section(
            f"Pipeline: {args.impressions:,} impressions ({args.preset}, "
            f"{args.days} days), Trainer {config.training.describe()}, batches "
            f"of {config.model.batch_size}",
            pipeline_bench.format_timings(timings, args.impressions),
        ),
        (
            "impr/s: impressions in the logs / the component's wall time "
            "('-' under 1 s: the step handles metadata, not rows)."
        ),
        "",
        *section(
            "Trainer",
            trainer_bench.format_rates(
                rates, config.model, args.trainer_steps, args.trainer_warmup
            ),
        ),
        *section(
            "Serving", serving_bench.format_latencies(model_dir, options, latencies)
        ),
    ]
    text = "\n".join(report)
    print("\n" + text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
        print(f"Report written to {args.output}")


if __name__ == "__main__":
    main()
