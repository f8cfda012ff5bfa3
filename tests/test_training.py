"""The Trainer's mechanics: exact step counts, replica-correct gradients, AUCs."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from sklearn.metrics import roc_auc_score

from models.auc import LOG_REFRESH_UPDATES, HistogramAUC
from models.trainer import EVAL_ROUNDS, StopAfterSteps, fit_schedule
from tests.test_models import SMALL, _inputs, _labels, _model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("steps", [1, 15, 37, 300])
def test_train_steps_trains_exactly_that_many_batches(steps):
    passes, epochs, per_epoch = fit_schedule(steps, epochs=1)
    assert passes is None and epochs <= EVAL_ROUNDS
    assert (epochs - 1) * per_epoch < steps <= epochs * per_epoch
    model = _model("esm2")
    data = tf.data.Dataset.from_tensor_slices((_inputs(), _labels())).batch(4)
    history = model.fit(
        data.repeat(),
        epochs=epochs,
        steps_per_epoch=per_epoch,
        callbacks=[StopAfterSteps(steps)],
        verbose=0,
    )
    assert int(model.optimizer.iterations.numpy()) == steps
    assert len(history.history["loss"]) == epochs  # every round is logged


def _logit(p):
    return np.log(p) - np.log1p(-p)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-5, 1e-18])
def test_histogram_auc_matches_the_exact_auc_also_for_scores_near_zero(scale):
    """Keras' 1,000-threshold AUC reads CTCVR-like scores (~1e-3) as ties."""
    rng = np.random.default_rng(0)
    n = 20_000
    latent = rng.normal(size=n)
    scores = np.clip(scale / (1.0 + np.exp(-latent)), 1e-21, 1 - 1e-7)
    labels = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-2 * latent - 2))).astype(float)
    weights = rng.integers(0, 2, n).astype(float)  # 0 leaves an example out
    metric = HistogramAUC()
    for part in np.array_split(np.arange(n), 7):  # streamed in batches
        metric.update_state(labels[part], _logit(scores[part]), weights[part])
    exact = roc_auc_score(labels, scores, sample_weight=weights)
    assert abs(float(metric.result()) - exact) < 1e-4
    if scale < 1e-2:
        keras = tf.keras.metrics.AUC(num_thresholds=1000)
        keras.update_state(labels, scores, sample_weight=weights)
        assert abs(float(keras.result()) - exact) > 0.05  # what this replaces


def test_logged_auc_is_refreshed_at_the_first_update_and_then_periodically():
    rng = np.random.default_rng(1)
    metric = HistogramAUC()
    seen = []
    for update in range(1, LOG_REFRESH_UPDATES + 2):
        labels = rng.integers(0, 2, 50)
        metric.update_state(labels, rng.normal(size=50) + update * labels / 20)
        seen.append((update, float(metric.logged_result()), float(metric.result())))
    for update, logged, exact in seen:
        if update in (1, LOG_REFRESH_UPDATES + 1):
            assert logged == exact
        else:  # the value of the last refresh
            assert logged == seen[0][1] != exact
    metric.reset_state()
    metric.update_state([0, 1], [-1.0, 1.0])
    assert float(metric.logged_result()) == 1.0  # a reset starts afresh


def test_epoch_logs_carry_the_auc_of_every_step_not_the_last_refresh():
    model = _model("esm2")
    data = tf.data.Dataset.from_tensor_slices(
        (_inputs(batch=64, seed=2), _labels(batch=64, seed=3))
    ).batch(4)  # 16 steps, fewer than LOG_REFRESH_UPDATES
    step_logs = []
    callback = tf_keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: step_logs.append(dict(logs))
    )
    history = model.fit(data, epochs=1, verbose=0, callbacks=[callback]).history
    assert step_logs[-1]["ctr_auc"] == step_logs[0]["ctr_auc"]  # a stand-in
    for name in ("ctr_auc", "cvr_auc", "ctcvr_auc"):
        exact = float(model._aucs[name.removesuffix("_auc")].result())
        assert history[name][0] == pytest.approx(exact, abs=1e-7)
    assert history["ctr_auc"][0] != step_logs[-1]["ctr_auc"]


_MIRRORED_STEP = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from tests.test_models import SMALL, _inputs, _labels, _model
    import dataclasses, tf_keras

    def one_step(strategy, model_name, optimizer):
        tf_keras.utils.set_random_seed(0)
        config = dataclasses.replace(
            SMALL, optimizer=optimizer, id_unknown_rate=0.0,
            position_unknown_rate=0.0, learning_rate=0.05,
            matmul_precision="float32",  # replicas vs one device, not rounding
        )
        with strategy.scope():
            model = _model(model_name, config)
        data = tf.data.Dataset.from_tensor_slices(
            (_inputs(batch=32, seed=4), _labels(batch=32, seed=5))
        ).batch(32)
        logs = model.fit(data, epochs=1, verbose=0).history
        return [w.numpy().tolist() for w in model.trainable_weights], logs["loss"][0]

    model_name, optimizer = sys.argv[1], sys.argv[2]
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert two.num_replicas_in_sync == 2
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    (w2, loss2), (w1, loss1) = (one_step(s, model_name, optimizer) for s in (two, one))
    diffs = [float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(w2, w1)]
    print(json.dumps({"max_diff": max(diffs), "loss": [loss2, loss1]}))
    """
)


@pytest.mark.parametrize(
    "model_name, optimizer", [("esm2", "lazy_adam"), ("dnn", "adam")]
)
def test_two_replicas_and_one_device_take_the_same_step(model_name, optimizer):
    """MirroredStrategy over 2 logical CPUs: same weights as one device.

    Runs in a fresh process: logical devices must be set before TensorFlow
    starts, and this one already has. The DNN's CVR loss is the masked
    (clicked-only) mean, whose denominator also spans both replicas.
    """
    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_STEP, model_name, optimizer],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["max_diff"] < 1e-5, figures
    np.testing.assert_allclose(*figures["loss"], rtol=1e-5)
