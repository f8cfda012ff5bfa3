"""LazyAdam against Adam's update written out by hand."""

import numpy as np
import tensorflow as tf
import tf_keras

from models.optimizers import LazyAdam

LR, B1, B2, EPS = 0.1, 0.9, 0.999, 1e-7


def _adam_rows(steps):
    """Hand-computed lazy Adam on a (4, 2) table of ones: ``steps`` is a list
    of {row: gradient} dicts; rows absent from a step are left untouched."""
    table = np.ones((4, 2))
    m, v = np.zeros_like(table), np.zeros_like(table)
    for t, grads in enumerate(steps, start=1):
        alpha = LR * np.sqrt(1 - B2**t) / (1 - B1**t)
        for row, g in grads.items():
            m[row] = B1 * m[row] + (1 - B1) * g
            v[row] = B2 * v[row] + (1 - B2) * g**2
            table[row] -= alpha * m[row] / (np.sqrt(v[row]) + EPS)
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


def test_dense_variables_get_plain_adam():
    start = np.array([1.0, -2.0, 0.5], np.float32)
    results = []
    for optimizer in (LazyAdam(learning_rate=LR), tf_keras.optimizers.Adam(LR)):
        var = tf.Variable(start)
        for scale in (1.0, -0.5, 2.0):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(scale * var**2)
            optimizer.apply_gradients(zip(tape.gradient(loss, [var]), [var]))
        results.append(var.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
