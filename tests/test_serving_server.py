"""The local model server, through TF Serving's own gRPC stubs.

One server (module scope) over a copy of the pipeline's trained model answers
the read-only tests; the tests that change the model directory (a corrupt
version, a push under traffic, shutdown) get servers of their own.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
)
from tfx.utils import path_utils

from pipeline import run_summary
from serving import client
from serving.batching import BatchingOptions
from serving.config import ConfigFileWatcher, read_model_config_file
from serving.manager import ModelManager
from serving.servable import Servable
from serving.server import ModelServer
from serving.tensors import string_tensor_proto
from serving.testing import push_version, running_server
from transform import features

MODEL = "esm2"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
State = get_model_status_pb2.ModelVersionStatus.State


# --- Fixtures shared with test_serving_client.py ---------------------------------


@pytest.fixture(scope="module")
def saved_model_dir(pipeline_run) -> str:
    _, summary = pipeline_run
    return path_utils.serving_model_dir(summary.artifacts["Trainer.model"].uri)


@pytest.fixture(scope="module")
def eval_records(pipeline_run) -> list:
    """64 raw eval tf.Examples, labels and all, as the pipeline wrote them."""
    _, summary = pipeline_run
    pattern = os.path.join(
        summary.artifacts[run_summary.EXAMPLES].uri, "Split-eval", "*"
    )
    dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), "GZIP").take(64)
    return [record.numpy() for record in dataset]


@pytest.fixture(scope="module")
def reference(saved_model_dir):
    """The serving signature called in-process: what the server must match."""
    signature = tf.saved_model.load(saved_model_dir).signatures[
        features.SERVING_SIGNATURE
    ]

    def predict(records) -> dict:
        outputs = signature(**{features.SERVING_INPUT: tf.constant(records)})
        return {name: value.numpy() for name, value in outputs.items()}

    return predict


@pytest.fixture(scope="module")
def server(saved_model_dir, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("models") / MODEL)
    push_version(saved_model_dir, base, 1)
    with running_server(base, MODEL, version_labels={"stable": 1}) as started:
        yield started


@pytest.fixture(scope="module")
def stub(server):
    channel, prediction_stub = client.connect(server.target)
    with channel:
        yield prediction_stub


# --- Helpers -----------------------------------------------------------------------


def request_for(records, **spec) -> predict_pb2.PredictRequest:
    return client.predict_request(MODEL, records, output_filter=(), **spec)


def rpc_error(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=30)
    return info.value


def wait_until(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(target: str, **spec) -> dict:
    with grpc.insecure_channel(target) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL
        for key, value in spec.items():
            getattr(request.model_spec, key).value = value
        response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            request, timeout=30
        )
    return {status.version: status for status in response.model_version_status}


def served_version(stub, records) -> int:
    return stub.Predict(request_for(records[:2]), timeout=30).model_spec.version.value


def served_version_or_none(stub, records):
    try:
        return served_version(stub, records)
    except grpc.RpcError:
        return None


# --- Predict -------------------------------------------------------------------------


def test_predict_matches_the_saved_model_in_process(stub, eval_records, reference):
    response = stub.Predict(request_for(eval_records), timeout=30)

    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == features.SERVING_SIGNATURE
    assert set(response.outputs) == set(features.MODEL_OUTPUTS)
    served, expected = client.outputs_of(response), reference(eval_records)
    for name in features.MODEL_OUTPUTS:
        assert response.outputs[name].dtype == types_pb2.DT_FLOAT
        assert served[name].shape == (len(eval_records),)
        np.testing.assert_allclose(served[name], expected[name], rtol=1e-6)


def test_output_filter_returns_only_what_was_asked(stub, eval_records):
    request = client.predict_request(
        MODEL, eval_records[:3], output_filter=[features.OUTPUT_PCTCVR]
    )
    assert set(stub.Predict(request, timeout=30).outputs) == {features.OUTPUT_PCTCVR}


def test_a_version_and_a_label_select_that_version(stub, eval_records):
    for spec in ({"version": 1}, {"version_label": "stable"}):
        response = stub.Predict(request_for(eval_records[:2], **spec), timeout=30)
        assert response.model_spec.version.value == 1


def test_transform_features_signature_is_served(stub, eval_records):
    request = request_for(eval_records[:5], signature_name="transform_features")
    outputs = client.outputs_of(stub.Predict(request, timeout=30))
    assert features.ITEM_ID in outputs
    assert outputs[features.ITEM_ID].dtype == np.int64
    assert outputs[features.ITEM_PRICE].shape == (5, 1)


def test_an_empty_batch_gives_empty_outputs(stub):
    outputs = client.outputs_of(stub.Predict(request_for([]), timeout=30))
    assert all(value.shape == (0,) for value in outputs.values())


# --- Metadata and status -------------------------------------------------------------


def test_metadata_is_the_signature_def_map(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(
        metadata_field=["signature_def"]
    )
    request.model_spec.name = MODEL
    response = stub.GetModelMetadata(request, timeout=30)

    assert response.model_spec.version.value == 1
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    serving = signature_defs.signature_def[features.SERVING_SIGNATURE]
    assert serving.inputs[features.SERVING_INPUT].dtype == types_pb2.DT_STRING
    assert set(serving.outputs) == set(features.MODEL_OUTPUTS)
    assert "transform_features" in signature_defs.signature_def


def test_status_shows_the_loaded_version_available(server):
    (status,) = statuses(server.target).values()
    assert (status.version, status.state, status.status.error_code) == (
        1,
        State.AVAILABLE,
        0,
    )


# --- One test per failure ------------------------------------------------------------


def test_malformed_request_is_invalid_argument(stub, eval_records):
    tensor = string_tensor_proto(eval_records[:3])
    tensor.tensor_shape.dim[0].size = 2  # three values for two elements
    request = request_for([])
    request.inputs[features.SERVING_INPUT].CopyFrom(tensor)
    error = rpc_error(stub.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "3 values for a tensor of 2 elements" in error.details()

    nameless = request_for(eval_records[:1])
    nameless.model_spec.name = ""
    assert rpc_error(stub.Predict, nameless).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_missing_input_is_invalid_argument(stub):
    request = request_for([])
    del request.inputs[features.SERVING_INPUT]
    error = rpc_error(stub.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing but required: {examples}" in error.details()


def test_wrong_dtype_is_invalid_argument(stub):
    request = request_for([])
    request.inputs[features.SERVING_INPUT].CopyFrom(tf.make_tensor_proto([1.0, 2.0]))
    error = rpc_error(stub.Predict, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "DT_STRING" in error.details() and "DT_FLOAT" in error.details()


def test_undecodable_example_is_invalid_argument_and_the_server_goes_on(
    stub, eval_records
):
    error = rpc_error(
        stub.Predict, request_for([eval_records[0], b"\xff\x00 not a tf.Example"])
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "parse" in error.details().lower()
    assert stub.Predict(request_for(eval_records[:2]), timeout=30).outputs


def test_unknown_model_is_not_found(stub, eval_records):
    request = request_for(eval_records[:1])
    request.model_spec.name = "no-such-model"
    error = rpc_error(stub.Predict, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Servable not found for request: Latest(no-such-model)"


def test_unknown_version_is_not_found(stub, server, eval_records):
    error = rpc_error(stub.Predict, request_for(eval_records[:1], version=999))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == f"Servable not found for request: Specific({MODEL}, 999)"
    with pytest.raises(grpc.RpcError) as info:
        statuses(server.target, version=999)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_label_is_invalid_argument_as_in_tf_serving(stub, eval_records):
    # TF Serving's ServerCore::GetModelVersionForLabel answers INVALID_ARGUMENT.
    error = rpc_error(
        stub.Predict, request_for(eval_records[:1], version_label="canary")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Unrecognized servable version label: canary"


def test_unknown_signature_is_failed_precondition(stub, eval_records):
    error = rpc_error(
        stub.Predict, request_for(eval_records[:1], signature_name="nope")
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == 'Serving signature key "nope" not found.'


def test_no_version_loaded_is_not_found_until_one_is_pushed(
    saved_model_dir, eval_records, tmp_path
):
    base = str(tmp_path / MODEL)
    with running_server(base, MODEL) as empty:
        channel, stub = client.connect(empty.target)
        with channel:
            error = rpc_error(stub.Predict, request_for(eval_records[:1]))
            assert error.code() == grpc.StatusCode.NOT_FOUND  # as TF Serving
            assert error.details() == f"Servable not found for request: Latest({MODEL})"
            push_version(saved_model_dir, base, 7)
            assert (
                wait_until(
                    lambda: served_version_or_none(stub, eval_records), what="v7"
                )
                == 7
            )


@pytest.mark.parametrize(
    "damage, code",
    [
        ("corrupt saved_model.pb", grpc.StatusCode.DATA_LOSS),
        ("no saved_model.pb yet", grpc.StatusCode.NOT_FOUND),
    ],
)
def test_a_broken_version_is_skipped_and_retried_once_it_changes(
    saved_model_dir, eval_records, tmp_path, damage, code
):
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 1)
    with running_server(base, MODEL) as started:
        channel, stub = client.connect(started.target)
        with channel:
            broken = os.path.join(base, "2")
            os.makedirs(os.path.join(broken, "variables"))
            if damage.startswith("corrupt"):
                with open(os.path.join(broken, "saved_model.pb"), "wb") as handle:
                    handle.write(b"\x08\x96\x01 this is not a SavedModel")

            def reported():
                status = statuses(started.target).get(2)
                return (
                    status if status is not None and status.status.error_code else None
                )

            status = wait_until(reported, what="the broken version reported")
            assert status.state == State.END
            assert status.status.error_code == code.value[0]
            assert broken in status.status.error_message
            assert statuses(started.target)[1].state == State.AVAILABLE
            assert served_version(stub, eval_records) == 1

            shutil.rmtree(broken)  # the push is redone, completely this time
            push_version(saved_model_dir, base, 2)
            wait_until(
                lambda: served_version(stub, eval_records) == 2, what="the repaired v2"
            )
            wait_until(
                lambda: statuses(started.target)[1].state == State.END,
                what="v1 unloaded",
            )
            assert statuses(started.target)[2].status.error_code == 0


def test_a_push_during_traffic_drops_no_request(
    saved_model_dir, eval_records, reference, tmp_path
):
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 1)
    expected = reference(eval_records[:8])[features.OUTPUT_PCTCVR]
    versions, failures = [], []
    with running_server(base, MODEL) as started:
        channel, stub = client.connect(started.target)
        stop = threading.Event()

        def traffic():
            deadline = time.monotonic() + 60  # bounded, whatever happens
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    response = stub.Predict(request_for(eval_records[:8]), timeout=30)
                    np.testing.assert_allclose(
                        client.outputs_of(response)[features.OUTPUT_PCTCVR],
                        expected,
                        rtol=1e-6,
                    )
                    versions.append(response.model_spec.version.value)
                except Exception as error:  # every failure counts
                    failures.append(error)

        with channel:
            sender = threading.Thread(target=traffic)
            sender.start()
            wait_until(lambda: len(versions) >= 20, what="traffic on v1")
            push_version(saved_model_dir, base, 2)
            wait_until(
                lambda: versions[-20:].count(2) == 20 or failures,
                what="20 answers from v2",
            )
            stop.set()
            sender.join()
        final = statuses(started.target)

    assert failures == []
    assert versions[0] == 1 and versions[-1] == 2
    assert versions == sorted(versions)  # one switch, never back
    assert final[2].state == State.AVAILABLE and final[1].state == State.END


def test_batching_server_answers_concurrent_requests_like_the_model(
    saved_model_dir, eval_records, reference, tmp_path
):
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 1)
    requests = [eval_records[i : i + 16] for i in range(0, 64, 8)]
    answers = [None] * len(requests)
    loader = functools.partial(Servable.load, batching=BatchingOptions())
    with running_server(base, MODEL, loader=loader) as started:
        channel, stub = client.connect(started.target)
        with channel:

            def send(index):
                response = stub.Predict(request_for(requests[index]), timeout=30)
                answers[index] = client.outputs_of(response)

            threads = [
                threading.Thread(target=send, args=(i,)) for i in range(len(requests))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    for records, answer in zip(requests, answers):
        expected = reference(records)
        for name in features.MODEL_OUTPUTS:
            np.testing.assert_allclose(
                answer[name], expected[name], rtol=1e-5, atol=1e-7
            )


def test_start_waits_for_a_version_still_being_written(
    saved_model_dir, eval_records, tmp_path
):
    """TF Serving opens its port once every aspired version is loaded.

    Version 1 has settled; version 2 was pushed just before start and is not
    settled yet.  Requests right after start must get version 2, not the
    older one until some later poll.
    """
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 1)
    settle_seconds = 1.0
    time.sleep(settle_seconds + 0.1)
    push_version(saved_model_dir, base, 2)
    with running_server(
        base, MODEL, poll_seconds=30.0, settle_seconds=settle_seconds
    ) as started:
        channel, stub = client.connect(started.target)
        with channel:
            assert served_version(stub, eval_records) == 2


def test_a_model_config_file_is_served_and_its_labels_reloaded(
    saved_model_dir, eval_records, tmp_path
):
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 1)
    push_version(saved_model_dir, base, 2)
    config_file = tmp_path / "models.config"

    def write_config(stable: int) -> None:
        config_file.write_text(
            f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base}" '
            f'model_platform: "tensorflow" '
            f"model_version_policy {{ latest {{ num_versions: 1 }} }} "
            f'version_labels {{ key: "stable" value: {stable} }} }} }}'
        )

    write_config(stable=1)
    manager = ModelManager(
        read_model_config_file(str(config_file)),
        poll_seconds=0.1,
        settle_seconds=0.2,
        settings_source=ConfigFileWatcher(str(config_file)),
    )
    started = ModelServer(manager)
    started.start()
    try:
        channel, stub = client.connect(started.target)
        with channel:
            stable = request_for(eval_records[:2], version_label="stable")
            # latest 1 serves v2; the label keeps v1 loaded as well
            assert served_version(stub, eval_records) == 2
            assert stub.Predict(stable, timeout=30).model_spec.version.value == 1
            write_config(stable=2)
            wait_until(
                lambda: stub.Predict(stable, timeout=30).model_spec.version.value == 2,
                what="the label moved",
            )
            wait_until(lambda: statuses(started.target)[1].state == State.END)
    finally:
        started.stop(grace_seconds=5)


class SlowServable(Servable):
    """Takes half a second per Predict: a request surely in flight."""

    def predict(self, *args, **kwargs):
        time.sleep(0.5)
        return super().predict(*args, **kwargs)


def test_stop_finishes_in_flight_requests_and_refuses_new_ones(
    saved_model_dir, eval_records, tmp_path
):
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 1)
    results = []
    with running_server(base, MODEL, loader=SlowServable.load) as started:
        channel, stub = client.connect(started.target)
        with channel:
            in_flight = threading.Thread(
                target=lambda: results.append(
                    stub.Predict(request_for(eval_records[:4]), timeout=30)
                )
            )
            in_flight.start()
            wait_until(
                lambda: started.manager.inflight() > 0, what="a request in flight"
            )
            started.stop(grace_seconds=10)
            in_flight.join()
            assert (
                rpc_error(stub.Predict, request_for(eval_records[:1])).code()
                == grpc.StatusCode.UNAVAILABLE
            )
    assert len(results) == 1 and results[0].model_spec.version.value == 1


def test_sigterm_stops_the_command_line_server_cleanly(
    saved_model_dir, eval_records, tmp_path
):
    base = str(tmp_path / MODEL)
    push_version(saved_model_dir, base, 5)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving",
            "serve",
            "--model-base-path",
            base,
            "--model-name",
            MODEL,
            "--port",
            "0",
            "--grace-seconds",
            "5",
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = process.stdout.readline()
        assert ready.startswith("Serving gRPC on "), process.stderr.read()
        channel, stub = client.connect(ready.split()[-1])
        with channel:
            assert served_version(stub, eval_records) == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "Stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
