"""build_eval_config: labels, populations, metrics, slices and blessing, run in TFMA.

The TFMA runs use a tiny SavedModel with the Trainer's serving contract (the
``serving_default`` signature takes serialized raw tf.Examples as
``examples`` and returns the four probabilities); its scores are read from
extra features of the crafted examples, so every expected figure can be
computed independently with sklearn.
"""

from __future__ import annotations

import json
import re
from typing import Dict, Sequence

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import roc_auc_score

from evaluation.sketch import ScoreSketch
from evaluation import eval_config as ec
from evaluation import metrics
from evaluation import results
from evaluation.results import OVERALL, bucket_slice, load_metrics, named_metrics
from pipeline.run_summary import RunSummary
from transform import features

NUM_IMPRESSIONS = 400
NUM_USERS = 24
# Score sets of the crafted examples: a fair model, a better one, and one
# that predicts the same probabilities for every impression (models/prior.py).
CANDIDATE, BETTER, CONSTANT = "candidate", "better", "constant"
SCORE_SETS = (CANDIDATE, BETTER, CONSTANT)


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
        _add_scores(columns, score_set, scores)
    base_rates = {
        features.OUTPUT_PCTR: 0.35,
        features.OUTPUT_PCTAVR: 0.14,
        features.OUTPUT_PCVR: 0.3,
        features.OUTPUT_PCTCVR: 0.105,
    }
    _add_scores(columns, CONSTANT, {o: np.full(n, r) for o, r in base_rates.items()})
    return columns


def _add_scores(
    columns: Dict[str, np.ndarray], score_set: str, scores: Dict[str, np.ndarray]
) -> None:
    for output, values in scores.items():
        # float32, as the tf.Example float_list stores and the model returns it
        columns[_score_feature(score_set, output)] = values.astype(np.float32)


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
        signatures={features.SERVING_SIGNATURE: module.serve.get_concrete_function()},
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
    models = {s: _save_model(str(root / s), s) for s in SCORE_SETS}
    return columns, path, models


def _run(config: tfma.EvalConfig, data_path: str, models: Sequence[str], output: str):
    """TFMA with the SavedModels ``models``, in the order of the config's specs."""
    shared = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=path, eval_config=config, model_name=spec.name
        )
        for spec, path in zip(config.model_specs, models)
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
    return _run(ec.build_eval_config("esm2"), path, [models[CANDIDATE]], output)


# --- Structure ------------------------------------------------------------------------
def _specs_by_output(config: tfma.EvalConfig) -> Dict[str, tfma.MetricsSpec]:
    return {spec.output_names[0]: spec for spec in config.metrics_specs}


def _class_names(spec: tfma.MetricsSpec):
    return [m.class_name for m in spec.metrics]


def test_labels_and_populations_per_output():
    config = ec.build_eval_config("esm2")
    (model_spec,) = config.model_specs
    assert model_spec.signature_name == features.SERVING_SIGNATURE
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
        "HistogramAUC",
        "AUCSkillTest",
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


def _thresholds(config: tfma.EvalConfig, output: str, class_name: str):
    """The per-slice thresholds of one metric of an output (in any spec)."""
    (metric,) = [
        m
        for spec in config.metrics_specs
        if spec.output_names[0] == output
        for m in spec.metrics
        if m.class_name == class_name
    ]
    return list(metric.per_slice_thresholds)


def _bound(config: tfma.EvalConfig, output: str, class_name: str, which: str):
    """The value threshold's ``which`` bound on the overall slice, or None."""
    found = _thresholds(config, output, class_name)
    if not found:
        return None
    (threshold,) = found
    assert list(threshold.slicing_specs) == [tfma.SlicingSpec()]  # overall only
    assert not threshold.threshold.HasField("change_threshold")
    bounds = threshold.threshold.value_threshold
    return getattr(bounds, which).value if bounds.HasField(which) else None


GATED_OUTPUTS = (features.OUTPUT_PCVR, features.OUTPUT_PCTCVR)


