"""Running the exported model on a few batch sizes only, whatever the caller sends.

TensorFlow's oneDNN matmuls (CPU) build and cache a kernel per input shape,
in thread-local caches of up to 1,024 kernels each. The Evaluator's reader
lets Beam tune its batch size between 1 and 1,000 examples, so a model
scored on an eval split met hundreds of batch shapes and its kernel caches
grew with the eval set: about 2 KB per eval example, the largest share of
the Evaluator's growing memory (traced with memray, BENCHMARKS.md section
6). Serving on CPU meets the same variety of request sizes.

So the exported signatures pad each batch with zero rows up to its bucket
(the next power of two up to ``LARGEST_POWER_BUCKET``, then a multiple of
it), run the model, and return the real rows only. Rows are independent (no
batch statistics at inference), so the figures are the model's; the model
sees at most 11 shapes below 1,024 and pays at most twice the towers'
arithmetic for a batch just above a power of two. A batch of one is not
padded. What this costs served latency for other batch sizes was not
measured.
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping

import tensorflow as tf

LARGEST_POWER_BUCKET = 1024
POWER_BUCKETS = [2**k for k in range(LARGEST_POWER_BUCKET.bit_length())]  # 1..1024


def bucket_size(batch: tf.Tensor) -> tf.Tensor:
    """The padded size of a batch of ``batch`` rows (an int32 scalar): the
    smallest of ``POWER_BUCKETS`` that holds it, else the next multiple of
    ``LARGEST_POWER_BUCKET``."""
    batch = tf.convert_to_tensor(batch, tf.int32)
    buckets = tf.constant(POWER_BUCKETS, tf.int32)
    index = tf.searchsorted(buckets, tf.reshape(batch, [1]))[0]
    # Past the last power bucket the index runs off the end; the multiple
    # below is used there.
    power = tf.gather(buckets, tf.minimum(index, len(POWER_BUCKETS) - 1))
    multiple = -(-batch // LARGEST_POWER_BUCKET) * LARGEST_POWER_BUCKET
    return tf.where(batch <= LARGEST_POWER_BUCKET, power, multiple)


def _pad_rows(value: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """``value`` with ``rows`` zero rows appended along the batch axis."""
    zeros = tf.zeros(tf.concat([[rows], tf.shape(value)[1:]], 0), value.dtype)
    return tf.concat([value, zeros], 0)


def call_on_bucketed_batch(
    model: Callable[..., Mapping[str, tf.Tensor]], inputs: Mapping[str, tf.Tensor]
) -> Dict[str, tf.Tensor]:
    """``model(inputs, training=False)`` computed on the batch padded to its
    bucket; every output cut back to the batch's own rows."""
    batch = tf.shape(next(iter(inputs.values())))[0]
    extra = bucket_size(batch) - batch
    padded = {name: _pad_rows(value, extra) for name, value in inputs.items()}
    outputs = model(padded, training=False)
    return {name: value[:batch] for name, value in outputs.items()}
