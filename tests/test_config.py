"""Every config field can be overridden from the command line, and only those given."""

import os

import pytest
import tensorflow_data_validation as tfdv

from pipeline.config import PipelineConfig, parse_config


def test_defaults_without_flags():
    config, _ = parse_config([])
    assert config == PipelineConfig()
    assert config.data_dir == os.path.abspath(os.path.join("workdir", "data"))
    assert config.metadata_path == os.path.abspath(
        os.path.join("workdir", "metadata.sqlite")
    )


def test_flags_override_nested_tuple_bool_and_optional_fields():
    config, _ = parse_config(
        [
            "--workdir",
            "/tmp/w",
            "--eval-days",
            "2",
            "--daction-events",
            "cart",
            "--no-enable-cache",
            "--first-day",
            "2026-01-02",
            "--max-reject-rate",
            "0.05",
            "--beam-pipeline-args=--direct_running_mode=in_memory",
        ]
    )
    assert config.workdir == "/tmp/w"
    assert config.enable_cache is False
    assert config.beam_pipeline_args == ("--direct_running_mode=in_memory",)
    assert config.ingest.eval_days == 2
    assert config.ingest.daction_events == ("cart",)
    assert config.ingest.first_day == "2026-01-02"
    assert config.ingest.max_reject_rate == 0.05
    assert config.ingest.last_day is None  # not given: default kept


def test_bad_value_is_an_error_naming_the_flag(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--eval-days", "two"])
    assert "--eval-days" in capsys.readouterr().err


def test_beam_args_are_repeatable_flags_that_may_begin_with_dashes():
    config, _ = parse_config(
        ["--beam-pipeline-args=--runner=DataflowRunner", "--beam-pipeline-args=--project=p"]
    )
    assert config.beam_pipeline_args == ("--runner=DataflowRunner", "--project=p")


def test_blessing_flags_set_the_tests():
    config, _ = parse_config(
        [
            "--skill-alpha",
            "0.001",
            "--regression-alpha",
            "0.1",
            "--auc-margin",
            "0.002",
            "--min-cvr-auc",
            "0.6",
        ]
    )
    blessing = config.blessing
    assert (blessing.skill_alpha, blessing.regression_alpha) == (0.001, 0.1)
    assert blessing.auc_margin == 0.002 and blessing.min_cvr_auc == 0.6
    assert blessing.min_ctcvr_auc is None  # not given: default kept


def test_artifact_root_moves_the_pipeline_root_and_the_evaluator_spill_dir():
    """A bucket artifact root puts the artifacts and the Evaluator's spill
    files where cluster workers reach them; ML Metadata stays in the workdir."""
    config, _ = parse_config(
        ["--workdir", "/tmp/w", "--artifact-root", "gs://bucket/esm2"]
    )
    assert config.pipeline_root == "gs://bucket/esm2/esm2"
    assert config.spill_dir == "gs://bucket/esm2/esm2/tmp/evaluator-spill"
    assert config.metadata_path == "/tmp/w/metadata.sqlite"
    local, _ = parse_config(["--workdir", "/tmp/w"])
    assert local.pipeline_root == "/tmp/w/pipeline_root/esm2"
    assert local.spill_dir == "/tmp/w/pipeline_root/esm2/tmp/evaluator-spill"
    chosen, _ = parse_config(["--evaluator-spill-dir", "/scratch/spill"])
    assert chosen.spill_dir == "/scratch/spill"


def _component(config: PipelineConfig, component_id: str):
    from pipeline import runs

    built = runs.build_pipeline(config, with_metadata=False)
    return {c.id: c for c in built.components}[component_id]


def test_statistics_are_sketched_once_unless_transform_statistics_is_set(tmp_path):
    """StatisticsGen's top values come from bounded sketches; Transform does
    not recompute the input's statistics unless asked."""
    config, _ = parse_config(["--workdir", str(tmp_path)])
    options_json = _component(config, "StatisticsGen").exec_properties[
        "stats_options_json"
    ]
    assert tfdv.StatsOptions.from_json(options_json).use_sketch_based_topk_uniques
    assert _component(config, "Transform").exec_properties["disable_statistics"] == 1
    asked, _ = parse_config(["--workdir", str(tmp_path), "--transform-statistics"])
    assert _component(asked, "Transform").exec_properties["disable_statistics"] == 0
