"""Evaluator peak memory against its eval-set size.

    .venv/bin/python benchmarks/evaluator_memory.py \\
        --model-dir <pipeline_root>/Trainer/model/<id>/Format-Serving \\
        --examples <pipeline_root>/ImpressionLogExampleGen/examples/<id>/Split-eval \\
        --sizes 60000 480000 [--code-dir <another checkout>]

For each size, the eval split's examples are written (cycled, when the size
exceeds the split) to one file, and the Evaluator's computation (the
pipeline's EvalConfig, TFMA in-process on one Beam worker, as
``benchmarks/evaluator_bench.py``) runs in a fresh process whose peak
resident memory (``ru_maxrss``) is printed beside its wall time: once with
the full EvalConfig, once without GAUC and once with a baseline model (the
same model twice, as the pipeline's runs after the first have: the paired
DeLong test). GAUC and the paired test are the figures that need the
examples themselves; they spill them to files (``evaluation/spill.py``), so
all three should grow alike. ``--configs`` picks some. ``--code-dir`` runs the children from another
checkout of the project (e.g. a ``git worktree`` of an older commit) on the
same files, so the before and after of a change are measured alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import List

try:  # imported as benchmarks.evaluator_memory
    from benchmarks import evaluator_bench
except ImportError:  # run as benchmarks/evaluator_memory.py: its folder is on sys.path
    import evaluator_bench

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIGS = ("full", "without GAUC", "with baseline")


def child(model_dir: str, data_path: str, config: str) -> None:
    """One Evaluator run; prints its seconds and peak RSS as JSON."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow_model_analysis as tfma

    from evaluation.eval_config import build_eval_config
    from evaluation.offline import run_tfma

    baseline = config == "with baseline"
    eval_config = build_eval_config("esm2", baseline=baseline)
    models = {"": model_dir}
    if baseline:  # the same model as its own baseline: the pipeline's second run
        models = {tfma.CANDIDATE_KEY: model_dir, tfma.BASELINE_KEY: model_dir}
    if config == "without GAUC":
        for spec in eval_config.metrics_specs:
            kept = [m for m in spec.metrics if m.class_name != "GroupAUC"]
            del spec.metrics[:]
            spec.metrics.extend(kept)
    start = time.perf_counter()
    run_tfma(eval_config, models, data_path, tempfile.mkdtemp())
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def measure(code_dir: str, model_dir: str, data_path: str, config: str) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            *("--child", config, "--model-dir", model_dir, "--examples", data_path),
        ],
        cwd=code_dir,
        env=dict(os.environ, PYTHONPATH=code_dir, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--examples", required=True, help="a Split-eval dir")
    parser.add_argument("--sizes", type=int, nargs="+", default=[60_000, 480_000])
    parser.add_argument("--code-dir", default=REPO)
    parser.add_argument(
        "--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS)
    )
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.model_dir, args.examples, args.child)
    data_dir = tempfile.mkdtemp(prefix="evaluator_memory_")
    print(f"code: {args.code_dir}; model: {args.model_dir}")
    header = f"{'eval examples':>14} {'EvalConfig':<14} {'seconds':>8}"
    print(f"{header} {'peak RSS MB':>12}")
    peaks = {config: [] for config in args.configs}
    for size in args.sizes:
        path = os.path.join(data_dir, f"eval-{size}.tfrecord")
        evaluator_bench.write_examples(args.examples, size, path, cycle=True)
        for config in args.configs:
            figures = measure(args.code_dir, args.model_dir, path, config)
            print(
                f"{size:>14,} {config:<14} {figures['seconds']:>8.1f} "
                f"{figures['peak_mb']:>12,.0f}",
                flush=True,
            )
            peaks[config].append(figures["peak_mb"])
        os.remove(path)
    if len(args.sizes) > 1:
        ratio = args.sizes[-1] / args.sizes[0]
        for config, values in peaks.items():
            print(
                f"{config}: peak RSS grew {values[-1] / values[0]:.2f}x "
                f"while the eval set grew {ratio:.0f}x"
            )


if __name__ == "__main__":
    main()
