"""The towers' training matmul precision: what ``auto`` picks, what is rounded."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from models.layers import TowerStack
from models.precision import training_matmul_dtype
from tests.test_models import SMALL, _inputs, _model


@pytest.mark.parametrize(
    "flags, gpus, expected",
    [
        ({"avx2", "avx512_bf16"}, [], tf.bfloat16),  # Zen 4, Cooper Lake
        ({"avx2", "amx_bf16"}, [], tf.bfloat16),  # Sapphire Rapids
        ({"avx2", "avx512f"}, [], tf.float32),  # no bfloat16 dot products
        ({"avx512_bf16"}, [(7, 5)], tf.float32),  # a T4 trains: no bf16 units
        (set(), [(8, 0), (9, 0)], tf.bfloat16),  # A100 and H100
        (set(), [(8, 0), (7, 0)], tf.float32),  # one V100 among them
    ],
)
def test_auto_asks_the_devices_that_train(flags, gpus, expected):
    assert training_matmul_dtype("auto", flags, gpus) == expected


def test_an_explicit_precision_is_taken_as_given():
    assert training_matmul_dtype("float32", {"avx512_bf16"}, []) == tf.float32
    assert training_matmul_dtype("bfloat16", set(), []) == tf.bfloat16
    with pytest.raises(ValueError, match="'float16'.*auto"):
        training_matmul_dtype("float16", set(), [])


def _round_to_bfloat16(values: np.ndarray) -> np.ndarray:
    return tf.cast(tf.cast(values, tf.bfloat16), tf.float32).numpy().astype(np.float64)


def _logit_layer(precision: tf.DType, count: int = 2, width: int = 40) -> TowerStack:
    """Towers of one layer: the logit, ``x @ kernel + bias`` for each tower."""
    layer = TowerStack(count, (), dropout=0.0, training_matmul_dtype=precision)
    layer.build((None, width))
    for bias in layer.biases:
        bias.assign(tf.ones_like(bias))
    return layer


def test_towers_train_in_bfloat16_and_serve_in_float32():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 40)).astype("float32")
    layer = _logit_layer(tf.bfloat16)
    trained = np.stack(layer(x, training=True))
    served = np.stack(layer(x, training=False))
    assert trained.dtype == np.float32 and served.dtype == np.float32
    for k, kernel in enumerate(layer.kernels[0].numpy().astype(np.float64)):
        exact = x.astype(np.float64) @ kernel[:, 0] + 1.0
        product = _round_to_bfloat16(x) @ _round_to_bfloat16(kernel[:, 0])
        rounded = _round_to_bfloat16(product) + 1.0
        # Training: the product of the rounded inputs, summed in float32 and
        # rounded once more on the way out (one bfloat16 step: 2**-8
        # relative); the logits' bias is added in float32.
        np.testing.assert_allclose(trained[k], rounded, rtol=2**-8, atol=1e-5)
        assert np.max(np.abs(trained[k] - exact)) > 1e-3  # it did round
        # Serving and evaluation: float32 throughout.
        np.testing.assert_allclose(served[k], exact, rtol=1e-5, atol=1e-5)


def _activation_types(layer: TowerStack, training: bool) -> set:
    """The float types the towers' ReLUs run in, read off the traced graph."""
    graph = (
        tf.function(lambda x: layer(x, training=training))
        .get_concrete_function(tf.TensorSpec((None, 6), tf.float32))
        .graph
    )
    return {op.get_attr("T") for op in graph.get_operations() if op.type == "Relu"}


def test_hidden_activations_are_bfloat16_in_training_only():
    """Between layers a training pass stays bfloat16 (no cast to float32 and
    back around each bias add, ReLU and dropout); serving is float32."""
    layer = TowerStack(2, (8, 4), dropout=0.5, training_matmul_dtype=tf.bfloat16)
    layer.build((None, 6))
    assert _activation_types(layer, training=True) == {tf.bfloat16}
    assert _activation_types(layer, training=False) == {tf.float32}
    wide = TowerStack(2, (8, 4), dropout=0.5, training_matmul_dtype=tf.float32)
    wide.build((None, 6))
    assert _activation_types(wide, training=True) == {tf.float32}


def test_the_weights_and_their_gradients_stay_float32():
    tf_keras.utils.set_random_seed(0)
    x = tf.random.stateless_normal((32, 24), seed=(1, 2))
    layer = _logit_layer(tf.bfloat16, width=24)
    reference = _logit_layer(tf.float32, width=24)
    reference.set_weights(layer.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        narrow = tf.reduce_sum(tf.stack(layer(x, training=True)) ** 2)
        wide = tf.reduce_sum(tf.stack(reference(x, training=True)) ** 2)
    grad = tape.gradient(narrow, layer.kernels[0])
    assert layer.kernels[0].dtype == tf.float32 and grad.dtype == tf.float32
    expected = tape.gradient(wide, reference.kernels[0])
    # bfloat16 keeps 8 significant bits: about 0.4% per rounded input, so
    # an entry that is a small sum of large terms is off by a share of the
    # terms' scale, not of its own value.
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(grad, expected, rtol=0.05, atol=0.01 * scale)


def test_a_bfloat16_trained_model_serves_exactly_as_a_float32_one():
    """Same weights: identical served scores, whichever precision trained."""
    tf_keras.utils.set_random_seed(0)
    narrow = _model("esm2", dataclasses.replace(SMALL, matmul_precision="bfloat16"))
    wide = _model("esm2", dataclasses.replace(SMALL, matmul_precision="float32"))
    inputs = _inputs()
    narrow(inputs), wide(inputs)
    wide.set_weights(narrow.get_weights())
    for name, served in narrow(inputs, training=False).items():
        np.testing.assert_array_equal(served, wide(inputs, training=False)[name])
    trained = narrow(inputs, training=True)
    reference = wide(inputs, training=True)
    differs = [
        np.max(np.abs(trained[n].numpy() - reference[n].numpy())) for n in trained
    ]
    assert max(differs) > 0  # the training pass did run in bfloat16
