"""LazyAdam against Adam's update written out by hand."""

import numpy as np
import tensorflow as tf
import tf_keras

from models.optimizers import LazyAdam

LR, B1, B2, EPS = 0.1, 0.9, 0.999, 1e-7


def _adam_step(value, m, v, g, t):
    """Adam's update of ``value`` at step ``t`` (from 1), in float64."""
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * g**2
    value = value - LR * np.sqrt(1 - B2**t) / (1 - B1**t) * m / (np.sqrt(v) + EPS)
    return value, m, v


def _adam_rows(steps):
    """Hand-computed lazy Adam on a (4, 2) table of ones: ``steps`` is a list
    of {row: gradient} dicts; rows absent from a step are left untouched."""
    table = np.ones((4, 2))
    m, v = np.zeros_like(table), np.zeros_like(table)
    for t, grads in enumerate(steps, start=1):
        for row, g in grads.items():
            table[row], m[row], v[row] = _adam_step(table[row], m[row], v[row], g, t)
    return table


def _lookup_steps(optimizer, lookups, weights):
    """Minimise sum(weight * table[row]) over each step's looked-up rows."""
    table = tf.Variable(np.ones((4, 2), np.float32))
    for rows, w in zip(lookups, weights):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(table, rows) * tf.constant(w)[:, None])
        grads = tape.gradient(loss, [table])
        assert isinstance(grads[0], tf.IndexedSlices)
        optimizer.apply_gradients(zip(grads, [table]))
    return table.numpy()


def test_only_looked_up_rows_move_by_adams_update():
    # Row 0 is looked up twice in the first step: its gradients add up.
    lookups = [[0, 0, 2], [2], [1, 2]]
    weights = [[1.0, 2.0, -1.0], [0.5], [3.0, -2.0]]
    got = _lookup_steps(LazyAdam(learning_rate=LR), lookups, weights)
    expected = _adam_rows([{0: 3.0, 2: -1.0}, {2: 0.5}, {1: 3.0, 2: -2.0}])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_array_equal(got[3], [1.0, 1.0])  # never looked up
    # Row 0 was not looked up after the first step: it stayed where it was.
    np.testing.assert_allclose(got[0], 1.0 - LR, rtol=1e-5)


def test_keras_adam_moves_rows_the_batch_did_not_look_up():
    """Why LazyAdam exists: tf_keras's Adam keeps moving row 0 by its momentum."""
    lookups = [[0, 0, 2], [2], [1, 2]]
    weights = [[1.0, 2.0, -1.0], [0.5], [3.0, -2.0]]
    dense = _lookup_steps(tf_keras.optimizers.Adam(learning_rate=LR), lookups, weights)
    assert dense[0, 0] < 1.0 - LR - 0.05


def _dense_steps(optimizer, start, scales):
    """Minimise sum(scale * var**2), one step per scale; the variable after."""
    var = tf.Variable(np.asarray(start, np.float32))
    for scale in scales:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(scale * var**2)
        optimizer.apply_gradients(zip(tape.gradient(loss, [var]), [var]))
    return var.numpy()


def _adam_dense(start, scales):
    """Adam on sum(scale * var**2) in float64, written out by hand."""
    var = np.asarray(start, np.float64)
    m, v = np.zeros_like(var), np.zeros_like(var)
    for t, scale in enumerate(scales, start=1):
        var, m, v = _adam_step(var, m, v, 2 * scale * var, t)
    return var


def test_dense_variables_get_plain_adam():
    """The fused kernel computes Adam's update: within float32 rounding of
    the float64 one, and of tf_keras's Adam (whose dozen separate ops round
    more often: 1.3e-6 off here, against 1e-7)."""
    start, scales = [1.0, -2.0, 0.5], [1.0, -0.5, 2.0]
    expected = _adam_dense(start, scales)
    lazy = _dense_steps(LazyAdam(learning_rate=LR), start, scales)
    keras = _dense_steps(tf_keras.optimizers.Adam(LR), start, scales)
    np.testing.assert_allclose(lazy, expected, rtol=5e-7, atol=0)
    np.testing.assert_allclose(lazy, keras, rtol=1e-5, atol=0)
    # Far from a step that did nothing or went the wrong way.
    assert np.all(np.abs(lazy - np.asarray(start)) > 0.15)


def test_dense_variants_without_a_fused_kernel_take_keras_path():
    # Gradients that shrink a hundredfold: v falls (by 0.1% a step), so
    # amsgrad's running maximum of v changes the steps: 8e-5 off plain Adam
    # here, against the 1e-6 of float32 rounding.
    start, scales = [1.0, -2.0, 0.5], [1.0, 0.01, 0.01]
    lazy = _dense_steps(LazyAdam(learning_rate=LR, amsgrad=True), start, scales)
    keras = _dense_steps(tf_keras.optimizers.Adam(LR, amsgrad=True), start, scales)
    np.testing.assert_array_equal(lazy, keras)
    plain = _adam_dense(start, scales)
    assert np.max(np.abs(lazy - plain)) > 2e-5
