"""The exported model runs on a few padded batch sizes and returns the real rows."""

import numpy as np
import pytest
import tensorflow as tf

from models.batch_buckets import (
    LARGEST_POWER_BUCKET,
    bucket_size,
    call_on_bucketed_batch,
)
from models.config import ModelConfig
from models.registry import build_model
from transform import features

VOCAB = 7 + features.NUM_OOV_BUCKETS


@pytest.mark.parametrize(
    "batch, bucket",
    [(0, 1), (1, 1), (2, 2), (3, 4), (100, 128), (513, 1024), (1024, 1024),
     (1025, 2048), (3000, 3072)],
)
def test_bucket_size(batch, bucket):
    assert int(bucket_size(batch)) == bucket


def test_few_shapes_below_the_largest_power_bucket():
    sizes = {int(bucket_size(n)) for n in range(1, LARGEST_POWER_BUCKET + 1)}
    assert sizes == {2**k for k in range(11)}


def _inputs(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    inputs = {
        c.name: tf.constant(rng.integers(0, VOCAB, batch))
        for c in features.VOCABULARY_FEATURES
    }
    inputs.update(
        {
            c.name: tf.constant(rng.uniform(-1, 1, batch).astype("float32"))
            for c in features.DENSE_FEATURES
        }
    )
    return inputs


class _ShapeRecorder:
    """The model, noting the batch size of every call."""

    def __init__(self, model):
        self.model = model
        self.batches = []

    def __call__(self, inputs, training):
        self.batches.append(int(tf.shape(next(iter(inputs.values())))[0]))
        return self.model(inputs, training=training)


@pytest.mark.parametrize("batch", [1, 5, 37, 300])
def test_padded_call_returns_the_models_rows(batch):
    model = build_model(
        {c.name: VOCAB for c in features.VOCABULARY_FEATURES},
        ModelConfig(tower_units=(8, 4), dropout=0.0),
    )
    inputs = _inputs(batch)
    recorder = _ShapeRecorder(model)
    padded = call_on_bucketed_batch(recorder, inputs)
    direct = model(inputs, training=False)
    assert recorder.batches == [int(bucket_size(batch))]
    for name in features.MODEL_OUTPUTS:
        assert padded[name].shape[0] == batch
        np.testing.assert_allclose(
            padded[name].numpy(), direct[name].numpy(), rtol=1e-5, atol=1e-7
        )
