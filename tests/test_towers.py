"""The DPM's towers as one stack (models.layers.TowerStack) and its dropout."""

import numpy as np
import pytest
import tensorflow as tf

from models.layers import TowerStack, bernoulli_dropout


def _relu(x):
    return np.maximum(x, 0.0)


def _separate_mlps(stack: TowerStack, x: np.ndarray) -> np.ndarray:
    """Each tower as its own float64 MLP, from its slice of the stacked weights."""
    outputs = []
    for k in range(stack.count):
        h = x[k] if x.ndim == 3 else x
        h = h.astype(np.float64)
        for i, (kernel, bias) in enumerate(zip(stack.kernels, stack.biases)):
            h = h @ kernel.numpy()[k] + bias.numpy()[k, 0]
            if i < len(stack.kernels) - 1:
                h = _relu(h)
        outputs.append(h[:, 0])
    return np.stack(outputs)


@pytest.mark.parametrize("stacked_input", [False, True])
def test_each_tower_is_its_own_mlp(stacked_input):
    rng = np.random.default_rng(0)
    stack = TowerStack(3, (8, 4), dropout=0.5)
    shape = (3, 32, 10) if stacked_input else (32, 10)
    x = rng.normal(size=shape).astype("float32")
    stack.build(x.shape)
    for bias in stack.biases:  # non-zero biases, so they are checked too
        bias.assign(rng.normal(size=bias.shape).astype("float32"))
    logits = stack(x, training=False)
    assert len(logits) == 3 and all(logit.shape == (32,) for logit in logits)
    np.testing.assert_allclose(
        np.stack(logits), _separate_mlps(stack, x), rtol=1e-4, atol=1e-5
    )


def test_each_towers_kernels_start_glorot_uniform_over_its_own_fans():
    stack = TowerStack(4, (300, 200), dropout=0.0)
    stack.build((None, 400))
    for kernel in stack.kernels:
        count, fan_in, fan_out = kernel.shape
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = kernel.numpy()
        assert np.all(np.abs(values) <= limit)
        # uniform on [-limit, limit]: standard deviation limit / sqrt(3); the
        # sample's relative standard error is sqrt(0.8 / 4n): allow 5 of them
        n = fan_in * fan_out
        np.testing.assert_allclose(
            values.reshape(count, -1).std(axis=1),
            limit / np.sqrt(3),
            rtol=5 * np.sqrt(0.8 / (4 * n)),
        )
        assert not np.allclose(values[0], values[1])  # towers start apart
    assert all(np.all(bias.numpy() == 0.0) for bias in stack.biases)


def test_a_stack_of_inputs_must_have_one_per_tower():
    with pytest.raises(ValueError, match="a stack of 2 inputs for 3 towers"):
        TowerStack(3, (4,), dropout=0.0)(tf.zeros((2, 5, 6)))


def test_dropout_applies_in_training_only():
    x = np.random.default_rng(1).normal(size=(64, 10)).astype("float32")
    stack = TowerStack(2, (32,), dropout=0.5)
    served = np.stack(stack(x, training=False))
    np.testing.assert_array_equal(served, np.stack(stack(x, training=False)))
    trained = np.stack(stack(x, training=True))
    assert np.max(np.abs(trained - served)) > 1e-3


@pytest.mark.parametrize("rate", [0.5, 0.1, 0.3])  # 0.1, 0.3: the 16-bit draws
def test_dropout_zeroes_the_rate_and_scales_the_rest(rate):
    x = tf.ones((400, 1000))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = bernoulli_dropout(x, rate)
    grad = tape.gradient(y, x).numpy()
    y = y.numpy()
    dropped = y == 0.0
    # 400,000 draws: the share's standard error is below 0.001
    assert abs(dropped.mean() - rate) < 0.004
    np.testing.assert_allclose(y[~dropped], 1.0 / (1.0 - rate), rtol=1e-6)
    # the gradient is the same mask and scale
    np.testing.assert_array_equal(grad, y)
    # and the mask is drawn anew at each call, independently per entry
    again = bernoulli_dropout(x, rate).numpy() == 0.0
    assert abs((dropped & again).mean() - rate * rate) < 0.004


@pytest.mark.parametrize("rate", [0.5, 0.1, 0.3])
def test_dropout_on_bfloat16_keeps_the_exact_scale(rate):
    """bfloat16 holds 1/0.9 as 1.109375: scaling by that would shrink every
    kept activation by 0.16% against evaluation. Each kept value is rounded
    once, so over many values the mean ratio is the exact scale."""
    x = tf.cast(tf.random.stateless_uniform((200, 1000), (3, 4), 1.0, 2.0), tf.bfloat16)
    y = bernoulli_dropout(x, rate)
    assert y.dtype == tf.bfloat16
    x, y = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    kept = y != 0.0
    assert abs(kept.mean() - (1.0 - rate)) < 0.005
    # Each ratio is off by at most half a bfloat16 step (2**-9) either way:
    # the mean's error over 100k+ values is far below 3e-4.
    assert abs(np.mean(y[kept] / x[kept]) - 1.0 / (1.0 - rate)) < 3e-4
