"""Throughput of the ImpressionLogExampleGen executor on generated logs.

    PYTHONPATH=. python benchmarks/example_gen_bench.py --input /tmp/logs-1m \
        --generate 1000000                 # writes the logs first if absent
    PYTHONPATH=. python benchmarks/example_gen_bench.py --input /tmp/logs-1m \
        --workers 2 --running-mode multi_processing   # loses records: see README

The logs come from the project's generator (``python -m synthetic``), so the
benchmark measures the same contract the pipeline ingests.  The executor runs
exactly as in a pipeline (its ``Do``), on Beam's DirectRunner with the given
parallelism; wall time includes pipeline construction, planning and writing
the report, i.e. what a pipeline run waits for.  It also prints the
process's peak resident memory (``ru_maxrss``) beside what the imports alone
took, so runs at two sizes give the ExampleGen's memory per impression.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List

from tfx.types import standard_artifacts

from components.impression_example_gen import config, executor, quality


def _parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--input", required=True, help="log directory (impressions/, events/)"
    )
    parser.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="if --input does not exist, generate N "
        "impressions into it with python -m synthetic",
    )
    parser.add_argument(
        "--bad-row-share",
        type=float,
        default=0.0,
        help="bad-row share passed to the generator",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="--direct_num_workers of the DirectRunner",
    )
    parser.add_argument(
        "--running-mode",
        default="in_memory",
        choices=["in_memory", "multi_threading", "multi_processing"],
        help="--direct_running_mode of the DirectRunner (the pipeline's default "
        "is in_memory: see pipeline/config.py LOCAL_BEAM_ARGS)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="where to write the examples (default: a "
        "temporary directory, removed afterwards)",
    )
    parser.add_argument(
        "--max-reject-rate",
        type=float,
        default=1.0,
        help="threshold for the run (1.0: never fail)",
    )
    return parser.parse_args(argv)


def _generate(directory: str, impressions: int, bad_row_share: float) -> None:
    """Writes contract-conformant logs with the project's generator."""
    command = [
        sys.executable,
        "-m",
        "synthetic",
        "--output",
        directory,
        "--impressions",
        str(impressions),
        "--no-progress",
        "--bad-row-share",
        str(bad_row_share),
    ]
    print("generating:", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def _run(
    input_dir: str, output_dir: str, args: argparse.Namespace
) -> quality.DataQualityReport:
    """Runs the executor once, exactly as a pipeline would."""
    beam_args = [
        f"--direct_num_workers={args.workers}",
        f"--direct_running_mode={args.running_mode}",
    ]
    examples = standard_artifacts.Examples()
    examples.uri = output_dir
    context = executor.Executor.Context(
        beam_pipeline_args=beam_args, tmp_dir=tempfile.gettempdir()
    )
    executor.Executor(context).Do(
        {},
        {config.EXAMPLES_KEY: [examples]},
        {
            config.INPUT_BASE_KEY: input_dir,
            config.MAX_REJECT_RATE_KEY: args.max_reject_rate,
        },
    )
    return quality.load_report(output_dir)


def main(argv: List[str]) -> None:
    args = _parse_args(argv)
    imports_mb = _peak_rss_mb()
    if not os.path.exists(args.input):
        if not args.generate:
            raise SystemExit(f"{args.input} does not exist; pass --generate N")
        _generate(args.input, args.generate, args.bad_row_share)
    output_dir = args.output or tempfile.mkdtemp(prefix="example-gen-bench-")
    try:
        start = time.perf_counter()
        report = _run(args.input, output_dir, args)
        seconds = time.perf_counter() - start
    finally:
        if args.output is None:
            shutil.rmtree(output_dir, ignore_errors=True)
    print(report.format())
    print(f"runner: DirectRunner, {args.workers} worker(s), {args.running_mode}")
    print(
        f"impressions read {report.impressions_read:,}, events read "
        f"{report.events_read:,}, examples {report.impressions_accepted:,}"
    )
    print(
        f"wall time {seconds:.1f} s, "
        f"{report.impressions_read / seconds:,.0f} impressions/s"
    )
    print(
        f"peak RSS {_peak_rss_mb():,.0f} MB ({imports_mb:,.0f} MB after imports)"
    )


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main(sys.argv[1:])
