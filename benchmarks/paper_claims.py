"""Does ESM2 beat ESMM, and ESMM the DNN? Table 3 and Figure 7 on known truth.

    .venv/bin/python benchmarks/paper_claims.py --impressions 1320000 --days 6 \\
        --seeds 0 1 2 --output benchmark_results.md

Generates the ``paper`` preset (rare purchases, real selection bias), then runs
the project's own pipeline once per model and seed in one ML Metadata store:
the ExampleGen, statistics and Transform run once and are reused from the
cache, so every model trains and is evaluated on the same examples. It reads
every figure back from the Evaluator and the GroundTruthEvaluator (nothing
is recomputed on the side) and writes a markdown report: each metric's mean
and spread over seeds, model/oracle fractions, the entire-space CVR AUC, the
per-bucket gain of ESM2 over ESMM (Figure 7) and a verdict on each claim of
shared/specs/evaluation.md.

The raw figures go to the report's .json, rewritten after every run: a
benchmark cut off part-way keeps what it measured, ``--from-json`` renders
it, and ``--resume`` runs only the model/seed pairs it lacks.

This file is the command line; the work is in ``benchmarks/claims/`` (running,
statistics, verdicts and the report, a module each).
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

import pipeline  # noqa: F401  (sets the TensorFlow environment first)
from models.config import ModelConfig
from pipeline.dataclass_cli import add_dataclass_arguments

try:  # imported as benchmarks.paper_claims (the tests, peer_esmm's tests)
    from benchmarks.claims import metrics, report, running, settings, stats, store
    from benchmarks.claims import tables, timing
except ModuleNotFoundError:  # run as benchmarks/paper_claims.py: its folder is on path
    from claims import metrics, report, running, settings, stats, store
    from claims import tables, timing

# What peer_esmm.py reads from here, kept importable where it always was.
ORACLE_METRICS = metrics.ORACLE_METRICS
PER_RUN_FIELDS = settings.PER_RUN_FIELDS
Path = stats.Path
mean_and_spread = stats.mean_and_spread
markdown_table = tables.markdown_table
runs_path = store.runs_path
save_runs = store.save_runs


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The benchmark's flags, with the command line recorded in ``command``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impressions", type=int, default=1_320_000)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["esm2", "esmm", "dnn"])
    parser.add_argument(
        "--train-steps", type=int, default=0, help="0: --epochs passes (default)"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--eval-steps", type=int, default=100)
    parser.add_argument("--workdir", default="/tmp/esm2-paper-claims")
    parser.add_argument("--output", default="benchmark_results.md")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs already in the output's .json and run only the rest",
    )
    parser.add_argument(
        "--from-json",
        help="re-render the report from the .json a run wrote, without running",
    )
    add_dataclass_arguments(parser, ModelConfig, exclude=PER_RUN_FIELDS)
    args = parser.parse_args(argv)
    args.command = "benchmarks/paper_claims.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k not in ("command", "from_json", "resume") and v is not None
    )
    return args


def main() -> None:
    args = parse_args()
    if args.from_json:
        saved = store.load_runs(args.from_json)
        args.command, all_runs, minutes = (
            saved["command"],
            saved["runs"],
            saved["minutes"],
        )
    else:
        all_runs, minutes = running.run_all(args)
    models = [m for m in args.models if any(r["model"] == m for r in all_runs)]
    text = report.report(all_runs, models, args)
    text += timing.time_section(args.workdir, all_runs)
    text += f"\nWall time of the whole benchmark: {minutes:.1f} min.\n"
    with open(args.output, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
