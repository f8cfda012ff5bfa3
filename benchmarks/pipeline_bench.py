"""Wall time of every pipeline component, with either local orchestrator.

    .venv/bin/python benchmarks/pipeline_bench.py --impressions 200000 --runner local beam

Generates the logs once (dense preset unless --preset), then for each runner
runs the whole pipeline in a fresh workdir and prints, from ML Metadata, each
component's wall time and impressions/s (impressions read by the ExampleGen
divided by the component's time), and the run's total wall time.

``benchmarks/speed.py`` imports the functions below to put these figures in
its report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from typing import Dict, List, Mapping, Sequence

import pipeline  # noqa: F401  (sets the TensorFlow environment first)
from pipeline import run_summary, runs
from pipeline.config import PipelineConfig, TrainingConfig
from pipeline.pipeline import COMPONENT_IDS
from synthetic.generator import generate

ORDER = COMPONENT_IDS
TOTAL = "total (wall)"


def add_arguments(
    parser: argparse.ArgumentParser,
    impressions: int,
    runners: Sequence[str],
    workdir: str,
) -> None:
    """The flags of a benchmarked run; the defaults differ per script."""
    parser.add_argument(
        "--impressions", type=int, default=impressions, help="synthetic impressions"
    )
    parser.add_argument("--days", type=int, default=7, help="days they span")
    parser.add_argument("--preset", default="dense", help="generator preset")
    parser.add_argument(
        "--runner",
        nargs="+",
        choices=sorted(runs.DAG_RUNNERS),
        default=list(runners),
        help="orchestrators; each runs the pipeline from scratch",
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help="the pipeline Trainer's steps; 0: one pass over the train split",
    )
    parser.add_argument(
        "--workdir", default=workdir, help="logs (kept and reused) and runs"
    )


def ensure_logs(workdir: str, preset: str, impressions: int, days: int) -> str:
    """Synthetic logs under ``workdir``, generated once per size and reused."""
    logs = os.path.join(workdir, f"logs-{preset}-{impressions}-{days}d")
    if not os.path.isdir(logs):
        generate(logs, preset=preset, num_impressions=impressions, days=days)
    return logs


def runner_config(
    workdir: str, runner: str, logs: str, train_steps: int
) -> PipelineConfig:
    """One runner's run: its own workdir (so runs never share a cache), shared logs."""
    return PipelineConfig(
        workdir=os.path.join(workdir, f"run-{runner}"),
        input_base=logs,
        training=TrainingConfig(train_steps=train_steps, eval_steps=50),
    )


def timed_run(config: PipelineConfig, runner: str) -> Dict[str, float]:
    """Component id (and TOTAL) -> seconds, of a run from scratch in its workdir."""
    shutil.rmtree(config.workdir, ignore_errors=True)
    start = time.perf_counter()
    runs.run(config, runner)
    total = time.perf_counter() - start
    executions = run_summary.latest_run_executions(
        config.metadata_path, config.pipeline_name
    )
    seconds = {node: e.seconds for node, e in executions.items() if node in ORDER}
    seconds[TOTAL] = total
    return seconds


def format_timings(
    timings: Mapping[str, Mapping[str, float]], impressions: int
) -> List[str]:
    """A table of seconds and impressions/s per component, a column pair per runner."""
    header = "".join(f"{r + ' s':>12}{'impr/s':>11}" for r in timings)
    lines = [f"{'component':<26}{header}"]
    for node in (*ORDER, TOTAL):
        cells = ""
        for runner_timings in timings.values():
            seconds = runner_timings.get(node)
            if seconds is None:
                cells += f"{'-':>12}{'':>11}"
            else:
                # Steps that take under a second handle metadata, not rows.
                rate = f"{impressions / seconds:,.0f}" if seconds >= 1 else "-"
                cells += f"{seconds:>12.1f}{rate:>11}"
        lines.append(f"{node:<26}{cells}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(
        parser,
        impressions=200_000,
        runners=("local", "beam"),
        workdir="/tmp/esm2-pipeline-bench",
    )
    args = parser.parse_args()

    logs = ensure_logs(args.workdir, args.preset, args.impressions, args.days)
    timings = {
        runner: timed_run(
            runner_config(args.workdir, runner, logs, args.train_steps), runner
        )
        for runner in args.runner
    }
    print(
        f"\nPipeline on {args.impressions:,} impressions ({args.preset}, {args.days} days), "
        f"{os.cpu_count()} CPU cores, Trainer "
        f"{TrainingConfig(train_steps=args.train_steps).describe()}, batches of 1000"
    )
    print("\n".join(format_timings(timings, args.impressions)))


if __name__ == "__main__":
    main()
