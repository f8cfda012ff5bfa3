"""Training speed of our models beside DeepCTR's ESMM, on the same in-memory batches.

    .venv/bin/python benchmarks/tower_speed.py --workdir /tmp/bench19/new \\
        --pipeline-name esm2 --variants peer esm2:float32 esm2:bfloat16 \\
        esm2:bfloat16:0 esmm:bfloat16

``peer_esmm.py`` times each model over one pass through the Trainer's input
pipeline, which on a shared machine mixes the models' cost with reading and
with whatever else runs. This takes ``--batches`` of one run's transformed
train split into memory once and times every variant on those same batches,
one after the other in this process: windows of ``WINDOW`` steps after
``--warmup``, reported as the best, upper-quartile and median windows (on a
shared machine the best window is the least disturbed one).

A variant is ``peer`` (DeepCTR's ESMM, ``peer_esmm.PeerConfig``) or
``MODEL:PRECISION[:DROPOUT]`` (a ``models.registry`` name, a
``ModelConfig.matmul_precision``, the dropout; default the paper's 0.5),
all at ``--tower-units`` (default the peer's 256-128-64) and, for ours,
``--embedding-dim`` (default 0: each ID feature's own width from
``transform/features.py``; 16 is the peer's width for every feature).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Dict, List, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402

try:  # imported as benchmarks.tower_speed
    from benchmarks import peer_esmm, trainer_bench  # noqa: E402
except ImportError:  # run as benchmarks/tower_speed.py: its folder is on sys.path
    import peer_esmm  # noqa: E402
    import trainer_bench  # noqa: E402
from models.config import ModelConfig  # noqa: E402
from models.registry import build_model  # noqa: E402
from models.trainer import input_dataset, trainer_fn_args  # noqa: E402
from pipeline import run_summary  # noqa: E402
from transform.preprocessing import vocabulary_sizes  # noqa: E402

PEER = "peer"
WINDOW = 10  # steps per timed window


def build_variant(
    variant: str,
    vocab: Dict[str, int],
    towers: Tuple[int, ...],
    batch: int,
    embedding_dim: int = ModelConfig.embedding_dim,
) -> Tuple[tf_keras.Model, bool]:
    """(compiled model, whether it takes the peer's batch format)."""
    if variant == PEER:
        config = dataclasses.replace(peer_esmm.PeerConfig(), peer_tower_units=towers)
        return peer_esmm.build_peer(vocab, config, seed=0), True
    model, precision, *dropout = variant.split(":")
    config = ModelConfig(
        model=model,
        tower_units=towers,
        matmul_precision=precision,
        dropout=float(dropout[0]) if dropout else ModelConfig.dropout,
        batch_size=batch,
        embedding_dim=embedding_dim,
    )
    return build_model(vocab, config), False


def window_rates(
    model: tf_keras.Model, batches: tf.data.Dataset, steps: int, warmup: int, batch: int
) -> List[float]:
    """Examples/s of every timed window, fastest first."""
    timer = trainer_bench.StepTimer()
    model.fit(
        batches, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[timer]
    )
    timed = timer.durations[warmup:]
    starts = range(0, len(timed) - WINDOW + 1, WINDOW)
    windows = [sum(timed[i : i + WINDOW]) for i in starts]
    return sorted((batch * WINDOW / w for w in windows), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="holds a pipeline run")
    parser.add_argument("--pipeline-name", default="esm2")
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--tower-units", type=int, nargs="+", default=[256, 128, 64])
    parser.add_argument(
        "--embedding-dim", type=int, default=ModelConfig.embedding_dim
    )
    parser.add_argument("--batch-size", type=int, default=ModelConfig.batch_size)
    parser.add_argument("--batches", type=int, default=140, help="held in memory")
    parser.add_argument("--steps", type=int, default=270)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()

    summary = run_summary.summarize(
        os.path.join(args.workdir, "metadata.sqlite"), args.pipeline_name
    )
    fn_args = trainer_fn_args(summary.artifacts)
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    vocab = vocabulary_sizes(tft_output)
    batches = input_dataset(
        fn_args.train_files,
        fn_args.data_accessor,
        tft_output,
        args.batch_size,
        shuffle=True,
    )
    batches = batches.take(args.batches).cache()
    for _ in batches:  # materialise before timing
        pass
    towers = tuple(args.tower_units)
    print(
        f"towers {'-'.join(map(str, towers))}, batch {args.batch_size}, "
        f"our embeddings {args.embedding_dim or 'per feature'}, "
        f"{args.steps} timed steps after {args.warmup}, {os.cpu_count()} cores"
    )
    print(f"{'variant':<22} {'best':>9} {'quartile':>9} {'median':>9}  examples/s")
    for variant in args.variants:
        tf_keras.utils.set_random_seed(0)
        model, peer_format = build_variant(
            variant, vocab, towers, args.batch_size, args.embedding_dim
        )
        data = batches.repeat()
        if peer_format:
            data = data.map(peer_esmm.peer_batch)
        rates = window_rates(model, data, args.steps, args.warmup, args.batch_size)
        quartile, median = rates[len(rates) // 4], rates[len(rates) // 2]
        print(
            f"{variant:<22} {rates[0]:>9,.0f} {quartile:>9,.0f} {median:>9,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
