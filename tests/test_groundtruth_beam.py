"""The ground-truth evaluation as a Beam job against the in-memory one."""

import os

import pandas as pd
import pytest
from tfx.utils import path_utils

from components.impression_example_gen import config as example_gen_config
from evaluation import groundtruth, groundtruth_beam
from evaluation.sketch import ScoreSketch
from pipeline import run_summary
from transform import features

MODEL = "Trainer.model"


def _inputs(pipeline_run, tiny_logs):
    """(split dir, serving dir, input base, eval days) of the suite's run."""
    _, summary = pipeline_run
    examples = summary.artifacts[run_summary.EXAMPLES].uri
    model = summary.artifacts[MODEL].uri
    days = list(summary.quality_report.days_per_split[example_gen_config.EVAL_SPLIT])
    return (
        os.path.join(examples, f"Split-{example_gen_config.EVAL_SPLIT}"),
        path_utils.serving_model_dir(model),
        tiny_logs,
        days,
    )


@pytest.fixture(scope="module")
def both_reports(pipeline_run, tiny_logs):
    split, serving, input_base, days = _inputs(pipeline_run, tiny_logs)
    return (
        groundtruth.evaluate(split, serving, input_base, days, "esm2"),
        groundtruth_beam.evaluate(split, serving, input_base, days, "esm2"),
    )


@pytest.fixture(scope="module")
def joined(pipeline_run, tiny_logs) -> pd.DataFrame:
    """The eval examples with scores and ground truth, in memory."""
    split, serving, input_base, days = _inputs(pipeline_run, tiny_logs)
    examples = groundtruth.read_examples(split)
    outputs = groundtruth.score(serving, examples.pop("serialized").tolist())
    return groundtruth.join_truth(examples.assign(**outputs), input_base, days)


def _tie_bound(joined: pd.DataFrame, slice_name: str, name: str, figure: str) -> float:
    """How far the sketch may put one AUC reading from the exact one."""
    if slice_name != groundtruth.OVERALL:
        bucket = slice_name.split("=", 1)[1]
        joined = joined[joined[features.SLICE_KEY] == bucket]
    comparison = next(c for c in groundtruth.COMPARISONS if c.name == name)
    task = comparison.task
    if task.population is not None:
        joined = joined[joined[task.population] == 1]
    model, truth = joined[task.output], joined[comparison.oracle_score]
    score, label = {
        "model": (model, joined[task.label]),
        "oracle": (truth, joined[task.label]),
        "expected_model": (model, truth),
        "expected_oracle": (truth, truth),
    }[figure]
    return ScoreSketch.of(score.to_numpy(), label.to_numpy(float)).tie_bound()


def _is_grouped(name: str) -> bool:
    return next(c for c in groundtruth.COMPARISONS if c.name == name).grouped


def test_the_beam_job_reports_what_the_in_memory_evaluation_does(both_reports, joined):
    exact, beam_report = both_reports
    assert beam_report["examples"] == exact["examples"] > 0
    assert beam_report["days"] == exact["days"]
    assert list(beam_report["slices"]) == list(exact["slices"])
    for slice_name, comparisons in exact["slices"].items():
        assert list(beam_report["slices"][slice_name]) == list(comparisons)
        for name, figures in comparisons.items():
            got = beam_report["slices"][slice_name][name]
            assert set(got) == set(figures), (slice_name, name)
            for figure in ("model", "oracle", "expected_model", "expected_oracle"):
                if figure not in figures:
                    continue
                # GAUC: exact per user in both; an AUC: the sketch's, within
                # its tie bound of the exact one.
                tolerance = 1e-12
                if not _is_grouped(name):
                    tolerance += _tie_bound(joined, slice_name, name, figure)
                expected = pytest.approx(figures[figure], abs=tolerance, nan_ok=True)
                assert got[figure] == expected, (slice_name, name, figure)


def test_examples_without_ground_truth_are_an_error_naming_how_many(
    pipeline_run, tiny_logs, tmp_path
):
    split, serving, input_base, days = _inputs(pipeline_run, tiny_logs)
    ids = groundtruth.read_examples(split)[features.IMPRESSION_ID]
    truth = pd.concat(
        [pd.read_parquet(p) for p in groundtruth.groundtruth_paths(input_base, days)]
    )
    lost = set(ids[:7])  # seven of the split's impressions lose their ground truth
    partition = f"{features.DAY_PARTITION_PREFIX}{days[0]}"
    day = tmp_path / features.GROUNDTRUTH_DIR / partition
    day.mkdir(parents=True)
    truth[~truth[features.IMPRESSION_ID].isin(lost)].to_parquet(
        day / "part-0.parquet", index=False
    )
    with pytest.raises(ValueError, match=rf"^7 of {len(ids)} examples have no ground"):
        groundtruth_beam.evaluate(split, serving, str(tmp_path), days, "esm2")
