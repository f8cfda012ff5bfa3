"""A pipeline step that scores the eval split against the known probabilities.

Runs only for synthetic logs (they have ``groundtruth/``), as a Beam job on
the pipeline's Beam arguments (``evaluation/groundtruth_beam.py``: bounded
memory per slice, so it follows the pipeline to Dataflow or Flink). Its
output, a ``GroundTruthEvaluation`` artifact holding ``groundtruth_metrics.json``, sits
in ML Metadata beside the Evaluator's, so the slice report and the benchmarks
find both the same way. See ``evaluation/groundtruth.py`` for the metrics.
"""

import json
import logging
import os

import apache_beam as beam
from tfx import v1 as tfx
from tfx.types import artifact
from tfx.utils import path_utils

from components.impression_example_gen import config as example_gen_config
from components.impression_example_gen import quality
from evaluation import groundtruth, groundtruth_beam


class GroundTruthEvaluation(artifact.Artifact):
    """Model and oracle AUCs per slice (``groundtruth_metrics.json``)."""

    TYPE_NAME = "GroundTruthEvaluation"


@tfx.dsl.components.component(use_beam=True)
def GroundTruthEvaluator(
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    evaluation: tfx.dsl.components.OutputArtifact[GroundTruthEvaluation],
    input_base: tfx.dsl.components.Parameter[str],
    model_name: tfx.dsl.components.Parameter[str],
    report_version: tfx.dsl.components.Parameter[int],
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Scores the eval split with the model and with the true probabilities.

    ``report_version`` must be ``groundtruth.REPORT_VERSION``: it is part of
    the cache key, so a report written by older code is not reused.
    """
    if report_version != groundtruth.REPORT_VERSION:
        raise ValueError(
            f"report_version {report_version} is not this code's "
            f"{groundtruth.REPORT_VERSION}"
        )
    eval_days = quality.load_report(examples.uri).days_per_split[
        example_gen_config.EVAL_SPLIT
    ]
    report = groundtruth_beam.evaluate(
        examples_split_dir=os.path.join(
            examples.uri, f"Split-{example_gen_config.EVAL_SPLIT}"
        ),
        saved_model_dir=path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model)
        ),
        input_base=input_base,
        days=eval_days,
        model_name=model_name,
        pipeline=beam_pipeline,
    )
    with open(os.path.join(evaluation.uri, groundtruth.METRICS_FILE), "w") as f:
        json.dump(report, f, indent=2, allow_nan=True)
    logging.info("Ground truth, overall:\n%s", groundtruth.format_report(report))
