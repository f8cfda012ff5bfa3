"""The Evaluator's computation outside the pipeline: TFMA on saved models.

Benchmarks and tests run the pipeline's ``EvalConfig`` on models and
examples they choose (a slice of an eval split, a candidate against a fixed
baseline) without a pipeline run around it; in-process on one Beam worker,
as the local pipeline does (``pipeline.config.LOCAL_BEAM_ARGS``).
"""

from __future__ import annotations

from typing import Mapping

import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import LOCAL_BEAM_ARGS


def run_tfma(
    eval_config: tfma.EvalConfig,
    model_dirs: Mapping[str, str],
    data_location: str,
    output_path: str,
) -> str:
    """TFMA of ``eval_config`` on the tf.Example files ``data_location`` (a
    glob); ``model_dirs`` maps each of its ModelSpec names to a SavedModel.
    Returns ``output_path``, where TFMA wrote metrics and validation."""
    shared = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=path, model_name=name, eval_config=eval_config
        )
        for name, path in model_dirs.items()
    ]
    tfma.run_model_analysis(
        eval_shared_model=shared if len(shared) > 1 else shared[0],
        eval_config=eval_config,
        data_location=data_location,
        file_format="tfrecords",
        output_path=output_path,
        pipeline_options=PipelineOptions(list(LOCAL_BEAM_ARGS)),
    )
    return output_path