def test_default_blessing_is_the_skill_floor_and_the_paired_comparison():
    defaults = ec.BlessingThresholds()
    assert (defaults.min_ctr_auc, defaults.min_cvr_auc, defaults.min_ctcvr_auc) == (
        None,
        None,
        None,
    )
    assert defaults.skill_alpha == 0.01
    assert defaults.regression_alpha == 0.05 and defaults.auc_margin == 0.0
    assert defaults.regression_test_alpha() == pytest.approx(0.025)  # 2 AUCs
    config = ec.build_eval_config("esm2", baseline=True)
    assert not tfma.utils.has_change_threshold(config)
    for output in features.MODEL_OUTPUTS:
        gated = output in GATED_OUTPUTS
        assert _bound(config, output, "HistogramAUC", "lower_bound") is None
        skill = _bound(config, output, "AUCSkillTest", "upper_bound")
        assert skill == (pytest.approx(0.01) if gated else None), output
    for output in GATED_OUTPUTS:
        assert _bound(
            config, output, "PairedAUCTest", "lower_bound"
        ) == pytest.approx(0.025)


def test_thresholds_come_from_the_dataclass():
    thresholds = ec.BlessingThresholds(
        min_ctr_auc=0.55,
        min_cvr_auc=0.61,
        min_ctcvr_auc=None,
        skill_alpha=0.001,
        regression_alpha=0.1,
        auc_margin=0.002,
    )
    config = ec.build_eval_config("esm2", thresholds=thresholds, baseline=False)
    assert _bound(config, features.OUTPUT_PCVR, "HistogramAUC", "lower_bound") == (
        pytest.approx(0.61)
    )
    assert _bound(config, features.OUTPUT_PCTR, "HistogramAUC", "lower_bound") == (
        pytest.approx(0.55)
    )
    assert not _thresholds(config, features.OUTPUT_PCTCVR, "HistogramAUC")  # None: off
    assert not _thresholds(config, features.OUTPUT_PCTAVR, "HistogramAUC")
    for output in GATED_OUTPUTS:
        assert _bound(config, output, "AUCSkillTest", "upper_bound") == (
            pytest.approx(0.001)
        )
    classes = {m.class_name for spec in config.metrics_specs for m in spec.metrics}
    assert "PairedAUCTest" not in classes  # no baseline, no comparison

    with_baseline = ec.build_eval_config("esm2", thresholds=thresholds, baseline=True)
    for output in GATED_OUTPUTS:
        # Bonferroni: 0.1 over the two gated AUCs.
        assert _bound(
            with_baseline, output, "PairedAUCTest", "lower_bound"
        ) == pytest.approx(0.05)
        (paired,) = [
            m
            for spec in with_baseline.metrics_specs
            if spec.output_names[0] == output
            for m in spec.metrics
            if m.class_name == "PairedAUCTest"
        ]
        assert json.loads(paired.config)["margin"] == pytest.approx(0.002)


def test_none_disables_the_tests_but_not_their_figures():
    thresholds = ec.BlessingThresholds(skill_alpha=None, regression_alpha=None)
    config = ec.build_eval_config("esm2", thresholds=thresholds, baseline=True)
    assert not tfma.metrics.metric_thresholds_from_metrics_specs(
        config.metrics_specs, eval_config=config
    )
    assert _metrics_of_model(config, tfma.BASELINE_KEY) == {
        (output, "PairedAUCTest") for output in GATED_OUTPUTS
    }


@pytest.mark.parametrize(
    "field, value",
    [("skill_alpha", 0.0), ("regression_alpha", 1.0), ("auc_margin", -0.01)],
)
def test_impossible_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        ec.BlessingThresholds(**{field: value})


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


def test_the_baseline_is_read_only_by_the_paired_comparison():
    alone = ec.build_eval_config("esm2")
    config = ec.build_eval_config("esm2", baseline=True)
    paired = {(output, "PairedAUCTest") for output in GATED_OUTPUTS}
    assert _metrics_of_model(config, tfma.BASELINE_KEY) == paired
    assert _metrics_of_model(config, tfma.CANDIDATE_KEY) == (
        _metrics_of_model(alone, "") | paired
    )
    for spec in config.metrics_specs:
        if tfma.BASELINE_KEY in spec.model_names:
            assert [m.class_name for m in spec.metrics] == ["PairedAUCTest"]


