"""DeepCTR's ESMM in benchmarks/peer_esmm.py: same examples as our Trainer.

On the shared tiny pipeline run: the peer trains on exactly one pass of the
Trainer's input, composes pCTCVR as pCTR * pCVR, and learns CTR well above
chance; its figures are the GroundTruthEvaluator's, in both readings.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import peer_esmm
from evaluation import groundtruth
from models.config import ModelConfig
from transform import features

# Small enough for the tiny logs' ~6,000 train examples to give 47 batches.
TINY_PEER = peer_esmm.PeerConfig(
    peer_embedding_dim=8, peer_tower_units=(32, 16), peer_learning_rate=0.01
)
BATCH = 128
WARMUP = 2


@pytest.fixture(scope="module")
def run_data(pipeline_run) -> peer_esmm.RunData:
    return peer_esmm.load_run(pipeline_run[1].artifacts)


@pytest.fixture(scope="module")
def trained_peer(run_data) -> peer_esmm.Trained:
    variant = peer_esmm.Variant(peer_esmm.PEER, TINY_PEER.peer_tower_units)
    settings = peer_esmm.Settings(ModelConfig(batch_size=BATCH), TINY_PEER, WARMUP)
    return peer_esmm.train(run_data, variant, 0, settings)


def _one_trainer_pass(data: peer_esmm.RunData) -> int:
    """Examples in one pass of the Trainer's own input dataset."""
    dataset = peer_esmm.train_dataset(data, BATCH)
    return sum(int(tf.shape(labels[features.LABEL_CLICK])[0]) for _, labels in dataset)


def test_peer_trains_on_exactly_the_trainers_one_pass(run_data, trained_peer):
    one_pass = _one_trainer_pass(run_data)
    assert one_pass == run_data.train_examples > 5_000  # the ExampleGen's count
    assert trained_peer.trained_examples == one_pass


def test_peer_pctcvr_is_pctr_times_pcvr(run_data, trained_peer):
    for reading in peer_esmm.READINGS:
        out = peer_esmm.predict(trained_peer.readings[reading], run_data.eval_features)
        assert len(out[features.OUTPUT_PCTR]) == len(run_data.eval_frame)
        assert np.all((out[features.OUTPUT_PCVR] > 0) & (out[features.OUTPUT_PCVR] < 1))
        np.testing.assert_allclose(
            out[features.OUTPUT_PCTCVR],
            out[features.OUTPUT_PCTR] * out[features.OUTPUT_PCVR],
            rtol=1e-5,
        )


def test_peer_learns_ctr_and_unknown_position_changes_its_scores(
    run_data, trained_peer
):
    figures = peer_esmm.evaluate(trained_peer, run_data)
    for reading in peer_esmm.READINGS:
        overall = figures[reading][groundtruth.OVERALL]
        assert overall["ctr_auc"]["model"] > 0.6, reading
        assert overall["ctr_auc"]["expected_model"] > 0.6, reading
        assert 0 < overall["ctcvr_auc"]["fraction"] < 1.2
    logged, unknown = (
        peer_esmm.predict(trained_peer.readings[r], run_data.eval_features)
        for r in (peer_esmm.POSITION_LOGGED, peer_esmm.POSITION_UNKNOWN)
    )
    assert not np.allclose(logged[features.OUTPUT_PCTR], unknown[features.OUTPUT_PCTR])
    # Every impression without a position gets one index: an OOV bucket.
    index = peer_esmm.unknown_position_index(run_data.tft_output)
    assert index >= run_data.vocab[features.POSITION] - features.NUM_OOV_BUCKETS
