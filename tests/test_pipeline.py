"""The whole pipeline, run for real with LocalDagRunner on tiny generated logs."""

import dataclasses
import json
import os
import re

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.utils import path_utils

from benchmarks import blessing_gate
from evaluation import metrics, results
from pipeline import run_summary, runs
from tests.conftest import TINY_MODEL, tiny_pipeline_config
from transform import features

MODEL = "Trainer.model"


def _examples_in(uri: str, split: str) -> int:
    pattern = os.path.join(uri, f"Split-{split}", "*")
    return sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), "GZIP"))


def test_every_component_published_its_artifact(pipeline_run):
    _, summary = pipeline_run
    expected = {
        "ImpressionLogExampleGen.examples",
        "StatisticsGen.statistics",
        "ImportSchemaGen.schema",
        "ExampleValidator.anomalies",
        "Transform.transform_graph",
        "Transform.transformed_examples",
        "Trainer.model",
        "Trainer.model_run",
        "Evaluator.evaluation",
        "Evaluator.blessing",
        "Pusher.pushed_model",
    }
    assert expected <= set(summary.artifacts)


def test_examples_per_split_match_the_quality_report_and_the_generator(
    pipeline_run, tiny_logs
):
    _, summary = pipeline_run
    examples = summary.artifacts[run_summary.EXAMPLES]
    report = summary.quality_report
    train, evaluation = (
        _examples_in(examples.uri, "train"),
        _examples_in(examples.uri, "eval"),
    )
    assert (train, evaluation) == (
        report.examples_per_split["train"],
        report.examples_per_split["eval"],
    )
    with open(os.path.join(tiny_logs, "generation_summary.json")) as f:
        generated = json.load(f)
    # Clean generated logs: every impression becomes an example, none rejected.
    assert train + evaluation == generated["impressions"]
    assert report.impressions_rejected == 0
    # The eval split is the last of 3 days: about a third of the impressions.
    assert 0.2 < evaluation / (train + evaluation) < 0.45


def _clicks_in_file_order(path: str) -> list:
    return [
        tf.train.Example.FromString(record.numpy())
        .features.feature[features.LABEL_CLICK]
        .int64_list.value[0]
        for record in tf.data.TFRecordDataset(path, "GZIP")
    ]


def test_written_examples_are_not_ordered_by_label(pipeline_run):
    """The Trainer shuffles within a buffer only: files must not be label-sorted.

    A plain GroupByKey on the in-process runners wrote every clicked impression
    ahead of the unclicked ones; each third of every file must now hold about
    the file's click rate (the bound is about 5 standard deviations).
    """
    _, summary = pipeline_run
    uri = summary.artifacts[run_summary.EXAMPLES].uri
    files = tf.io.gfile.glob(os.path.join(uri, "Split-train", "*"))
    for path in files:
        clicks = _clicks_in_file_order(path)
        rate = sum(clicks) / len(clicks)
        third = len(clicks) // 3
        for start in (0, third, 2 * third):
            part = clicks[start : start + third]
            tolerance = 5 * (rate * (1 - rate) / len(part)) ** 0.5
            assert abs(sum(part) / len(part) - rate) < tolerance, (path, start)


def test_clean_logs_have_no_schema_anomalies(pipeline_run):
    _, summary = pipeline_run
    assert summary.anomalies  # both splits were validated
    assert all(problems == [] for problems in summary.anomalies.values())


def test_summary_names_splits_counts_and_artifact_locations(pipeline_run):
    _, summary = pipeline_run
    text = summary.format()
    assert "train" in text and "eval" in text
    assert summary.artifacts[MODEL].uri in text
    for label in features.LABELS:
        assert label in text


def _custom_int(artifact, name: str) -> int:
    return artifact.custom_properties[name].int_value


def _pushed_versions(config) -> list:
    base = config.push_base_directory
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def test_good_model_is_blessed_and_pushed_as_a_servable_version(pipeline_run):
    config, summary = pipeline_run
    assert _custom_int(summary.artifacts["Evaluator.blessing"], "blessed") == 1
    assert _custom_int(summary.artifacts["Pusher.pushed_model"], "pushed") == 1
    versions = _pushed_versions(config)
    assert len(versions) == 1 and versions[0].isdigit()
    assert os.path.exists(
        os.path.join(config.push_base_directory, versions[0], "saved_model.pb")
    )


def test_evaluation_reports_the_paper_metrics_per_bucket(pipeline_run):
    _, summary = pipeline_run
    metrics = results.candidate_metrics(summary.artifacts["Evaluator.evaluation"].uri)
    overall = metrics[results.OVERALL]
    for name in ("ctr_auc", "ctavr_auc", "cvr_auc", "ctcvr_auc", "ctcvr_gauc"):
        assert 0.5 < overall[name] <= 1.0, (name, overall[name])
    # CVR is scored over clicked impressions only.
    report = summary.quality_report
    assert overall["cvr_example_count"] == report.label_counts["eval"]["click"]
    for bucket in features.PURCHASE_FREQ_BUCKET_NAMES:
        assert results.bucket_slice(bucket) in metrics


def _validation_tests_failed(summary) -> set:
    """Names of the TFMA metrics whose thresholds the candidate failed."""
    validation = tfma.load_validation_result(
        summary.artifacts["Evaluator.evaluation"].uri
    )
    return {
        m.metric_key.name
        for per_slice in validation.metric_validations_per_slice
        for m in per_slice.failures
    }


