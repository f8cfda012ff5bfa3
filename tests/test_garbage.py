"""The Evaluator's paced full collections free reference cycles like TFMA's."""

import gc
import weakref

from evaluation import garbage


class _Node:
    pass


def _cycle() -> weakref.ref:
    """A reference cycle nothing else holds, as ``split_extracts`` leaves."""
    node = _Node()
    node.self = node
    return weakref.ref(node)


def test_a_due_collection_frees_cycles_and_an_early_call_does_not(monkeypatch):
    gc.disable()  # only the calls below may collect
    try:
        monkeypatch.setattr(garbage, "INTERVAL_SECONDS", 3600.0)
        monkeypatch.setattr(garbage, "_next_collection", 0.0)  # due now
        freed = _cycle()
        garbage.collect_now_and_then()
        assert freed() is None
        kept = _cycle()
        garbage.collect_now_and_then()  # the next one is an hour away
        assert kept() is not None
        gc.collect()
        assert kept() is None
    finally:
        gc.enable()
