"""The Evaluator benchmark times the computation the pipeline's Evaluator runs."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf
from tfx.utils import path_utils

from benchmarks import evaluator_bench
from evaluation import eval_config, metrics_base
from evaluation.results import candidate_metrics
from pipeline import run_summary
from transform import tasks

MODEL = "Trainer.model"


def _run_files(pipeline_run, tmp_path):
    """(config, summary, eval split dir, serving model dir, a path to write
    eval examples to) of the suite's pipeline run."""
    config, summary = pipeline_run
    examples_dir = os.path.join(
        summary.artifacts[run_summary.EXAMPLES].uri, "Split-eval"
    )
    model_dir = path_utils.serving_model_dir(summary.artifacts[MODEL].uri)
    return config, summary, examples_dir, model_dir, str(tmp_path / "eval.tfrecord")


def test_the_bench_reproduces_the_evaluators_figures(pipeline_run, tmp_path):
    config, summary, examples_dir, model_dir, data_path = _run_files(
        pipeline_run, tmp_path
    )

    num_eval = evaluator_bench.write_examples(examples_dir, 10**9, data_path)
    assert num_eval == sum(1 for _ in tf.data.TFRecordDataset(data_path))
    assert evaluator_bench.write_examples(examples_dir, 7, data_path) == 7

    evaluator_bench.write_examples(examples_dir, num_eval, data_path)
    seconds, output_path = evaluator_bench.evaluate_once(
        model_dir, config.model.model, data_path
    )
    assert seconds > 0
    ours = candidate_metrics(output_path, config.model.model)
    pipelines = candidate_metrics(
        summary.artifacts[run_summary.EVALUATION].uri, config.model.model
    )
    assert set(ours) == set(pipelines)  # the same slices
    overall = pipelines[()]
    for name in (
        eval_config.CVR_AUC,
        eval_config.CTCVR_AUC,
        f"{tasks.CTCVR.name}_example_count",
        f"{tasks.CVR.name}_ece",
        f"{tasks.CTR.name}_mean_prediction",
    ):
        # TFMA batches the examples differently in the two runs, and float32
        # scores move by ~3e-8 with the batch size (55 of 3,000 here): enough
        # to reorder a few tied candidates, the same user and item shown at
        # two positions, which the served model scores alike. One reordered
        # positive/negative pair moves an AUC by 1 / (positives x
        # negatives); the bound allows ten.
        tolerance = 0.0
        if name.endswith("_auc"):
            task = name[: -len("_auc")]
            positives = overall[f"{task}_positive_count"]
            negatives = overall[f"{task}_example_count"] - positives
            tolerance = 10.0 / (positives * negatives)
        assert ours[()][name] == pytest.approx(
            overall[name], rel=1e-6, abs=tolerance
        ), name


def test_write_examples_names_an_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        evaluator_bench.write_examples(str(tmp_path), 10, str(tmp_path / "out"))


def test_the_fast_reader_reads_every_example_as_tfmas_reader_does(
    pipeline_run, tmp_path, monkeypatch
):
    """On the pipeline's EvalConfig and the run's eval split, every example
    the metrics read takes ``_ExampleReader``'s fast path, and gives the row
    TFMA's general reader gives for it."""
    config, _, examples_dir, model_dir, data_path = _run_files(pipeline_run, tmp_path)
    num_eval = evaluator_bench.write_examples(examples_dir, 10**9, data_path)

    outcomes = []  # per read: (took the fast path, same row as TFMA's)
    read_fast = metrics_base._ExampleReader._fast

    def compared(reader, element):
        row = read_fast(reader, element)
        outcomes.append((row is not None, [row] == list(reader.general(element))))
        return row

    monkeypatch.setattr(metrics_base._ExampleReader, "_fast", compared)
    evaluator_bench.evaluate_once(model_dir, config.model.model, data_path)
    assert len(outcomes) >= num_eval  # every example, for several outputs
    assert all(fast for fast, _ in outcomes)
    assert all(same for _, same in outcomes)
