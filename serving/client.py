"""Ranks candidate items for one user with one Predict call.

The client speaks plain TF Serving: it uses only the ``tensorflow_serving.apis``
protos and grpc (plus numpy), so it runs unchanged against the production
``tensorflow/serving`` deployment and against ``python -m serving serve``.

A request is one batch of serialized raw tf.Examples, one per candidate,
holding the user's features and the item's; feature names and types come
from ``transform.features``, the same source the model was trained from.
Features left out are defaulted by the model's parse spec.
"""

from __future__ import annotations

import math
import numbers
from typing import (
    Any,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import grpc
import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.tensors import string_tensor_proto, to_ndarray
from transform import features

RANKING_OUTPUTS: Tuple[str, ...] = (
    features.OUTPUT_PCTR,
    features.OUTPUT_PCVR,
    features.OUTPUT_PCTCVR,
)
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
)

StubOrTarget = Union[prediction_service_pb2_grpc.PredictionServiceStub, str]


class ScoredItem(NamedTuple):
    """One candidate with the model's estimates."""

    item: Mapping[str, Any]
    pctr: float
    pcvr: float
    pctcvr: float


def _feature(column: features.Column, value: Any) -> feature_pb2.Feature:
    """``value`` as the tf.Train Feature of ``column``'s type, strictly."""
    if column.dtype is str:
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes):
            return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[value]))
    elif column.dtype is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return feature_pb2.Feature(
                int64_list=feature_pb2.Int64List(value=[int(value)])
            )
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        return feature_pb2.Feature(
            float_list=feature_pb2.FloatList(value=[float(value)])
        )
    raise ValueError(
        f"feature {column.name!r} takes a {column.dtype.__name__}, not {value!r}"
    )


def serialize_features(values: Mapping[str, Any]) -> bytes:
    """One serialized tf.Example of model features; None values are left out.

    An unknown name is an error rather than silently ignored: a misspelt
    feature would otherwise be defaulted by the model without a trace.
    """
    example = example_pb2.Example()
    for name, value in values.items():
        column = features.SERVING_COLUMNS_BY_NAME.get(name)
        if column is None:
            raise ValueError(
                f"{name!r} is not a model feature; "
                f"known: {sorted(features.SERVING_COLUMNS_BY_NAME)}"
            )
        if value is not None:
            example.features.feature[name].CopyFrom(_feature(column, value))
    return example.SerializeToString()


def candidate_examples(
    user_features: Mapping[str, Any], candidate_items: Sequence[Mapping[str, Any]]
) -> List[bytes]:
    """One serialized tf.Example per candidate: the user's features plus the item's.

    Serialized protobuf messages merge when concatenated (map entries are
    added), so the user's part is serialized once and prefixed to each item's:
    the bytes parse to exactly the Example holding both.
    """
    user = serialize_features(user_features)
    user_names = {name for name, value in user_features.items() if value is not None}
    examples = []
    for index, item in enumerate(candidate_items):
        shared = user_names & {
            name for name, value in item.items() if value is not None
        }
        if shared:
            raise ValueError(
                f"candidate {index} repeats the user's features {sorted(shared)}"
            )
        examples.append(user + serialize_features(item))
    return examples


def predict_request(
    model_name: str,
    examples: Sequence[bytes],
    signature_name: str = features.SERVING_SIGNATURE,
    version: Optional[int] = None,
    version_label: Optional[str] = None,
    output_filter: Sequence[str] = RANKING_OUTPUTS,
) -> predict_pb2.PredictRequest:
    """A Predict request for a batch of serialized tf.Examples."""
    if version is not None and version_label is not None:
        raise ValueError("ask for a version or a version label, not both")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    if version_label is not None:
        request.model_spec.version_label = version_label
    request.inputs[features.SERVING_INPUT].CopyFrom(string_tensor_proto(examples))
    request.output_filter.extend(output_filter)
    return request


def outputs_of(response: predict_pb2.PredictResponse) -> Dict[str, np.ndarray]:
    """The response's tensors as numpy (``float_val`` or ``tensor_content``)."""
    return {
        alias: to_ndarray(proto, alias) for alias, proto in response.outputs.items()
    }


def connect(
    target: str,
) -> Tuple[grpc.Channel, prediction_service_pb2_grpc.PredictionServiceStub]:
    channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _by_pctcvr(scored: ScoredItem) -> float:
    """Sort key: highest pCTCVR first, NaN (a broken score) last."""
    return math.inf if math.isnan(scored.pctcvr) else -scored.pctcvr


def rank(
    candidate_items: Sequence[Mapping[str, Any]], outputs: Mapping[str, np.ndarray]
) -> List[ScoredItem]:
    """Candidates by pCTCVR, highest first; ties keep the input order."""
    scored = [
        ScoredItem(item, float(pctr), float(pcvr), float(pctcvr))
        for item, pctr, pcvr, pctcvr in zip(
            candidate_items,
            outputs[features.OUTPUT_PCTR],
            outputs[features.OUTPUT_PCVR],
            outputs[features.OUTPUT_PCTCVR],
        )
    ]
    return sorted(scored, key=_by_pctcvr)


def predict(
    stub_or_target: StubOrTarget,
    request: predict_pb2.PredictRequest,
    timeout: float = 10.0,
) -> predict_pb2.PredictResponse:
    """One Predict; a target string gets a channel for this call only."""
    if isinstance(stub_or_target, str):
        channel, stub = connect(stub_or_target)
        with channel:
            return stub.Predict(request, timeout=timeout)
    return stub_or_target.Predict(request, timeout=timeout)


def score_candidates(
    stub_or_target: StubOrTarget,
    model_name: str,
    user_features: Mapping[str, Any],
    candidate_items: Sequence[Mapping[str, Any]],
    *,
    signature_name: str = features.SERVING_SIGNATURE,
    version: Optional[int] = None,
    version_label: Optional[str] = None,
    timeout: float = 10.0,
) -> List[ScoredItem]:
    """Scores every candidate for the user in ONE Predict call, ranked by pCTCVR.

    Raises ``grpc.RpcError`` with the server's status if the call fails.
    """
    if not candidate_items:
        return []
    request = predict_request(
        model_name,
        candidate_examples(user_features, candidate_items),
        signature_name=signature_name,
        version=version,
        version_label=version_label,
    )
    response = predict(stub_or_target, request, timeout=timeout)
    return rank(candidate_items, outputs_of(response))
