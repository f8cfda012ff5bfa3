"""Evaluator speed: TFMA with the pipeline's EvalConfig on a run's eval examples.

    .venv/bin/python benchmarks/evaluator_bench.py \\
        --model-dir <pipeline_root>/Trainer/model/<id>/Format-Serving \\
        --examples <pipeline_root>/ImpressionLogExampleGen/examples/<id>/Split-eval \\
        --limit 20000 --repeats 3 [--profile]

The Evaluator was the slowest stage of the quality benchmark (BENCHMARKS.md,
section 3), and its cost is per example in the metric combiners, so a slice
of the eval split measures it.  This runs the Evaluator's computation (the
pipeline's ``build_eval_config`` without a baseline, the model's serving
signature, TFMA) in-process on one Beam worker, so the figure is CPU time
per example without process start-up or the second core.
``tests/test_evaluator_bench.py`` checks that it reproduces the pipeline
Evaluator's figures.  It prints
each repeat, the median and examples/s; ``--profile`` adds a cProfile of
the last repeat, by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import io
import os
import pstats
import statistics
import tempfile
import time
from typing import List, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

from evaluation.eval_config import build_eval_config  # noqa: E402
from evaluation.results import load_metrics  # noqa: E402
from evaluation.offline import run_tfma  # noqa: E402



def write_examples(
    examples_dir: str, limit: int, path: str, cycle: bool = False
) -> int:
    """Copies the first ``limit`` serialized examples of a split to ``path``
    (``cycle``: going round the split again until there are ``limit``)."""
    files = sorted(glob.glob(os.path.join(examples_dir, "*")))
    if not files:
        raise FileNotFoundError(f"no example files in {examples_dir}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    dataset = (dataset.repeat() if cycle else dataset).take(limit)
    count = 0
    with tf.io.TFRecordWriter(path) as writer:
        for record in dataset:
            writer.write(record.numpy())
            count += 1
    return count


def evaluate_once(model_dir: str, model_name: str, data_path: str) -> Tuple[float, str]:
    """(seconds, output path) of one TFMA run; checks it wrote the overall slice."""
    start = time.perf_counter()
    output_path = run_tfma(
        build_eval_config(model_name),
        {"": model_dir},
        data_path,
        tempfile.mkdtemp(prefix="evaluator_bench_"),
    )
    seconds = time.perf_counter() - start
    if () not in load_metrics(output_path):
        raise RuntimeError(f"TFMA wrote no overall slice to {output_path}")
    return seconds, output_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True, help="a Format-Serving dir")
    parser.add_argument("--examples", required=True, help="a Split-eval dir")
    parser.add_argument("--model", default="esm2", help="models.registry name")
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="evaluator_bench_")
    data_path = os.path.join(data_dir, "eval.tfrecord")
    count = write_examples(args.examples, args.limit, data_path)
    times: List[float] = []
    profiler = cProfile.Profile()
    for repeat in range(args.repeats):
        last = repeat == args.repeats - 1
        if args.profile and last:
            profiler.enable()
        seconds, _ = evaluate_once(args.model_dir, args.model, data_path)
        times.append(seconds)
        if args.profile and last:
            profiler.disable()
        print(f"repeat {repeat + 1}: {times[-1]:.1f} s", flush=True)
    median = statistics.median(times)
    print(
        f"\nEvaluator (TFMA, in-process, 1 worker), model={args.model}, "
        f"{count:,} eval examples: median {median:.1f} s over {len(times)} repeats, "
        f"{count / median:,.0f} examples/s"
    )
    if args.profile:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
        print(stream.getvalue())


if __name__ == "__main__":
    main()
