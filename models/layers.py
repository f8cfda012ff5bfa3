"""The building blocks every model shares: embeddings, towers, position bias."""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import tensorflow as tf
import tf_keras

from transform import features


def hide_at_random(
    index: tf.Tensor, rate: float, replacement: tf.Tensor
) -> tf.Tensor:
    """``index`` with a share ``rate`` of its entries swapped for ``replacement``.

    Trains the rows a request without the value will use: without it those
    rows keep their random initial values, and a served score for such a
    request comes from weights no example ever touched.
    """
    hidden = tf.random.uniform(tf.shape(index)) < rate
    return tf.where(hidden, tf.cast(replacement, index.dtype), index)


class SharedEmbedding(tf_keras.layers.Layer):
    """ESM2's SEM: one embedding per ID feature, concatenated with the dense ones.

    Dense features arrive already squashed by Transform (tanh of the z-score,
    the paper's eq. 17), so they enter the concatenation as they are. In
    training, a share ``unknown_rate`` of each ID feature's lookups goes to
    a random OOV bucket (the last ``features.NUM_OOV_BUCKETS`` rows), so the
    buckets that unseen and missing IDs land in at serving are trained.
    """

    def __init__(
        self, vocab_sizes: Mapping[str, int], unknown_rate: float = 0.0, **kwargs
    ):
        super().__init__(**kwargs)
        missing = [c.name for c in features.ID_FEATURES if c.name not in vocab_sizes]
        if missing:
            raise ValueError(f"no vocabulary size for ID features {missing}")
        self.unknown_rate = unknown_rate
        self.vocab_sizes = {c.name: vocab_sizes[c.name] for c in features.ID_FEATURES}
        self.embeddings: Dict[str, tf_keras.layers.Embedding] = {
            column.name: tf_keras.layers.Embedding(
                vocab_sizes[column.name],
                column.embedding_dim,
                name=f"{column.name}_embedding",
            )
            for column in features.ID_FEATURES
        }

    def _index(self, name: str, index: tf.Tensor, training: bool) -> tf.Tensor:
        index = tf.reshape(index, [-1])
        if not training or self.unknown_rate <= 0.0:
            return index
        first_oov = self.vocab_sizes[name] - features.NUM_OOV_BUCKETS
        bucket = tf.random.uniform(
            tf.shape(index), first_oov, self.vocab_sizes[name], dtype=index.dtype
        )
        return hide_at_random(index, self.unknown_rate, bucket)

    def call(self, inputs: Mapping[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        parts = [
            self.embeddings[column.name](
                self._index(column.name, inputs[column.name], training)
            )
            for column in features.ID_FEATURES
        ]
        parts += [
            tf.reshape(tf.cast(inputs[column.name], tf.float32), [-1, 1])
            for column in features.DENSE_FEATURES
        ]
        return tf.concat(parts, axis=1)


class PositionBias(tf_keras.layers.Layer):
    """A shallow position-bias tower: one logit offset per model tower.

    Where an item was shown changes whether it is clicked (and, through who
    clicks deep in a page, whether a click converts), but when ranking
    candidates the position is not known yet. So position never enters the
    towers: it adds a learned offset per position to each tower's logit in
    training (the "shallow tower" of Zhao et al., RecSys 2019), and the
    towers learn relevance net of where the item was shown. A share
    ``unknown_rate`` of training examples has its position hidden, which
    trains the offset of an extra "position unknown" row; the served model
    always uses that row, so its scores are calibrated for an unknown slot
    and rank by the towers alone. Offsets start at 0.

    The table holds offset / ``RATE_MULTIPLIER``: Adam moves a weight by
    about the learning rate per step whatever its gradient's scale, so at
    the paper's 0.0005 an offset could move only 0.24 in one pass over 480k
    examples, while the position effect spans about 2 logits (-0.5 log
    rank over 50 ranks in the ``paper`` preset). Scaled, the offsets move 20
    times faster; the towers reach large effects through many weights.
    """

    RATE_MULTIPLIER = 20.0

    def __init__(
        self, vocab_size: int, num_logits: int, unknown_rate: float, **kwargs
    ):
        super().__init__(**kwargs)
        self.unknown_index = vocab_size  # the row after the vocabulary's
        self.unknown_rate = unknown_rate
        self.num_logits = num_logits
        self.offsets = tf_keras.layers.Embedding(
            vocab_size + 1,
            num_logits,
            embeddings_initializer="zeros",
            name="position_offsets",
        )

    def call(
        self,
        inputs: Mapping[str, tf.Tensor],
        batch_like: tf.Tensor,
        training: bool = False,
    ) -> List[tf.Tensor]:
        """``num_logits`` offsets of shape (batch,); "unknown" without a position."""
        position = inputs.get(features.POSITION)
        if position is None:
            index = tf.fill(tf.shape(batch_like)[:1], self.unknown_index)
        else:
            index = tf.reshape(position, [-1])
            if training and self.unknown_rate > 0.0:
                index = hide_at_random(index, self.unknown_rate, self.unknown_index)
        offsets = self.RATE_MULTIPLIER * self.offsets(index)
        return tf.unstack(offsets, num=self.num_logits, axis=1)


class Dense(tf_keras.layers.Dense):
    """A Dense layer whose training matmul may run in a narrower float type.

    On CPUs with bfloat16 matmul units (AVX512-BF16, AMX) a bfloat16 matmul
    runs 3-4 times faster than a float32 one, and the towers' matmuls are
    most of an ESM2 training step. Only the matmul is narrowed: the bias,
    the activation, dropout and every gradient update stay float32 (Eigen's
    element-wise bfloat16 kernels are slower than float32 ones, and the
    weights themselves stay float32). Evaluation and serving (``training``
    false) always compute in float32, so the exported model runs on any
    device and scores what the weights say, not a rounded version of it.
    """

    def __init__(
        self, units: int, training_matmul_dtype: tf.DType = tf.float32, **kwargs
    ):
        super().__init__(units, **kwargs)
        self.training_matmul_dtype = tf.as_dtype(training_matmul_dtype)

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        narrow = self.training_matmul_dtype
        if not training or narrow == self.compute_dtype:
            return super().call(inputs)
        product = tf.matmul(tf.cast(inputs, narrow), tf.cast(self.kernel, narrow))
        outputs = tf.cast(product, self.compute_dtype)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return self.activation(outputs)


class Tower(tf_keras.layers.Layer):
    """One MLP of the DPM: ReLU layers with dropout, then a single logit."""

    def __init__(
        self,
        units: Sequence[int],
        dropout: float,
        training_matmul_dtype: tf.DType = tf.float32,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden = []
        for width in units:
            self.hidden.append(Dense(width, training_matmul_dtype, activation="relu"))
            self.hidden.append(tf_keras.layers.Dropout(dropout))
        self.logit = Dense(1, training_matmul_dtype)

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = inputs
        for layer in self.hidden:
            x = layer(x, training=training)
        return tf.squeeze(self.logit(x, training=training), axis=1)