def _first_run(config: tfma.EvalConfig) -> tfma.EvalConfig:
    """What TFX 1.16's Evaluator makes of the config when there is no blessed
    model yet (tfx/components/evaluator/executor.py)."""
    updated = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=False, rubber_stamp=True
    )
    tfma.utils.verify_eval_config(updated)
    return updated


def test_with_a_blessed_model_tfx_keeps_the_config_as_built():
    config = ec.build_eval_config("esm2", baseline=True)
    updated = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=True, rubber_stamp=True
    )
    tfma.utils.verify_eval_config(updated)
    assert updated == config


def test_on_a_first_run_the_skill_floor_alone_decides():
    config = _first_run(ec.build_eval_config("esm2", baseline=True))
    assert [(s.name, s.is_baseline) for s in config.model_specs] == [("", False)]
    assert {tuple(s.model_names) for s in config.metrics_specs} == {("",)}
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        config.metrics_specs, eval_config=config
    )
    tests = (metrics.AUC_CHANCE_P_VALUE_NAME, metrics.AUC_REGRESSION_P_VALUE_NAME)
    assert {(k.name, k.model_name, k.output_name) for k in thresholds} == {
        (name, "", output) for name in tests for output in GATED_OUTPUTS
    }


# --- Through TFMA, with a SavedModel of the Trainer's contract ------------------------
def _auc(
    columns,
    output: str,
    label: str,
    mask=None,
    score_set: str = CANDIDATE,
) -> float:
    """The Evaluator's AUC of a score set, which the paired test compares too."""
    scores = columns[_score_feature(score_set, output)]
    labels = columns[label]
    if mask is not None:
        scores, labels = scores[mask], labels[mask]
    # The Evaluator's AUC is the sketch's; how close that is to the exact AUC
    # is tests/test_sketch.py's to check.
    sketched = ScoreSketch.of(scores, labels)
    error = abs(sketched.auc() - roc_auc_score(labels, scores))
    assert error <= sketched.tie_bound() + 1e-12
    return sketched.auc()


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


def _failed(output: str):
    """(output, metric name) of every failed threshold of a TFMA output."""
    validation = tfma.load_validation_result(output)
    return {
        (f.metric_key.output_name, f.metric_key.name)
        for s in validation.metric_validations_per_slice
        for f in s.failures
    }


@pytest.fixture(scope="module")
def worse_than_baseline_run(data, tmp_path_factory):
    """The candidate against a better baseline."""
    _, path, models = data
    output = str(tmp_path_factory.mktemp("vs_better"))
    config = ec.build_eval_config("esm2", baseline=True)
    return _run(config, path, [models[CANDIDATE], models[BETTER]], output)


def test_paired_comparison_against_a_better_baseline(data, worse_than_baseline_run):
    """The candidate loses to the baseline on CVR/CTCVR AUC: not blessed."""
    columns, _, _ = data
    output = worse_than_baseline_run
    comparison = results.baseline_comparison(output)
    assert set(comparison) == {ec.CVR_AUC, ec.CTCVR_AUC}
    clicked = columns[features.LABEL_CLICK] == 1
    for name, output_name, mask in (
        (ec.CVR_AUC, features.OUTPUT_PCVR, clicked),
        (ec.CTCVR_AUC, features.OUTPUT_PCTCVR, None),
    ):
        expected = _auc(columns, output_name, features.LABEL_PURCHASE, mask) - _auc(
            columns, output_name, features.LABEL_PURCHASE, mask, BETTER
        )
        assert expected < -0.05
        figures = comparison[name]
        assert figures["delta"] == pytest.approx(expected, abs=1e-6)
        assert figures["ci_low"] < figures["delta"] < figures["ci_high"] < 0.0
        assert figures["p_value"] < 0.025 and figures["alpha"] == pytest.approx(0.025)
        assert figures["margin"] == 0.0
    assert _failed(output) == {
        (o, metrics.AUC_REGRESSION_P_VALUE_NAME) for o in GATED_OUTPUTS
    }
    for line in results.blessing_failures(output):
        assert re.fullmatch(
            r"(cvr|ctcvr)_auc worse than the blessed baseline: change -0\.\d{4} "
            r"\(95% CI -0\.\d{4} to -0\.\d{4}\), p (=|<) [0-9.e-]+ "
            r"\(refused when p < 0\.025\)",
            line,
        ), line