_SKILL_LINE = re.compile(
    r"(cvr|ctcvr)_auc no better than chance: AUC [0-9.]+, p (=|<) [0-9.e-]+ "
    r"\(needs p <= [0-9.]+\)"
)
_REGRESSION_LINE = re.compile(
    r"(cvr|ctcvr)_auc worse than the blessed baseline: change -[0-9.]+ "
    r"\(95% CI [-+]?[0-9.]+ to [-+]?[0-9.]+\), p (=|<) [0-9.e-]+ "
    r"\(refused when p < [0-9.]+\)"
)


@pytest.fixture(scope="module")
def first_run_prior(tmp_path_factory, tiny_logs):
    """The no-skill model as the very first run of a fresh pipeline: no
    baseline, so only the skill floor stands between it and a push."""
    config = tiny_pipeline_config(
        str(tmp_path_factory.mktemp("prior_first")),
        tiny_logs,
        model=dataclasses.replace(TINY_MODEL, model="prior"),
    )
    return config, runs.run(config)


def test_no_skill_model_is_not_blessed_on_a_first_run(first_run_prior):
    config, summary = first_run_prior
    assert summary.blessed is False
    assert _custom_int(summary.artifacts["Pusher.pushed_model"], "pushed") == 0
    assert _pushed_versions(config) == []
    assert _validation_tests_failed(summary) == {metrics.AUC_CHANCE_P_VALUE_NAME}
    # Both gated AUCs are exactly chance (one score for every impression).
    assert len(summary.blessing_failures) == 2
    for line in summary.blessing_failures:
        assert _SKILL_LINE.fullmatch(line), line
        assert "AUC 0.5000, p = 0.50" in line
    assert "no better than chance" in summary.format()


@pytest.fixture(scope="module")
def retrain_run(pipeline_run):
    """The same model retrained with another seed, against the first run's."""
    config, _ = pipeline_run
    retrain = dataclasses.replace(
        config, model=dataclasses.replace(config.model, seed=config.model.seed + 1)
    )
    return retrain, runs.run(retrain)


def test_retrain_with_another_seed_is_blessed_and_pushed(retrain_run):
    config, summary = retrain_run
    assert summary.blessed is True, summary.blessing_failures
    assert len(_pushed_versions(config)) == 2
    comparison = results.baseline_comparison(
        summary.artifacts["Evaluator.evaluation"].uri
    )
    assert set(comparison) == {"cvr_auc", "ctcvr_auc"}
    for figures in comparison.values():
        assert figures["ci_low"] < figures["delta"] < figures["ci_high"]
        assert figures["p_value"] >= figures["alpha"]
    # The summary shows how close it was: change, interval and p-value.
    text = summary.format()
    assert "vs the blessed baseline" in text and "p = " in text


@pytest.fixture(scope="module")
def no_skill_run(retrain_run):
    """A third run in the same pipeline with the no-skill model."""
    config, _ = retrain_run
    worse = dataclasses.replace(
        config, model=dataclasses.replace(config.model, model="prior")
    )
    return worse, runs.run(worse)


def test_model_worse_than_the_blessed_baseline_is_not_blessed_nor_pushed(no_skill_run):
    config, summary = no_skill_run
    assert _custom_int(summary.artifacts["Evaluator.blessing"], "blessed") == 0
    assert _custom_int(summary.artifacts["Pusher.pushed_model"], "pushed") == 0
    assert len(_pushed_versions(config)) == 2  # still only the two good models
    assert _validation_tests_failed(summary) == {
        metrics.AUC_CHANCE_P_VALUE_NAME,
        metrics.AUC_REGRESSION_P_VALUE_NAME,
    }
    # The run's summary says which tests the model failed, in words.
    lines = summary.blessing_failures
    assert sum(bool(_SKILL_LINE.fullmatch(line)) for line in lines) == 2, lines
    assert sum(bool(_REGRESSION_LINE.fullmatch(line)) for line in lines) >= 1, lines
    assert "thresholds missed:" in summary.format()


def test_damaged_model_is_refused_by_the_pipelines_eval_config(
    retrain_run, pipeline_run, tmp_path
):
    """The retrain with its ID embedding rows shuffled, through real TFMA."""
    _, first = pipeline_run
    config, retrained = retrain_run
    model_dir = path_utils.serving_model_dir(retrained.artifacts[MODEL].uri)

    def gate(candidate_dir: str, name: str) -> dict:
        output = blessing_gate.evaluate_against(
            candidate_dir,
            path_utils.serving_model_dir(first.artifacts[MODEL].uri),
            config.model.model,
            config.blessing,
            os.path.join(first.artifacts[run_summary.EXAMPLES].uri, "Split-eval", "*"),
            str(tmp_path / name),
        )
        return blessing_gate.verdicts(output, config.model.model)

    damaged = blessing_gate.shuffle_id_embeddings(
        model_dir, str(tmp_path / "damaged"), [c.name for c in features.ID_FEATURES]
    )
    verdict = gate(damaged, "eval-damaged")
    assert verdict["blessed"] is False
    # Shuffled IDs leave the dense features: on the suite's tiny data the
    # damage shows as a significant drop against the baseline or, when the
    # baseline itself is weak, as no skill at all (both say why, in words).
    failures = verdict["failures"]
    assert failures and all(
        _REGRESSION_LINE.fullmatch(line) or _SKILL_LINE.fullmatch(line)
        for line in failures
    ), failures
    # The same TFMA run passes the undamaged retrain.
    assert gate(model_dir, "eval-intact")["blessed"] is True
