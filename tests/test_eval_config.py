"""build_eval_config: labels, populations, metrics, slices and blessing, run in TFMA.

The TFMA runs use a tiny SavedModel with the Trainer's serving contract (the
``serving_default`` signature takes serialized raw tf.Examples as
``examples`` and returns the four probabilities); its scores are read from
extra features of the crafted examples, so every expected figure can be
computed independently with sklearn.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import roc_auc_score

from evaluation import eval_config as ec
from evaluation import metrics
from evaluation.results import OVERALL, bucket_slice, load_metrics, named_metrics
from models.trainer import SERVING_SIGNATURE
from transform import features

NUM_IMPRESSIONS = 400
NUM_USERS = 24
CANDIDATE, BETTER = "candidate", "better"  # score sets of the crafted examples


def _score_feature(score_set: str, output: str) -> str:
    return f"score_{score_set}_{output}"


# --- Crafted impressions -------------------------------------------------------------
def _impressions(seed: int = 11) -> Dict[str, np.ndarray]:
    """Labels consistent with the behaviour graph, and two sets of scores.

    Unclicked impressions get high pcvr scores: over all impressions the CVR
    AUC is then far from its clicked-only value, which is what the
    per-output example weight must prevent.
    """
    rng = np.random.default_rng(seed)
    n = NUM_IMPRESSIONS
    user = rng.integers(0, NUM_USERS, n)
    click = (rng.uniform(size=n) < 0.35).astype(np.int64)
    daction = click * (rng.uniform(size=n) < 0.4)
    purchase = click * (rng.uniform(size=n) < 0.3)
    columns = {
        features.USER_ID: np.array([f"u{u}" for u in user]),
        features.SLICE_KEY: np.array(features.PURCHASE_FREQ_BUCKET_NAMES)[
            user % len(features.PURCHASE_FREQ_BUCKET_NAMES)
        ],
        features.LABEL_CLICK: click,
        features.LABEL_DACTION: daction.astype(np.int64),
        features.LABEL_PURCHASE: purchase.astype(np.int64),
    }
    for score_set, noise in ((CANDIDATE, 0.35), (BETTER, 0.1)):
        pctr = _sigmoid(2.0 * click - 1.0 + rng.normal(0, noise * 4, n))
        pctavr = pctr * _sigmoid(2.0 * daction - 1.0 + rng.normal(0, noise * 4, n))
        pcvr_clicked = _sigmoid(2.0 * purchase - 1.0 + rng.normal(0, noise * 4, n))
        pcvr = np.where(click == 1, pcvr_clicked, rng.uniform(0.6, 1.0, n))
        scores = {
            features.OUTPUT_PCTR: pctr,
            features.OUTPUT_PCTAVR: pctavr,
            features.OUTPUT_PCVR: pcvr,
            features.OUTPUT_PCTCVR: pctr * pcvr,
        }
        for output, values in scores.items():
            # float32, as the tf.Example float_list stores and the model returns it
            columns[_score_feature(score_set, output)] = values.astype(np.float32)
    return columns


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _example(columns: Dict[str, np.ndarray], i: int) -> bytes:
    feature = {}
    for name, values in columns.items():
        value = values[i]
        if isinstance(value, str):
            feature[name] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[value.encode()])
            )
        elif np.issubdtype(type(value), np.integer):
            feature[name] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[int(value)])
            )
        else:
            feature[name] = tf.train.Feature(
                float_list=tf.train.FloatList(value=[float(value)])
            )
    return tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()


class _ScoreReader(tf.Module):
    """A model with the Trainer's serving contract that returns stored scores."""

    def __init__(self, score_set: str):
        super().__init__()
        self._spec = {
            output: tf.io.FixedLenFeature([], tf.float32)
            for output in features.MODEL_OUTPUTS
        }
        self._names = {o: _score_feature(score_set, o) for o in features.MODEL_OUTPUTS}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        spec = {self._names[o]: s for o, s in self._spec.items()}
        parsed = tf.io.parse_example(examples, spec)
        return {o: parsed[self._names[o]] for o in features.MODEL_OUTPUTS}