def test_with_a_baseline_the_candidate_keeps_its_full_metric_set(
    worse_than_baseline_run,
):
    output = worse_than_baseline_run
    keys = ec.metric_keys("esm2", tfma_model_name=tfma.CANDIDATE_KEY)
    assert set(named_metrics(output, keys)[OVERALL]) == set(keys)
    comparison = named_metrics(output, ec.COMPARISON_KEYS)[OVERALL]
    assert set(comparison) == set(ec.COMPARISON_KEYS)
    # Nothing is stored for the baseline, and no diff: the paired test holds it.
    stored = load_metrics(output)[OVERALL]
    assert not [k for k in stored if k.model_name == tfma.BASELINE_KEY or k.is_diff]


def test_a_candidate_identical_to_the_baseline_is_blessed(data, tmp_path):
    _, path, models = data
    config = ec.build_eval_config("esm2", baseline=True)
    output = _run(config, path, [models[CANDIDATE]] * 2, str(tmp_path))
    assert tfma.load_validation_result(output).validation_ok
    assert results.blessing_failures(output) == []
    for figures in results.baseline_comparison(output).values():
        assert figures["delta"] == 0.0 and figures["se"] == 0.0
        assert figures["p_value"] == 0.5


@pytest.fixture(scope="module")
def first_run_of_a_constant_model(data, tmp_path_factory):
    _, path, models = data
    output = str(tmp_path_factory.mktemp("constant_first_run"))
    config = _first_run(ec.build_eval_config("esm2", baseline=True))
    return _run(config, path, [models[CONSTANT]], output)


def test_a_constant_model_fails_the_skill_floor_on_a_first_run(
    first_run_of_a_constant_model,
):
    output = first_run_of_a_constant_model
    assert _failed(output) == {
        (o, metrics.AUC_CHANCE_P_VALUE_NAME) for o in GATED_OUTPUTS
    }
    assert results.skill_tests(output) == {
        ec.CVR_AUC: {"auc": 0.5, "p_value": 0.5},
        ec.CTCVR_AUC: {"auc": 0.5, "p_value": 0.5},
    }
    assert results.baseline_comparison(output) == {}
    assert sorted(results.blessing_failures(output)) == [
        "ctcvr_auc no better than chance: AUC 0.5000, p = 0.50 (needs p <= 0.01)",
        "cvr_auc no better than chance: AUC 0.5000, p = 0.50 (needs p <= 0.01)",
    ]


def test_the_skill_floor_passes_a_model_with_skill(esm2_run):
    tests = results.skill_tests(esm2_run)
    assert set(tests) == {ec.CVR_AUC, ec.CTCVR_AUC}
    for test in tests.values():
        assert test["auc"] > 0.6 and test["p_value"] < 1e-4


def test_the_run_summary_states_the_comparison_and_the_failures(
    worse_than_baseline_run,
):
    output = worse_than_baseline_run
    summary = RunSummary(
        artifacts={},
        quality_report=None,
        anomalies={},
        metrics=results.candidate_metrics(output)[OVERALL],
        blessing_failures=results.blessing_failures(output),
        comparison=results.baseline_comparison(output),
    ).format()
    cvr = results.baseline_comparison(output)[ec.CVR_AUC]
    assert "AUC change vs the blessed baseline" in summary
    assert (
        f"  cvr_auc      change {cvr['delta']:+.4f} (95% CI {cvr['ci_low']:+.4f} to "
        f"{cvr['ci_high']:+.4f}), {results.p_value_text(cvr['p_value'])} "
        "(refused when p < 0.025)"
    ) in summary.splitlines()
    assert "    cvr_auc worse than the blessed baseline: change" in summary


def test_p_values_are_shown_to_two_significant_digits():
    assert results.p_value_text(0.5) == "p = 0.50"
    assert results.p_value_text(0.0123) == "p = 0.012"
    assert results.p_value_text(0.0003) == "p = 0.0003"
    assert results.p_value_text(2e-9) == "p < 0.0001"
