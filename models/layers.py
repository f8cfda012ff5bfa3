"""The building blocks every model shares: embeddings, towers, position bias."""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np
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
    Every ID feature gets ``width`` dimensions, or its own
    ``Column.embedding_dim`` where ``width`` is 0.
    """

    def __init__(
        self,
        vocab_sizes: Mapping[str, int],
        unknown_rate: float = 0.0,
        width: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        missing = [c.name for c in features.ID_FEATURES if c.name not in vocab_sizes]
        if missing:
            raise ValueError(f"no vocabulary size for ID features {missing}")
        if width < 0:
            raise ValueError(
                f"embedding width must be 0 (each feature's own) or more, not {width}"
            )
        self.unknown_rate = unknown_rate
        self.vocab_sizes = {c.name: vocab_sizes[c.name] for c in features.ID_FEATURES}
        self.embeddings: Dict[str, tf_keras.layers.Embedding] = {
            column.name: tf_keras.layers.Embedding(
                vocab_sizes[column.name],
                width or column.embedding_dim,
                name=f"{column.name}_embedding",
            )
            for column in features.ID_FEATURES
        }

    def _hide(self, indices: List[tf.Tensor]) -> List[tf.Tensor]:
        """``indices`` (one per ID feature) with a share ``unknown_rate`` of
        each sent to a uniformly drawn OOV bucket of its feature.

        One uniform draw u per lookup makes both choices: u < rate hides the
        ID, and given that, u / rate is uniform on [0, 1) and picks the
        bucket (one random op for every feature, not two per feature).
        """
        draws = tf.random.uniform([len(indices), tf.shape(indices[0])[0]])
        hidden = draws < self.unknown_rate
        buckets = tf.minimum(
            tf.cast(draws / self.unknown_rate * features.NUM_OOV_BUCKETS, tf.int64),
            features.NUM_OOV_BUCKETS - 1,
        )
        hidden_indices = []
        for k, (column, index) in enumerate(zip(features.ID_FEATURES, indices)):
            first_oov = self.vocab_sizes[column.name] - features.NUM_OOV_BUCKETS
            bucket = tf.cast(first_oov + buckets[k], index.dtype)
            hidden_indices.append(tf.where(hidden[k], bucket, index))
        return hidden_indices

    def call(self, inputs: Mapping[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        indices = [tf.reshape(inputs[c.name], [-1]) for c in features.ID_FEATURES]
        if training and self.unknown_rate > 0.0:
            indices = self._hide(indices)
        parts = [
            self.embeddings[column.name](index)
            for column, index in zip(features.ID_FEATURES, indices)
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


def bernoulli_dropout(x: tf.Tensor, rate: float) -> tf.Tensor:
    """``x`` with a share ``rate`` of its entries zeroed and the rest scaled up.

    The same Bernoulli dropout as ``tf.nn.dropout``, at less than half its
    cost: that draws one float32 per activation from the Philox generator
    (the most expensive op of a training step after the matmuls); this
    compares one random byte per activation with ``rate``, four bytes to a
    32-bit draw. Where ``rate`` is not a multiple of 1/256 it uses 16 bits
    per activation, so the rate it applies is ``rate`` rounded to 1/65536.
    """
    bits = 8 if float(rate * 256).is_integer() else 16
    small = tf.uint8 if bits == 8 else tf.uint16
    count = tf.size(x)
    per_word = 32 // bits
    seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    words = tf.random.stateless_uniform(
        [(count + per_word - 1) // per_word],
        seed,
        minval=None,
        maxval=None,
        dtype=tf.uint32,
    )
    draws = tf.reshape(tf.bitcast(words, small), [-1])[:count]
    keep = tf.reshape(draws >= tf.cast(round(rate * 2**bits), small), tf.shape(x))
    scale = 1.0 / (1.0 - rate)
    # bfloat16 would round the scale itself (1/0.9 to 1.109375), and every
    # kept activation with it: where a 16-bit x cannot hold the scale
    # exactly, scale in float32 and round once after.
    exact = x.dtype.size >= 4 or float(np.array(scale, x.dtype.as_numpy_dtype)) == scale
    wide = x.dtype if exact else tf.float32
    return tf.cast(tf.cast(x, wide) * (tf.cast(keep, wide) * scale), x.dtype)


class TowerStack(tf_keras.layers.Layer):
    """A model's MLP towers (ESM2's DPM): ``count`` towers of ReLU layers
    with dropout, then a logit each, computed together.

    Each tower has its own weights, stored stacked: layer i's kernel has
    shape (count, fan_in, fan_out), and each layer runs as one batched
    matmul over (count, batch, width), one bias add, one ReLU and one
    dropout for every tower at once. As separate Keras layers, ESM2's four
    towers cost about four times as many small ops forward and backward,
    each with its own overhead on a CPU. With ``bernoulli_dropout`` and
    ``SharedEmbedding._hide``, ESM2 went from 46k to 60k examples/s in
    ``benchmarks/tower_speed.py`` (bfloat16, towers 256-128-64). Each tower's kernels
    start Glorot-uniform over its own fan-in and fan-out, biases at 0, as
    separate ``Dense`` layers would.

    The input is either one (batch, width) tensor all towers read (the
    shared embeddings) or a (count, batch, width) stack, one per tower.

    On CPUs with bfloat16 matmul units (AVX512-BF16, AMX) a bfloat16 matmul
    runs 3-4 times faster than a float32 one, and the towers' matmuls are
    most of a training step: with ``training_matmul_dtype`` bfloat16, a
    training pass runs the towers in it from the input to the logits (the
    matmuls sum in float32 inside the kernel; the bias add, ReLU and dropout
    work on the bfloat16 activations the next matmul reads anyway). Casting
    each layer's output back to float32 and again to bfloat16 for the next
    matmul cost four passes over every activation per layer, forward and
    back: 20.1 against 18.8 ms for the four towers' forward and backward
    pass at 512-256-128-32, batch 1000 (a throwaway timing loop). The
    weights and their updates stay float32, and so does the logits' bias
    add (a logit of 5 in bfloat16 would move in steps of 1/32).
    Evaluation and serving (``training`` false) compute in float32, so the
    exported model runs on any device and scores what the weights say, not
    a rounded version.
    """

    def __init__(
        self,
        count: int,
        units: Sequence[int],
        dropout: float,
        training_matmul_dtype: tf.DType = tf.float32,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.count = count
        self.units = tuple(units)
        self.dropout = dropout
        self.training_matmul_dtype = tf.as_dtype(training_matmul_dtype)
        self.kernels: List[tf.Variable] = []
        self.biases: List[tf.Variable] = []

    def build(self, input_shape) -> None:
        if len(input_shape) == 3 and input_shape[0] != self.count:
            raise ValueError(
                f"a stack of {input_shape[0]} inputs for {self.count} towers"
            )
        widths = [int(input_shape[-1]), *self.units, 1]
        for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
            limit = (6.0 / (fan_in + fan_out)) ** 0.5
            self.kernels.append(
                self.add_weight(
                    f"kernel_{i}",
                    shape=(self.count, fan_in, fan_out),
                    initializer=tf_keras.initializers.RandomUniform(-limit, limit),
                )
            )
            self.biases.append(
                self.add_weight(
                    f"bias_{i}", shape=(self.count, 1, fan_out), initializer="zeros"
                )
            )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor, training: bool = False) -> List[tf.Tensor]:
        narrow = training and self.training_matmul_dtype != self.compute_dtype
        dtype = self.training_matmul_dtype if narrow else self.compute_dtype
        # One input: (1, batch, width), which the matmul broadcasts over the towers.
        x = inputs if inputs.shape.rank == 3 else tf.expand_dims(inputs, 0)
        x = tf.cast(x, dtype)
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1]):
            x = tf.nn.relu(tf.matmul(x, tf.cast(kernel, dtype)) + tf.cast(bias, dtype))
            if training and self.dropout > 0.0:
                x = bernoulli_dropout(x, self.dropout)
        # The logits' bias in float32: no bfloat16 step on them.
        product = tf.matmul(x, tf.cast(self.kernels[-1], dtype))
        logits = tf.cast(product, self.compute_dtype) + self.biases[-1]
        return tf.unstack(tf.squeeze(logits, axis=2), num=self.count)