def _save_model(path: str, score_set: str) -> str:
    module = _ScoreReader(score_set)
    tf.saved_model.save(
        module,
        path,
        signatures={SERVING_SIGNATURE: module.serve.get_concrete_function()},
    )
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(columns, eval TFRecord path, {score set: SavedModel path})."""
    root = tmp_path_factory.mktemp("eval_config")
    columns = _impressions()
    path = str(root / "eval.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(NUM_IMPRESSIONS):
            writer.write(_example(columns, i))
    models = {s: _save_model(str(root / s), s) for s in (CANDIDATE, BETTER)}
    return columns, path, models


def _run(config: tfma.EvalConfig, data_path: str, models: Dict[str, str], output: str):
    shared = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=path, eval_config=config, model_name=spec.name
        )
        for spec, path in zip(config.model_specs, models.values())
    ]
    tfma.run_model_analysis(
        eval_shared_model=shared if len(shared) > 1 else shared[0],
        eval_config=config,
        data_location=data_path,
        output_path=output,
    )
    return output


@pytest.fixture(scope="module")
def esm2_run(data, tmp_path_factory):
    _, path, models = data
    output = str(tmp_path_factory.mktemp("esm2_eval"))
    return _run(
        ec.build_eval_config("esm2"), path, {CANDIDATE: models[CANDIDATE]}, output
    )


# --- Structure ------------------------------------------------------------------------
def _specs_by_output(config: tfma.EvalConfig) -> Dict[str, tfma.MetricsSpec]:
    return {spec.output_names[0]: spec for spec in config.metrics_specs}


def _class_names(spec: tfma.MetricsSpec):
    return [m.class_name for m in spec.metrics]


def test_labels_and_populations_per_output():
    config = ec.build_eval_config("esm2")
    (model_spec,) = config.model_specs
    assert model_spec.signature_name == SERVING_SIGNATURE
    assert dict(model_spec.label_keys) == {
        features.OUTPUT_PCTR: features.LABEL_CLICK,
        features.OUTPUT_PCTAVR: features.LABEL_DACTION,
        features.OUTPUT_PCVR: features.LABEL_PURCHASE,
        features.OUTPUT_PCTCVR: features.LABEL_PURCHASE,
    }
    # CVR over clicked impressions only; the rest over every impression.
    assert dict(model_spec.example_weight_keys) == {
        features.OUTPUT_PCVR: features.LABEL_CLICK
    }
    specs = _specs_by_output(config)
    assert set(specs) == set(features.MODEL_OUTPUTS)
    for output, spec in specs.items():
        weighted = output == features.OUTPUT_PCVR
        assert spec.example_weights.weighted == weighted
        assert spec.example_weights.unweighted != weighted


def test_metrics_per_output():
    specs = _specs_by_output(ec.build_eval_config("esm2"))
    common = {
        "ExampleCount",
        "PositiveCount",
        "ExactAUC",
        "MeanCalibration",
        "ExpectedCalibrationError",
    }
    expected_extra = {
        features.OUTPUT_PCTR: set(),
        features.OUTPUT_PCTAVR: set(),
        features.OUTPUT_PCVR: {"TopKPrecisionRecall"},
        features.OUTPUT_PCTCVR: {"TopKPrecisionRecall", "GroupAUC"},
    }
    for output, extra in expected_extra.items():
        assert set(_class_names(specs[output])) == common | extra, output
    custom = [m for s in specs.values() for m in s.metrics if m.module]
    assert {m.module for m in custom} == {metrics.__name__}


@pytest.mark.parametrize("model_name", ["esmm", "dnn"])
def test_models_without_ctavr_skip_it(model_name):
    config = ec.build_eval_config(model_name)
    assert features.OUTPUT_PCTAVR not in _specs_by_output(config)
    assert features.OUTPUT_PCTAVR not in config.model_specs[0].label_keys
    keys = ec.metric_keys(model_name)
    assert ec.CTAVR_AUC not in keys and ec.CTCVR_AUC in keys


def test_slices_are_overall_and_purchase_frequency_bucket():
    config = ec.build_eval_config()
    assert list(config.slicing_specs) == [
        tfma.SlicingSpec(),
        tfma.SlicingSpec(feature_keys=[features.SLICE_KEY]),
    ]


def _auc_threshold(config: tfma.EvalConfig, output: str):
    (auc,) = [
        m
        for m in _specs_by_output(config)[output].metrics
        if m.class_name == "ExactAUC"
    ]
    return auc.per_slice_thresholds


def test_thresholds_come_from_the_dataclass():
    thresholds = ec.BlessingThresholds(
        min_ctr_auc=0.55, min_cvr_auc=0.61, min_ctcvr_auc=None, min_auc_change=-0.02
    )
    config = ec.build_eval_config("esm2", thresholds=thresholds, baseline=False)
    (cvr,) = _auc_threshold(config, features.OUTPUT_PCVR)
    assert list(cvr.slicing_specs) == [tfma.SlicingSpec()]  # overall slice only
    assert cvr.threshold.value_threshold.lower_bound.value == pytest.approx(0.61)
    assert not cvr.threshold.HasField("change_threshold")  # no baseline
    (ctr,) = _auc_threshold(config, features.OUTPUT_PCTR)
    assert ctr.threshold.value_threshold.lower_bound.value == pytest.approx(0.55)
    assert not _auc_threshold(config, features.OUTPUT_PCTCVR)  # None disables it
    assert not _auc_threshold(config, features.OUTPUT_PCTAVR)

    with_baseline = ec.build_eval_config("esm2", thresholds=thresholds, baseline=True)
    for output in (features.OUTPUT_PCVR, features.OUTPUT_PCTCVR):
        (threshold,) = _auc_threshold(with_baseline, output)
        change = threshold.threshold.change_threshold
        assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        assert change.absolute.value == pytest.approx(-0.02)


def test_baseline_model_spec_only_when_asked():
    assert [(s.name, s.is_baseline) for s in ec.build_eval_config().model_specs] == [
        ("", False)
    ]
    specs = ec.build_eval_config(baseline=True).model_specs
    assert [(s.name, s.is_baseline) for s in specs] == [
        (tfma.CANDIDATE_KEY, False),
        (tfma.BASELINE_KEY, True),
    ]
    assert specs[0].label_keys == specs[1].label_keys
    assert specs[0].example_weight_keys == specs[1].example_weight_keys


def _metrics_of_model(config: tfma.EvalConfig, model: str):
    """(output, metric class) pairs computed for ``model`` (no model_names: all)."""
    return {
        (spec.output_names[0], m.class_name)
        for spec in config.metrics_specs
        if not spec.model_names or model in spec.model_names
        for m in spec.metrics
    }


def test_the_baseline_is_scored_only_on_the_auc_the_blessing_compares():
    alone = ec.build_eval_config("esm2")
    config = ec.build_eval_config("esm2", baseline=True)
    assert _metrics_of_model(config, tfma.CANDIDATE_KEY) == _metrics_of_model(alone, "")
    assert _metrics_of_model(config, tfma.BASELINE_KEY) == {
        (features.OUTPUT_PCVR, "ExactAUC"),
        (features.OUTPUT_PCTCVR, "ExactAUC"),
    }
    # No change threshold: nothing is computed for the baseline.
    ungated = ec.build_eval_config(
        "esm2", ec.BlessingThresholds(min_auc_change=None), baseline=True
    )
    assert not _metrics_of_model(ungated, tfma.BASELINE_KEY)


# --- Through TFMA, with a SavedModel of the Trainer's contract ------------------------
def _auc(
    columns, output: str, label: str, mask=None, score_set: str = CANDIDATE
) -> float:
    scores = columns[_score_feature(score_set, output)]
    labels = columns[label]
    if mask is not None:
        scores, labels = scores[mask], labels[mask]
    return roc_auc_score(labels, scores)


def test_every_named_metric_is_in_the_output(esm2_run):
    computed = named_metrics(esm2_run)
    assert set(computed) == {OVERALL} | {
        bucket_slice(b) for b in features.PURCHASE_FREQ_BUCKET_NAMES
    }
    assert set(computed[OVERALL]) == set(ec.METRIC_KEYS)


def test_cvr_auc_is_over_clicked_impressions_only(data, esm2_run):
    columns, _, _ = data
    clicked = columns[features.LABEL_CLICK] == 1
    over_clicked = _auc(columns, features.OUTPUT_PCVR, features.LABEL_PURCHASE, clicked)
    over_all = _auc(columns, features.OUTPUT_PCVR, features.LABEL_PURCHASE)
    assert abs(over_clicked - over_all) > 0.05  # the crafted data tells them apart
    computed = named_metrics(esm2_run)[OVERALL]
    assert computed[ec.CVR_AUC] == pytest.approx(over_clicked, abs=1e-9)
    assert computed["cvr_example_count"] == clicked.sum()
    assert computed["cvr_positive_count"] == columns[features.LABEL_PURCHASE].sum()


@pytest.mark.parametrize("bucket", features.PURCHASE_FREQ_BUCKET_NAMES)
def test_cvr_auc_per_bucket(data, esm2_run, bucket):
    columns, _, _ = data
    mask = (columns[features.SLICE_KEY] == bucket) & (
        columns[features.LABEL_CLICK] == 1
    )
    expected = _auc(columns, features.OUTPUT_PCVR, features.LABEL_PURCHASE, mask)
    computed = named_metrics(esm2_run)[bucket_slice(bucket)]
    assert computed[ec.CVR_AUC] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "name, output, label",
    [
        (ec.CTR_AUC, features.OUTPUT_PCTR, features.LABEL_CLICK),
        (ec.CTAVR_AUC, features.OUTPUT_PCTAVR, features.LABEL_DACTION),
        (ec.CTCVR_AUC, features.OUTPUT_PCTCVR, features.LABEL_PURCHASE),
    ],
)
def test_entire_space_aucs(data, esm2_run, name, output, label):
    columns, _, _ = data
    computed = named_metrics(esm2_run)[OVERALL]
    assert computed[name] == pytest.approx(_auc(columns, output, label), abs=1e-9)
    assert computed[name.replace("_auc", "_example_count")] == NUM_IMPRESSIONS


def test_ctcvr_gauc_groups_by_user(data, esm2_run):
    columns, _, _ = data
    users = columns[features.USER_ID]
    per_user = [
        _auc(columns, features.OUTPUT_PCTCVR, features.LABEL_PURCHASE, users == u)
        for u in np.unique(users)
        if len(set(columns[features.LABEL_PURCHASE][users == u])) == 2
    ]
    computed = named_metrics(esm2_run)[OVERALL]
    assert computed[ec.CTCVR_GAUC] == pytest.approx(np.mean(per_user), abs=1e-9)
    assert computed["ctcvr_gauc_num_users"] == len(per_user)


def test_value_thresholds_bless_a_good_model(esm2_run):
    assert tfma.load_validation_result(esm2_run).validation_ok


def test_change_thresholds_against_a_better_baseline(data, tmp_path):
    """The candidate loses to the baseline on CVR/CTCVR AUC: not blessed."""
    columns, path, models = data
    config = ec.build_eval_config("esm2", baseline=True)
    output = _run(
        config,
        path,
        {CANDIDATE: models[CANDIDATE], BETTER: models[BETTER]},
        str(tmp_path),
    )

    keys = ec.metric_keys("esm2", tfma_model_name=tfma.CANDIDATE_KEY)
    diffs = named_metrics(output, keys, diff=True)[OVERALL]
    clicked = columns[features.LABEL_CLICK] == 1
    for name, output_name, mask in (
        (ec.CVR_AUC, features.OUTPUT_PCVR, clicked),
        (ec.CTCVR_AUC, features.OUTPUT_PCTCVR, None),
    ):
        expected = _auc(columns, output_name, features.LABEL_PURCHASE, mask) - _auc(
            columns, output_name, features.LABEL_PURCHASE, mask, score_set=BETTER
        )
        assert expected < -1e-3
        assert diffs[name] == pytest.approx(expected, abs=1e-9)

    # Every figure for the candidate; for the baseline only the compared AUCs.
    computed = named_metrics(output, keys)[OVERALL]
    assert set(computed) == set(keys)
    baseline = {
        (key.name, key.output_name)
        for key in load_metrics(output)[OVERALL]
        if key.model_name == tfma.BASELINE_KEY and not key.is_diff
    }
    assert baseline == {
        (metrics.EXACT_AUC_NAME, features.OUTPUT_PCVR),
        (metrics.EXACT_AUC_NAME, features.OUTPUT_PCTCVR),
    }

    validation = tfma.load_validation_result(output)
    assert not validation.validation_ok
    failed = {
        (f.metric_key.output_name, f.metric_key.is_diff)
        for s in validation.metric_validations_per_slice
        for f in s.failures
    }
    assert failed == {(features.OUTPUT_PCVR, True), (features.OUTPUT_PCTCVR, True)}
