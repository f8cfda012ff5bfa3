"""Serving latency: one Predict that ranks 200 candidates, gRPC vs in-process.

    .venv/bin/python benchmarks/serving_bench.py --workdir workdir
    .venv/bin/python benchmarks/serving_bench.py --model-dir PATH/Format-Serving

Starts ``python -m serving serve`` as a subprocess (its own process and GIL,
as in production) on 127.0.0.1, port 0, over a temporary base path holding
the model as version 1, and measures the latency of one Predict request of
``--candidates`` serialized tf.Examples (one user, that many items):

1. over gRPC, through the real ``PredictionServiceStub``, from 1 and from 8
   client threads;
2. in-process, without gRPC: this process calls the loaded signature
   directly (``tf.constant`` of the examples -> signature -> numpy), from 1
   and from 8 threads;
3. "server path": the server's own Predict code (``Servable.predict`` on the
   request's protos, with its direct function call) in this process, without
   gRPC: the difference to 1. is the transport, to 2. the server's code.

The machine is shared, so the modes are measured in interleaved blocks
(a block of gRPC requests, a block of in-process calls, and again): noise
from elsewhere falls on both alike. Prints p50 and p99 per mode over
``--requests`` requests after ``--warmup``, and checks the targets: gRPC p99
at concurrency 1 <= 20 ms, gRPC p50 <= 1.3 x in-process p50.
``benchmarks/speed.py`` calls ``measure`` on the model that its own pipeline
run pushed or trained.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, Iterator, List, Mapping, Sequence, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tfx.utils import path_utils  # noqa: E402

from serving import client  # noqa: E402
from serving.servable import Servable  # noqa: E402
from transform import features  # noqa: E402

MODEL_NAME = "esm2"
READY_PREFIX = "Serving gRPC on "
P99_TARGET_MS = 20.0
RATIO_TARGET = 1.3


def newest_trainer_model(workdir: str) -> str:
    """The newest ``Trainer/model/*/Format-Serving`` under a pipeline workdir."""
    pattern = path_utils.serving_model_dir(
        os.path.join(workdir, "pipeline_root", "*", "Trainer", "model", "*")
    )
    found = glob.glob(pattern)
    if not found:
        raise SystemExit(f"no Trainer model under {workdir} (looked for {pattern})")
    return max(found, key=os.path.getmtime)


def _value(column: features.Column, rng: np.random.Generator):
    """A plausible value of ``column`` within its validity bounds."""
    if column.role == features.ROLE_ID:
        if column.dtype is str:
            return f"{column.name}-{rng.integers(1000)}"
        return int(rng.integers(10))
    if column.dtype is int:
        return int(rng.integers(100))
    if column.min_value is not None and column.max_value is not None:
        return float(rng.uniform(column.min_value, column.max_value))
    if column.min_value is not None:
        return float(column.min_value + rng.lognormal(3.0, 1.0))
    return float(rng.normal())


def user_and_candidates(count: int, seed: int = 0) -> Tuple[Dict, List[Dict]]:
    """One synthetic user and ``count`` synthetic items, all model features set."""
    rng = np.random.default_rng(seed)
    columns = features.SERVING_COLUMNS_BY_NAME
    user = {name: _value(columns[name], rng) for name in features.USER_FEATURES}
    item_names = [name for name in columns if name not in features.USER_FEATURES]
    items = [
        {name: _value(columns[name], rng) for name in item_names} for _ in range(count)
    ]
    return user, items


@contextlib.contextmanager
def model_server(model_dir: str, server_args: Sequence[str]) -> Iterator[str]:
    """A ``python -m serving serve`` subprocess serving ``model_dir`` as version 1."""
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as base:
        os.makedirs(os.path.join(base, MODEL_NAME))
        os.symlink(os.path.abspath(model_dir), os.path.join(base, MODEL_NAME, "1"))
        command = [
            sys.executable,
            "-m",
            "serving",
            "serve",
            "--model-base-path",
            os.path.join(base, MODEL_NAME),
            "--model-name",
            MODEL_NAME,
            "--port",
            "0",
            "--log-level",
            "WARNING",
            *server_args,
        ]
        env = dict(os.environ, PYTHONPATH=REPO)
        with open(os.path.join(base, "server.log"), "w+") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            try:
                for line in process.stdout:
                    if line.startswith(READY_PREFIX):
                        yield line[len(READY_PREFIX) :].strip()
                        break
                else:
                    log.seek(0)
                    raise SystemExit(
                        f"the server exited before it was ready:\n{log.read()}"
                    )
            finally:
                process.terminate()
                process.wait(timeout=60)


def timed_calls(
    call: Callable[[], object], count: int, concurrency: int
) -> List[float]:
    """Latencies in ms of ``count`` calls spread over ``concurrency`` threads."""
    per_thread = -(-count // concurrency)
    results: List[List[float]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency)

    def worker(out: List[float]) -> None:
        start.wait()
        for _ in range(per_thread):
            began = time.perf_counter()
            call()
            out.append((time.perf_counter() - began) * 1e3)

    threads = [threading.Thread(target=worker, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [value for out in results for value in out]


def interleaved(
    calls: Mapping[str, Callable[[], object]],
    requests: int,
    concurrency: int,
    blocks: int,
) -> Dict[str, np.ndarray]:
    """Every mode's latencies, measured in alternating blocks."""
    latencies: Dict[str, List[float]] = {name: [] for name in calls}
    for _ in range(blocks):
        for name, call in calls.items():
            latencies[name] += timed_calls(call, -(-requests // blocks), concurrency)
    return {name: np.asarray(values) for name, values in latencies.items()}


@dataclasses.dataclass(frozen=True)
class LatencyOptions:
    """What one measurement sends: see the module docstring."""

    candidates: int
    requests: int  # per mode and concurrency
    warmup: int
    blocks: int  # interleaved blocks per figure
    concurrency: Tuple[int, ...]
    server_args: Tuple[str, ...]  # extra flags for `python -m serving serve`


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The flags of LatencyOptions; ``prefix`` keeps them apart in a shared parser."""
    parser.add_argument(
        f"--{prefix}candidates", type=int, default=200, help="items per Predict"
    )
    parser.add_argument(
        f"--{prefix}requests", type=int, default=1000, help="per mode and concurrency"
    )
    parser.add_argument(
        f"--{prefix}warmup", type=int, default=100, help="untimed requests first"
    )
    parser.add_argument(
        f"--{prefix}blocks", type=int, default=10, help="interleaved blocks per figure"
    )
    parser.add_argument(
        f"--{prefix}concurrency",
        type=int,
        nargs="+",
        default=[1, 8],
        help="client threads, a figure each",
    )
    parser.add_argument(
        f"--{prefix}server-arg",
        action="append",
        default=[],
        help="extra flag for `python -m serving serve` (repeatable), "
        f"e.g. --{prefix}server-arg=--workers=4",
    )


def latency_options(args: argparse.Namespace, prefix: str = "") -> LatencyOptions:
    """The LatencyOptions that ``add_arguments(parser, prefix)``'s flags set."""
    dest = prefix.replace("-", "_")
    return LatencyOptions(
        candidates=getattr(args, f"{dest}candidates"),
        requests=getattr(args, f"{dest}requests"),
        warmup=getattr(args, f"{dest}warmup"),
        blocks=getattr(args, f"{dest}blocks"),
        concurrency=tuple(getattr(args, f"{dest}concurrency")),
        server_args=tuple(getattr(args, f"{dest}server_arg")),
    )


def measure(
    model_dir: str, options: LatencyOptions
) -> Dict[int, Dict[str, np.ndarray]]:
    """Concurrency -> mode -> latencies in ms of ``model_dir``, after checking that
    gRPC and in-process calls return the same scores."""
    user, items = user_and_candidates(options.candidates)
    examples = client.candidate_examples(user, items)
    request = client.predict_request(MODEL_NAME, examples, output_filter=())
    signature = tf.saved_model.load(model_dir).signatures[features.SERVING_SIGNATURE]
    servable = Servable.load(MODEL_NAME, 1, model_dir)

    def in_process() -> Dict[str, np.ndarray]:
        outputs = signature(**{features.SERVING_INPUT: tf.constant(examples)})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    with model_server(model_dir, options.server_args) as target:
        channel, stub = client.connect(target)
        with channel:

            def over_grpc() -> Dict[str, np.ndarray]:
                return client.outputs_of(stub.Predict(request, timeout=30))

            expected, served = in_process(), over_grpc()
            for name in features.MODEL_OUTPUTS:
                np.testing.assert_allclose(
                    served[name], expected[name], rtol=1e-5, atol=1e-7
                )
            calls = {
                "gRPC": over_grpc,
                "in-process": in_process,
                "server path": lambda: servable.predict("", request.inputs),
            }
            interleaved(calls, options.warmup, 1, 1)
            return {
                concurrency: interleaved(
                    calls, options.requests, concurrency, options.blocks
                )
                for concurrency in options.concurrency
            }


def format_latencies(
    model_dir: str,
    options: LatencyOptions,
    figures: Mapping[int, Mapping[str, np.ndarray]],
) -> List[str]:
    """p50/p99/mean per mode and concurrency, and whether the targets were met."""
    lines = [
        f"model: {model_dir}",
        f"one Predict of {options.candidates} candidates; {options.requests} requests "
        f"per figure after {options.warmup} warm-up; server flags: "
        f"{' '.join(options.server_args) or '(defaults)'}",
        f"{'mode':<13}{'threads':>8}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}",
    ]
    for concurrency, latencies in figures.items():
        for name, values in latencies.items():
            lines.append(
                f"{name:<13}{concurrency:>8}{np.percentile(values, 50):>10.2f}"
                f"{np.percentile(values, 99):>10.2f}{values.mean():>10.2f}"
            )
    if 1 in figures:
        grpc_ms, local_ms = figures[1]["gRPC"], figures[1]["in-process"]
        p99, ratio = (
            np.percentile(grpc_ms, 99),
            np.percentile(grpc_ms, 50) / np.percentile(local_ms, 50),
        )
        lines.append(
            f"target gRPC p99 (1 thread) <= {P99_TARGET_MS:.0f} ms: {p99:.2f} ms "
            f"{'met' if p99 <= P99_TARGET_MS else 'MISSED'}"
        )
        lines.append(
            f"target gRPC p50 <= {RATIO_TARGET} x in-process p50 (1 thread): {ratio:.2f} x "
            f"{'met' if ratio <= RATIO_TARGET else 'MISSED'}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--model-dir", help="a SavedModel (e.g. .../Trainer/model/N/Format-Serving)"
    )
    source.add_argument(
        "--workdir",
        default="workdir",
        help="pipeline workdir to take the newest Trainer model from",
    )
    add_arguments(parser)
    args = parser.parse_args()
    model_dir = args.model_dir or newest_trainer_model(args.workdir)
    options = latency_options(args)
    figures = measure(model_dir, options)
    print()
    print("\n".join(format_latencies(model_dir, options, figures)))


if __name__ == "__main__":
    main()
