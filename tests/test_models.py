"""ESM2, ESMM and the DNN baseline against their own equations."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from models.config import ModelConfig
from models.esm2 import sequential_composition
from models.probability import LogProb, log_loss
from models.registry import build_model
from transform import features

VOCAB = 7 + features.NUM_OOV_BUCKETS  # 7 known IDs, then the OOV buckets
BATCH = 16
SMALL = ModelConfig(tower_units=(8, 4), dropout=0.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _inputs(batch=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {
        c.name: rng.integers(0, VOCAB, batch) for c in features.VOCABULARY_FEATURES
    }
    inputs.update(
        {
            c.name: rng.uniform(-1, 1, batch).astype("float32")
            for c in features.DENSE_FEATURES
        }
    )
    return {k: tf.constant(v) for k, v in inputs.items()}


def _labels(batch=BATCH, seed=1):
    rng = np.random.default_rng(seed)
    click = rng.integers(0, 2, batch)
    daction = click * rng.integers(0, 2, batch)
    purchase = click * rng.integers(0, 2, batch)
    return {
        features.LABEL_CLICK: tf.constant(click),
        features.LABEL_DACTION: tf.constant(daction),
        features.LABEL_PURCHASE: tf.constant(purchase),
    }


def _model(name, config=SMALL):
    return build_model(
        {c.name: VOCAB for c in features.VOCABULARY_FEATURES},
        ModelConfig(**{**config.__dict__, "model": name}),
    )


# --- The sequential composition on fixed tower outputs ---------------------
LOGITS = np.array(
    [
        [-2.0, 0.5, 1.0, -3.0],
        [3.0, -1.0, 0.0, 2.0],
        [0.0, 0.0, 0.0, 0.0],
        [-6.0, 4.0, -2.0, -5.0],
    ]
)


def test_composition_matches_the_paper_equations():
    y1, y2, y3, y4 = (_sigmoid(LOGITS[:, k]) for k in range(4))
    out = sequential_composition(
        *(LogProb.from_logit(tf.constant(LOGITS[:, k])) for k in range(4))
    )
    got = {name: out[name].prob().numpy() for name in features.MODEL_OUTPUTS}
    pcvr = y2 * y3 + (1 - y2) * y4
    np.testing.assert_allclose(got["pctr"], y1, rtol=1e-12)
    np.testing.assert_allclose(got["pctavr"], y1 * y2, rtol=1e-12)
    np.testing.assert_allclose(got["pcvr"], pcvr, rtol=1e-12)
    np.testing.assert_allclose(got["pctcvr"], y1 * pcvr, rtol=1e-12)
    np.testing.assert_allclose(got["pctcvr"], got["pctr"] * got["pcvr"], rtol=1e-12)
    # and log(1 - p) is the complement of the same probability
    for name in features.MODEL_OUTPUTS:
        np.testing.assert_allclose(
            np.exp(out[name].log_q.numpy()), 1 - got[name], rtol=1e-9
        )


def test_esm2_outputs_are_the_composition_of_its_towers():
    model = _model("esm2")
    inputs = _inputs()
    y = {
        k: v.prob().numpy().astype(np.float64)
        for k, v in model.decomposed(inputs, False).items()
    }
    out = {k: v.numpy() for k, v in model(inputs).items()}
    pcvr = y["y2"] * y["y3"] + (1 - y["y2"]) * y["y4"]
    np.testing.assert_allclose(out["pctr"], y["y1"], rtol=1e-5)
    np.testing.assert_allclose(out["pctavr"], y["y1"] * y["y2"], rtol=1e-5)
    np.testing.assert_allclose(out["pcvr"], pcvr, rtol=1e-5)
    np.testing.assert_allclose(out["pctcvr"], y["y1"] * pcvr, rtol=1e-5)
    for value in out.values():
        assert value.shape == (BATCH,)
        assert np.all((value >= 0) & (value <= 1))


@pytest.mark.parametrize("name", ["esmm", "dnn"])
def test_baselines_compose_ctcvr_as_product_and_export_zero_ctavr(name):
    out = {k: v.numpy() for k, v in _model(name)(_inputs()).items()}
    assert set(out) == set(features.MODEL_OUTPUTS)
    np.testing.assert_allclose(out["pctcvr"], out["pctr"] * out["pcvr"], rtol=1e-5)
    np.testing.assert_array_equal(out["pctavr"], np.zeros(BATCH))


# --- Numerical safety --------------------------------------------------------
@pytest.mark.parametrize("scale", [30.0, 100.0, 1000.0])
def test_composed_log_loss_is_finite_at_extreme_logits(scale):
    rng = np.random.default_rng(0)
    logits = [
        tf.Variable(rng.choice([-scale, scale], 64).astype("float32")) for _ in range(4)
    ]
    labels = tf.constant(rng.integers(0, 2, 64))
    with tf.GradientTape() as tape:
        out = sequential_composition(*(LogProb.from_logit(v) for v in logits))
        loss = sum(
            tf.reduce_mean(log_loss(labels, out[name]))
            for name in ("pctr", "pctavr", "pctcvr")
        )
    grads = tape.gradient(loss, logits)
    assert np.isfinite(loss.numpy())
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_composed_log_loss_agrees_with_float64_reference_where_that_is_finite():
    logits = np.array([[-30.0, 25.0, -20.0, 15.0], [12.0, -14.0, 9.0, -11.0]])
    y1, y2, y3, y4 = (_sigmoid(logits[:, k]) for k in range(4))
    p = y1 * (y2 * y3 + (1 - y2) * y4)
    out = sequential_composition(
        *(LogProb.from_logit(tf.constant(logits[:, k])) for k in range(4))
    )["pctcvr"]
    for label in (0, 1):
        expected = -(label * np.log(p) + (1 - label) * np.log1p(-p))
        got = log_loss(tf.constant([label, label]), out).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-15)


# --- Gradients: which losses reach which towers -----------------------------


def test_each_esm2_loss_reaches_the_shared_embeddings_and_its_towers():
    model = _model("esm2")
    inputs, labels = _inputs(), _labels()
    model(inputs)  # build
    expected_towers = {"ctr": {1}, "ctavr": {1, 2}, "ctcvr": {1, 2, 3, 4}}
    for task, towers in expected_towers.items():
        with tf.GradientTape() as tape:
            losses = model.task_losses(labels, model.compose(inputs, training=True))
        embedding_grads, tower_grads = tape.gradient(
            losses[task],
            [model.sem.trainable_variables, model.towers.trainable_variables],
        )
        embedding_norm = sum(
            float(tf.norm(tf.convert_to_tensor(g))) for g in embedding_grads
        )
        assert embedding_norm > 0, f"{task} loss does not reach the shared embeddings"
        # The towers' weights are stacked: tower k's are slice k - 1 of each.
        reached = {
            k
            for k in range(1, len(model.TOWERS) + 1)
            if any(
                g is not None and float(tf.norm(g[k - 1])) > 0 for g in tower_grads
            )
        }
        assert reached == towers, (
            f"{task} loss reaches towers {reached}, expected {towers}"
        )


def test_dnn_cvr_loss_uses_clicked_impressions_only():
    model = _model("dnn")
    inputs = _inputs(batch=6)
    labels = {
        features.LABEL_CLICK: tf.constant([1, 1, 0, 0, 1, 0]),
        features.LABEL_DACTION: tf.zeros(6, tf.int64),
        features.LABEL_PURCHASE: tf.constant([1, 0, 0, 0, 0, 0]),
    }
    probs = model.compose(inputs, training=False)
    pcvr = probs["pcvr"].prob().numpy().astype(np.float64)
    clicked = np.array([0, 1, 4])
    purchase = np.array([1, 0, 0])
    expected = -np.mean(
        purchase * np.log(pcvr[clicked]) + (1 - purchase) * np.log1p(-pcvr[clicked])
    )
    got = model.task_losses(labels, probs)["cvr"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'esm3'"):
        _model("esm3")


def test_a_few_training_steps_lower_the_loss_on_a_learnable_signal():
    """The Keras train_step really optimises the composed objective."""
    rng = np.random.default_rng(0)
    n = 512
    inputs = _inputs(batch=n, seed=3)
    signal = inputs[features.DENSE_FEATURES[0].name].numpy()
    click = (rng.uniform(size=n) < _sigmoid(3 * signal)).astype("int64")
    daction = click * (rng.uniform(size=n) < 0.5)
    purchase = click * (rng.uniform(size=n) < _sigmoid(2 * signal - 1))
    labels = {
        "click": click,
        "daction": daction.astype("int64"),
        "purchase": purchase.astype("int64"),
    }
    model = _model(
        "esm2", ModelConfig(tower_units=(16,), dropout=0.0, learning_rate=0.01)
    )
    data = tf.data.Dataset.from_tensor_slices((dict(inputs), labels)).batch(64)
    history = model.fit(data, epochs=8, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["ctr_auc"][-1] > 0.75


def test_prior_model_learns_base_rates_and_ranks_nothing():
    model = _model("prior", ModelConfig(learning_rate=0.05))
    inputs, labels = _inputs(batch=256, seed=5), _labels(batch=256, seed=6)
    data = tf.data.Dataset.from_tensor_slices((dict(inputs), labels)).batch(64).repeat()
    model.fit(data, steps_per_epoch=200, epochs=1, verbose=0)
    out = {k: v.numpy() for k, v in model(inputs).items()}
    # One prediction for every impression, to the last bit, in any batch size
    # (computed per example, exp/log differ between vectorised lanes).
    for batch in (256, 1003):
        scores = model(_inputs(batch=batch, seed=7))
        assert all(np.ptp(v.numpy()) == 0 for v in scores.values())
    click_rate = labels["click"].numpy().mean()
    np.testing.assert_allclose(out["pctr"][0], click_rate, atol=0.03)


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        _model("esm2", dataclasses.replace(SMALL, optimizer="sgd"))


# --- Position bias and trained "unknown" rows --------------------------------
def _learnable_data(n=512, seed=3):
    """Inputs and labels where clicks follow a dense feature and the position."""
    rng = np.random.default_rng(seed)
    inputs = _inputs(batch=n, seed=seed)
    signal = inputs[features.DENSE_FEATURES[0].name].numpy()
    position = inputs[features.POSITION].numpy()
    click = rng.uniform(size=n) < _sigmoid(2 * signal - 0.3 * position)
    labels = {
        features.LABEL_CLICK: click.astype("int64"),
        features.LABEL_DACTION: (click & (rng.uniform(size=n) < 0.5)).astype("int64"),
        features.LABEL_PURCHASE: (click & (rng.uniform(size=n) < 0.3)).astype("int64"),
    }
    return inputs, labels


def _fit(model, inputs, labels, epochs=3):
    data = tf.data.Dataset.from_tensor_slices((dict(inputs), labels)).batch(64)
    model.fit(data, epochs=epochs, verbose=0)
    return model


@pytest.mark.parametrize("name", ["esm2", "esmm", "dnn"])
def test_served_scores_ignore_the_position_and_use_the_trained_unknown_offset(name):
    config = dataclasses.replace(SMALL, position_unknown_rate=0.2, learning_rate=0.02)
    inputs, labels = _learnable_data()
    model = _fit(_model(name, config), inputs, labels)
    offsets = model.position_bias.offsets.embeddings.numpy()
    unknown = offsets[model.position_bias.unknown_index]
    # The "position unknown" row learned something (it starts at 0) ...
    assert np.all(np.abs(unknown) > 1e-4), unknown
    # ... and a model call without a position uses exactly it.
    without = {k: v for k, v in inputs.items() if k != features.POSITION}
    served = model(without)["pctr"].numpy()
    forced = dict(
        inputs, **{features.POSITION: tf.fill([512], tf.constant(VOCAB, tf.int64))}
    )
    np.testing.assert_allclose(served, model(forced)["pctr"].numpy(), rtol=1e-6)
    # Keras validation scores as served: the logged positions change nothing.
    shuffled = dict(
        inputs, **{features.POSITION: tf.random.shuffle(inputs[features.POSITION])}
    )
    data = lambda x: tf.data.Dataset.from_tensor_slices((dict(x), labels)).batch(64)
    assert model.evaluate(data(inputs), verbose=0) == model.evaluate(
        data(shuffled), verbose=0
    )


def test_without_hidden_positions_the_unknown_offset_stays_untrained():
    config = dataclasses.replace(SMALL, position_unknown_rate=0.0, learning_rate=0.02)
    model = _fit(_model("esm2", config), *_learnable_data())
    offsets = model.position_bias.offsets.embeddings.numpy()
    assert np.all(offsets[model.position_bias.unknown_index] == 0.0)
    assert np.any(offsets[:VOCAB] != 0.0)  # the logged positions' rows did learn


def _oov_rows(model, column):
    table = model.sem.embeddings[column].embeddings.numpy()
    return table[VOCAB - features.NUM_OOV_BUCKETS :]


@pytest.mark.parametrize("rate, trained", [(0.3, True), (0.0, False)])
def test_every_oov_row_is_trained_only_with_hidden_ids(rate, trained):
    """Inputs use the 7 known IDs only, so OOV rows learn from hidden IDs alone."""
    config = dataclasses.replace(SMALL, id_unknown_rate=rate, learning_rate=0.02)
    inputs, labels = _learnable_data(n=1024)
    known = {
        name: value % (VOCAB - features.NUM_OOV_BUCKETS)
        if name in [c.name for c in features.ID_FEATURES]
        else value
        for name, value in inputs.items()
    }
    tf.keras.utils.set_random_seed(0)
    model = _model("esm2", config)
    model(known)  # builds the tables
    before = {c.name: _oov_rows(model, c.name) for c in features.ID_FEATURES}
    _fit(model, known, labels, epochs=2)
    for column in features.ID_FEATURES:
        moved = np.any(_oov_rows(model, column.name) != before[column.name], axis=1)
        assert np.all(moved) if trained else not np.any(moved), column.name


# --- Embedding widths ---------------------------------------------------------
def _embedding_widths(model) -> dict:
    model(_inputs())  # builds the tables
    return {
        v.name.split("/")[-2]: int(v.shape[1])
        for v in model.trainable_variables
        if "_embedding" in v.name
    }


@pytest.mark.parametrize("name", ["esm2", "esmm", "dnn"])
def test_embedding_dim_zero_keeps_each_features_own_width(name):
    widths = _embedding_widths(_model(name))
    expected = {f"{c.name}_embedding": c.embedding_dim for c in features.ID_FEATURES}
    # The DNN has two embedding sets (one per tower); each has every width.
    assert set(widths.items()) == set(expected.items())
    assert len(set(expected.values())) > 1  # the per-feature widths differ


@pytest.mark.parametrize("name", ["esm2", "esmm", "dnn"])
def test_embedding_dim_gives_every_id_feature_that_width(name):
    config = dataclasses.replace(SMALL, embedding_dim=5)
    widths = _embedding_widths(_model(name, config))
    assert sorted(widths) == sorted(f"{c.name}_embedding" for c in features.ID_FEATURES)
    assert set(widths.values()) == {5}


def test_negative_embedding_dim_is_refused():
    with pytest.raises(ValueError, match="embedding width"):
        _model("esm2", dataclasses.replace(SMALL, embedding_dim=-1))
