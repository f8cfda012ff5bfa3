"""How each component's time and memory grow with the data.

    .venv/bin/python benchmarks/pipeline_scaling.py --impressions 1000000 3000000

For each size, ``--preset`` logs (generated once under ``--workdir`` and
kept) run through the pipeline one component per process, in the
pipeline's order. The child for component i builds the pipeline as
``local_runner`` does (LocalDagRunner, Beam's DirectRunner in this process,
ML Metadata in the size's workdir) and runs component i alone, a TFX partial
run whose inputs are the previous child's artifacts. So the child's peak
resident memory (``ru_maxrss``) is component i's on top of the process's
baseline, which a first child that builds the pipeline and runs nothing
measures. A component shown CACHED did not run (an earlier run in the same
workdir had done it): its row measures nothing; use a fresh ``--workdir``.

Printed per size and component: wall time (from ML Metadata), rows/s and
peak RSS, where rows are what the component reads (``READS``): impressions
for the ExampleGen, examples of both splits for StatisticsGen and Transform,
the train examples of one pass (or steps x batch) for the Trainer, eval
examples for the Evaluator and the GroundTruthEvaluator. Then, per
component, how its peak RSS above the baseline grew from the smallest size
to the largest, against how the data grew.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BASELINE = "(baseline)"


@dataclasses.dataclass
class Row:
    """One component at one size."""

    component: str
    seconds: float
    peak_mb: float
    rows: int
    state: str  # the component's MLMD execution state in its child


def child(workdir: str, logs: str, component: str, train_steps: int) -> None:
    """Runs ``component`` alone; prints what it measured as JSON."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from tfx.orchestration import pipeline as pipeline_lib

    from pipeline import run_summary, runs
    from pipeline.config import PipelineConfig, TrainingConfig

    config = PipelineConfig(
        workdir=workdir,
        input_base=logs,
        training=TrainingConfig(train_steps=train_steps),
    )
    os.makedirs(workdir, exist_ok=True)
    built = runs.build_pipeline(config)
    figures: Dict[str, object] = {"order": [c.id for c in built.components]}
    if component != BASELINE:
        # A partial run of this node alone: its inputs are the artifacts of
        # the previous (partial) run, so nothing before it runs again.
        only = pipeline_lib.RunOptions(from_nodes=[component], to_nodes=[component])
        runs.DAG_RUNNERS["local"]().run(built, run_options=only)
        executions = run_summary.latest_run_executions(
            config.metadata_path, config.pipeline_name
        )
        figures["state"] = executions[component].state
        figures["seconds"] = executions[component].seconds
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def run_child(args: Sequence[str]) -> dict:
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child {list(args)} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# What each component reads, in rows: the ExampleGen's impressions, a
# split's examples, or "all" examples; components absent read no rows
# (a schema file, statistics, a model).
READS = {
    "ImpressionLogExampleGen": "impressions",
    "StatisticsGen": "all",
    "Transform": "all",
    "Trainer": "train",
    "Evaluator": "eval",
    "GroundTruthEvaluator": "eval",
}


def rows_read(workdir: str, component: str, train_steps: int, batch: int) -> int:
    """What ``component`` reads, from the ExampleGen's data-quality report."""
    from pipeline import run_summary
    from pipeline.config import PipelineConfig

    config = PipelineConfig(workdir=workdir)
    report = run_summary.summarize(
        config.metadata_path, config.pipeline_name
    ).quality_report
    reads = READS.get(component)
    if report is None or reads is None:
        return 0
    if reads == "impressions":
        return report.impressions_read
    if reads == "all":
        return sum(report.examples_per_split.values())
    if component == "Trainer" and train_steps:
        return train_steps * batch
    return report.examples_per_split.get(reads, 0)


def measure_size(
    workdir: str, logs: str, train_steps: int, batch: int
) -> List[Row]:
    """Every component's row at one size, each from its own child process."""
    base = run_child(["--child", BASELINE, "--child-workdir", workdir, "--logs", logs])
    rows = [Row(BASELINE, 0.0, base["peak_mb"], 0, "-")]
    for component in base["order"]:  # upstream first
        figures = run_child(
            [
                *("--child", component, "--child-workdir", workdir, "--logs", logs),
                *("--train-steps", str(train_steps)),
            ]
        )
        rows.append(
            Row(
                component,
                figures["seconds"],
                figures["peak_mb"],
                rows_read(workdir, component, train_steps, batch),
                figures["state"],
            )
        )
        print(_format_row(rows[-1]), flush=True)
    return rows


def _format_row(row: Row) -> str:
    timed = row.seconds >= 1 and row.rows  # under a second: metadata, not rows
    rate = f"{row.rows / row.seconds:>10,.0f}" if timed else f"{'-':>10}"
    state = "" if row.state in ("COMPLETE", "-") else f"  [{row.state}]"
    return (
        f"  {row.component:<24} {row.seconds:>8.1f} {row.rows:>11,} {rate} "
        f"{row.peak_mb:>9,.0f}{state}"
    )


def growth_lines(
    sizes: Sequence[int], results: Dict[int, List[Row]]
) -> List[str]:
    """Per component: peak RSS above the baseline, smallest size to largest."""
    small, large = min(sizes), max(sizes)
    by_name = {n: {r.component: r for r in results[n]} for n in (small, large)}
    base = {n: by_name[n][BASELINE].peak_mb for n in (small, large)}
    lines = [
        f"Peak RSS above the baseline, {small:,} -> {large:,} impressions "
        f"(data x{large / small:.1f}):"
    ]
    for name, row in by_name[large].items():
        if name == BASELINE or name not in by_name[small]:
            continue
        before = by_name[small][name].peak_mb - base[small]
        after = row.peak_mb - base[large]
        ratio = f"x{after / before:.2f}" if before > 0 else "-"
        lines.append(f"  {name:<24} {before:>8,.0f} -> {after:>8,.0f} MB  {ratio}")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--impressions", type=int, nargs="+", default=[1_000_000, 3_000_000]
    )
    parser.add_argument("--days", type=int, default=7, help="the last is eval")
    parser.add_argument("--preset", default="paper")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help="the Trainer's steps; 0: one pass over the train split",
    )
    parser.add_argument("--workdir", default="/tmp/esm2-scaling")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-workdir", help=argparse.SUPPRESS)
    parser.add_argument("--logs", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child_workdir, args.logs, args.child, args.train_steps)

    sys.path.insert(0, REPO)
    from benchmarks.pipeline_bench import ensure_logs
    from models.config import ModelConfig

    batch = ModelConfig().batch_size
    results: Dict[int, List[Row]] = {}
    for size in args.impressions:
        logs = ensure_logs(args.workdir, args.preset, size, args.days)
        print(
            f"\n{size:,} {args.preset} impressions over {args.days} days, "
            f"{os.cpu_count()} cores, one component per process"
        )
        print(
            f"  {'component':<24} {'seconds':>8} {'rows':>11} {'rows/s':>10} "
            f"{'peak MB':>9}"
        )
        results[size] = measure_size(
            os.path.join(args.workdir, f"run-{size}"), logs, args.train_steps, batch
        )
        print(_format_row(results[size][0]))
    if len(results) > 1:
        print("\n" + "\n".join(growth_lines(args.impressions, results)))


if __name__ == "__main__":
    main()
