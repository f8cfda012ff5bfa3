"""TFT ``preprocessing_fn``: the features the models see, computed on training data.

- Dense features: tanh((f - mean) / std), the paper's eq. 17, with mean and std
  computed by TFT over the training split (after log1p for the heavy-tailed
  columns that ``features.Column.log_scale`` marks). A dense value missing at
  serving time arrives as NaN and becomes the mean (0 after the z-score).
- ID and bias features (position): an integer index from a TFT vocabulary
  (frequency threshold, top-k, OOV buckets for unseen IDs). Integer-valued
  columns (age bucket, power, position) are treated as strings, so their
  vocabulary is their set of values.
- Labels and the slice key pass through unchanged.

The Transform graph is embedded in the exported model, so serving applies
exactly these transformations to raw tf.Examples.
"""

from __future__ import annotations

from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from transform import features


def _dense(column: features.Column, values: tf.Tensor) -> tf.Tensor:
    x = tf.cast(values, tf.float32)
    if column.log_scale:
        x = tf.math.log1p(tf.maximum(x, 0.0))
    missing = tf.math.is_nan(x)
    z = tft.scale_to_z_score(tf.where(missing, tf.zeros_like(x), x))
    return tf.where(missing, tf.zeros_like(z), tf.tanh(z))


def _ids(column: features.Column, values: tf.Tensor) -> tf.Tensor:
    if values.dtype != tf.string:
        values = tf.strings.as_string(values)
    return tft.compute_and_apply_vocabulary(
        values,
        top_k=features.VOCAB_TOP_K,
        frequency_threshold=features.VOCAB_FREQUENCY_THRESHOLD,
        num_oov_buckets=features.NUM_OOV_BUCKETS,
        vocab_filename=column.name,
    )


def preprocessing_fn(inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Raw tf.Example features -> model features, labels and slice key."""
    outputs: Dict[str, tf.Tensor] = {}
    for column in features.DENSE_FEATURES:
        outputs[column.name] = _dense(column, inputs[column.name])
    for column in features.VOCABULARY_FEATURES:
        outputs[column.name] = _ids(column, inputs[column.name])
    for name in (*features.LABELS, features.SLICE_KEY):
        if name in inputs:  # absent when transforming serving requests
            outputs[name] = inputs[name]
    return outputs


def vocabulary_sizes(tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
    """Index range of every vocabulary feature: vocabulary plus OOV buckets.

    Indices at or above ``size - features.NUM_OOV_BUCKETS`` are the OOV
    buckets, shared by rare IDs and IDs never seen in training.
    """
    return {
        column.name: tf_transform_output.vocabulary_size_by_name(column.name)
        + features.NUM_OOV_BUCKETS
        for column in features.VOCABULARY_FEATURES
    }
