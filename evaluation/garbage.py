"""Full garbage collections at a steady pace in the Evaluator's workers.

TFMA 0.47's ``util.split_extracts``, which turns each batch of extracts into
one extract per example, defines a recursive closure (``visit``): a
function-cell reference cycle that keeps the batch's list of per-example
extracts alive after they have been used. Only Python's full (generation 2)
collection frees such cycles, and CPython runs one only when the objects
that survived into generation 2 since the last one exceed a quarter of all
long-lived objects, which, with the millions a TensorFlow model and TFMA
keep, is rare. So the Evaluator's memory grew by about 1.9 KB per eval
example, held as garbage (traced with memray and ``gc.get_referrers``,
BENCHMARKS.md section 6).

The sketch combiner (``metrics_base._SketchCombiner``, behind every AUC,
top-fraction and calibration figure, so in every EvalConfig) calls
``collect_now_and_then`` per example; it runs a
full collection once ``INTERVAL_SECONDS`` have passed since the end of the
last one, which bounds both the garbage (what the worker reads in that
time) and the collector's share of the time, on any runner.
"""

from __future__ import annotations

import gc
import time

INTERVAL_SECONDS = 5.0
_next_collection = time.monotonic() + INTERVAL_SECONDS


def collect_now_and_then() -> None:
    """A full collection if ``INTERVAL_SECONDS`` have passed since the last."""
    global _next_collection
    if time.monotonic() >= _next_collection:
        gc.collect()
        _next_collection = time.monotonic() + INTERVAL_SECONDS
