"""The client: ranking candidates with one Predict, against the local server."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from serving import client
from serving.__main__ import main
from tests import test_serving_server as shared
from transform import features

# The server tests' fixtures: the trained model, a server over it, its stub.
MODEL = shared.MODEL
saved_model_dir = shared.saved_model_dir
eval_records = shared.eval_records
reference = shared.reference
server = shared.server
stub = shared.stub


def _value(feature: example_pb2.Feature, column: features.Column):
    if column.dtype is str:
        return feature.bytes_list.value[0].decode()
    if column.dtype is int:
        return int(feature.int64_list.value[0])
    return float(feature.float_list.value[0])


def _model_features(record: bytes) -> dict:
    example = example_pb2.Example.FromString(record)
    return {
        name: _value(example.features.feature[name], column)
        for name, column in features.SERVING_COLUMNS_BY_NAME.items()
        if name in example.features.feature
    }


@pytest.fixture(scope="module")
def user_and_items(eval_records):
    """The first logged user, and the items of 30 logged impressions."""
    logged = [_model_features(record) for record in eval_records[:30]]
    user = {name: logged[0][name] for name in features.USER_FEATURES}
    items = [
        {name: v for name, v in row.items() if name not in features.USER_FEATURES}
        for row in logged
    ]
    return user, items


def _merged_examples(user: dict, items: list) -> list:
    """The same Examples built the plain way: one dict per candidate."""
    return [client.serialize_features({**user, **item}) for item in items]


def test_candidate_examples_parse_to_user_plus_item(user_and_items):
    user, items = user_and_items
    built = client.candidate_examples(user, items)
    for concatenated, merged in zip(built, _merged_examples(user, items)):
        assert example_pb2.Example.FromString(
            concatenated
        ) == example_pb2.Example.FromString(merged)


def test_score_candidates_ranks_by_the_in_process_pctcvr(
    stub, reference, user_and_items
):
    user, items = user_and_items
    ranking = client.score_candidates(stub, MODEL, user, items)

    expected = reference(_merged_examples(user, items))
    order = np.argsort(-expected[features.OUTPUT_PCTCVR], kind="stable")
    assert [scored.item for scored in ranking] == [items[i] for i in order]
    for scored, index in zip(ranking, order):
        assert scored.pctr == pytest.approx(
            expected[features.OUTPUT_PCTR][index], rel=1e-5
        )
        assert scored.pcvr == pytest.approx(
            expected[features.OUTPUT_PCVR][index], rel=1e-5
        )
        assert scored.pctcvr == pytest.approx(
            expected[features.OUTPUT_PCTCVR][index], rel=1e-5
        )


def test_score_candidates_takes_a_target_and_a_label(server, user_and_items):
    user, items = user_and_items
    ranking = client.score_candidates(
        server.target, MODEL, user, items[:3], version_label="stable"
    )
    assert len(ranking) == 3


def test_a_misspelt_or_mistyped_feature_is_refused(user_and_items):
    user, items = user_and_items
    with pytest.raises(ValueError, match="not a model feature"):
        client.candidate_examples({**user, "user_idd": "u1"}, items)
    with pytest.raises(ValueError, match="takes a float"):
        client.serialize_features({features.ITEM_PRICE: "cheap"})
    with pytest.raises(ValueError, match="repeats the user's features"):
        client.candidate_examples(user, [{features.USER_ID: "someone else"}])


def test_outputs_of_reads_tf_servings_float_val_too():
    response = predict_pb2.PredictResponse()
    response.outputs[features.OUTPUT_PCTR].CopyFrom(
        tf.make_tensor_proto([0.25, 0.5], dtype=tf.float32)
    )
    response.outputs[features.OUTPUT_PCVR].dtype = types_pb2.DT_FLOAT
    response.outputs[features.OUTPUT_PCVR].float_val.extend([0.1, 0.2])
    response.outputs[features.OUTPUT_PCVR].tensor_shape.dim.add().size = 2
    outputs = client.outputs_of(response)
    np.testing.assert_allclose(outputs[features.OUTPUT_PCTR], [0.25, 0.5])
    np.testing.assert_allclose(outputs[features.OUTPUT_PCVR], [0.1, 0.2])


def test_predict_command_prints_the_ranking(
    server, reference, user_and_items, tmp_path, capsys
):
    user, items = user_and_items
    (tmp_path / "user.json").write_text(json.dumps(user))
    (tmp_path / "items.json").write_text(json.dumps(items))
    code = main(
        [
            "predict",
            "--target", server.target,
            "--model-name", MODEL,
            "--user-json", str(tmp_path / "user.json"),
            "--candidates-json", str(tmp_path / "items.json"),
            "--top", "5",
        ]
    )  # fmt: skip

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{MODEL} version 1: {len(items)} candidates by pCTCVR"
    expected = reference(_merged_examples(user, items))[features.OUTPUT_PCTCVR]
    top = [items[i][features.ITEM_ID] for i in np.argsort(-expected, kind="stable")[:5]]
    assert [line.split()[1] for line in lines[2:]] == top
