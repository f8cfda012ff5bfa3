"""Serialising an accepted impression as a tf.train.Example.

The feature list and each feature's kind come from
``features.EXAMPLE_FEATURES`` alone, so a feature added there reaches the
examples (and the inferred schema) without touching this component.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping

from apache_beam import coders
from tensorflow.core.example import example_pb2, feature_pb2

from transform import features


def _set_bytes(feature: feature_pb2.Feature, value: str) -> None:
    feature.bytes_list.value.append(value.encode("utf-8"))


def _set_int(feature: feature_pb2.Feature, value: int) -> None:
    feature.int64_list.value.append(value)


def _set_float(feature: feature_pb2.Feature, value: float) -> None:
    feature.float_list.value.append(value)


_SETTERS: Dict[type, Callable[[feature_pb2.Feature, Any], None]] = {
    str: _set_bytes,
    int: _set_int,
    float: _set_float,
}


def to_example(values: Mapping[str, Any]) -> example_pb2.Example:
    """The Example with one value per feature of ``EXAMPLE_FEATURES``."""
    example = example_pb2.Example()
    feature_map = example.features.feature
    for name, dtype in features.EXAMPLE_FEATURES:
        _SETTERS[dtype](feature_map[name], values[name])
    return example


def serialize(values: Mapping[str, Any]) -> bytes:
    """The serialised Example, deterministic so reruns write equal bytes."""
    return to_example(values).SerializeToString(deterministic=True)


# Exact for the str, int and float values of an Example, and deterministic.
_PACKER = coders.FastPrimitivesCoder()


def pack(values: Mapping[str, Any]) -> bytes:
    """The values of ``EXAMPLE_FEATURES`` alone, in their order: about 120
    bytes where the serialised Example, which repeats every feature name,
    is about 480. What the ExampleGen carries through its shuffles."""
    return _PACKER.encode(tuple(values[name] for name, _ in features.EXAMPLE_FEATURES))


def serialize_packed(packed: bytes) -> bytes:
    """``serialize`` of the values ``pack`` packed: the same bytes."""
    names = (name for name, _ in features.EXAMPLE_FEATURES)
    return serialize(dict(zip(names, _PACKER.decode(packed))))


def from_example(example: example_pb2.Example) -> Dict[str, Any]:
    """Feature name -> Python value; the inverse used by tests and tools."""
    result = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        value = getattr(feature, kind).value[0]
        result[name] = value.decode("utf-8") if kind == "bytes_list" else value
    return result
