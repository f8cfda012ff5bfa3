"""Running the benchmark: the logs, then one pipeline run per model and seed.

All runs share one ML Metadata store, so the ExampleGen, statistics and
Transform run once and are reused from the cache: every model trains and is
evaluated on the same examples. Each run's figures are read back from the
Evaluator and the GroundTruthEvaluator (nothing is recomputed on the side).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from typing import Dict, List, Tuple

from evaluation import groundtruth, results
from pipeline import run_summary, runs
from pipeline.config import PipelineConfig
from synthetic.generator import generate
from transform import features

from . import store
from .settings import PIPELINE_NAME, model_config, training_config


def _floats(slice_metrics: Dict) -> Dict[str, float]:
    """The scalar figures of one slice (the JSON keeps no plots or arrays)."""
    return {k: v for k, v in slice_metrics.items() if isinstance(v, float)}


def run_one(args: argparse.Namespace, logs: str, model: str, seed: int) -> Dict:
    """One pipeline run; its overall and per-bucket metrics and ground truth."""
    config = PipelineConfig(
        pipeline_name=PIPELINE_NAME,
        workdir=args.workdir,
        input_base=logs,
        model=model_config(args, model, seed),
        training=training_config(args),
    )
    start = time.perf_counter()
    summary = runs.run(config)
    seconds = time.perf_counter() - start
    metrics = results.candidate_metrics(
        summary.artifacts[run_summary.EVALUATION].uri, model
    )
    truth = summary.groundtruth["slices"]
    return {
        "model": model,
        "seed": seed,
        "model_config": dataclasses.asdict(config.model),
        "seconds": seconds,
        "overall": _floats(metrics[results.OVERALL]),
        "buckets": {
            bucket: _floats(metrics.get(results.bucket_slice(bucket), {}))
            for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
        },
        "groundtruth": truth[groundtruth.OVERALL],
        "groundtruth_buckets": {
            bucket: truth.get(groundtruth.bucket_slice_name(bucket), {})
            for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
        },
    }


def ensure_logs(args: argparse.Namespace) -> str:
    """The ``paper`` preset's logs for these flags, generated only once per
    workdir so that a resumed benchmark trains on the same impressions."""
    logs = os.path.join(args.workdir, f"logs-paper-{args.impressions}-{args.days}d")
    if not os.path.isdir(logs):
        print(
            generate(
                logs, preset="paper", num_impressions=args.impressions, days=args.days
            ).format()
        )
    return logs


def run_all(args: argparse.Namespace) -> Tuple[List[Dict], float]:
    """Generate the logs if needed and run every model and seed in turn.

    With ``--resume``, runs already in the output's .json are kept and not run
    again; the wall time then adds this invocation's to the saved one.
    """
    start = time.perf_counter()
    path = store.runs_path(args.output)
    done, earlier_minutes = [], 0.0
    if args.resume and os.path.exists(path):
        saved = store.load_runs(path)
        done, earlier_minutes = saved["runs"], saved["minutes"]
        print(f"Resuming: {len(done)} runs already in {path}")
    logs = ensure_logs(args)
    saved_runs = {(r["model"], r["seed"]): r for r in done}
    all_runs, minutes = [], earlier_minutes
    for seed in args.seeds:
        for model in args.models:
            run = saved_runs.get((model, seed)) or run_one(args, logs, model, seed)
            all_runs.append(run)
            minutes = earlier_minutes + (time.perf_counter() - start) / 60
            store.save_runs(path, args.command, minutes, all_runs)
    return all_runs, minutes
