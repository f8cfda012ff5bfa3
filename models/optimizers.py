"""Adam that updates only the embedding rows a batch looked up.

tf_keras's Adam treats a sparse gradient densely: every step it decays the
first and second moments of *every* row of every embedding table and moves
every row by its decayed momentum, whether the batch looked it up or not. On
the ``paper`` preset's tables (12.6M embedding parameters on 1.1M train
impressions: 95k user IDs x 64, 50k item IDs x 128) that dense
update took a third of a training step (ESM2 trains 1.5x faster without it,
benchmarks/trainer_bench.py), and it keeps moving a rarely seen ID for
steps after the batch that saw it. ``LazyAdam`` (the TF Addons
optimiser of that name, which is not installable with TF 2.16) applies the
Adam update to the looked-up rows only; dense variables get plain Adam.

tf_keras writes the dense update as nine element-wise ops and three
assignments, each a pass over the variable; ESM2's four towers at the
paper's sizes hold about a million weights, so that is a dozen passes over
4 MB every step. ``LazyAdam`` runs the same update as TensorFlow's fused
``ResourceApplyAdam`` kernel: one pass, the same arithmetic.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras


class LazyAdam(tf_keras.optimizers.Adam):
    """Adam whose sparse updates touch only the rows in the gradient."""

    def update_step(self, gradient, variable):
        dense = not isinstance(gradient, tf.IndexedSlices)
        if dense and (self.amsgrad or self.adaptive_epsilon):
            # Variants ResourceApplyAdam has no kernel for: tf_keras's path.
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        beta_1_power, beta_2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
        slot = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[slot], self._velocities[slot]
        if dense:
            # tf_keras's dense update in one fused kernel, the same arithmetic:
            # lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon).
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=lr,
                beta1=beta_1,
                beta2=beta_2,
                epsilon=tf.cast(self.epsilon, dtype),
                grad=gradient,
            )
            return
        # apply_gradients has already summed repeated lookups of a row into
        # one (``_deduplicate_sparse_grad``): the indices are unique here, so
        # no data-dependent shape enters the step XLA compiles on a GPU.
        indices, values = gradient.indices, gradient.values
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m_rows = beta_1 * tf.gather(m, indices) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, indices) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, indices))
        v.scatter_update(tf.IndexedSlices(v_rows, indices))
        variable.scatter_sub(
            tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), indices)
        )
