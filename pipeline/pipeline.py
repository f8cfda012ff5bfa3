"""The ESM2 pipeline graph: ``create_pipeline`` builds it from explicit arguments.

Every runner (local, Beam, Kubeflow) calls this one function, so development
and production run the same graph:

    ImpressionLogExampleGen -> StatisticsGen -> ExampleValidator
          |  |                  ImportSchemaGen --^    |
          |  +-------------------> Transform <---------+
          |                            |
          |                         Trainer (ESM2 | ESMM | DNN)
          |                            |
          +---------------------> Evaluator <-- latest blessed model (baseline)
                                       |
                                    Pusher -> <serving_base>/<model_name>/<version>/

plus, on synthetic logs, GroundTruthEvaluator (model AUCs beside the oracle's).
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.groundtruth_evaluator import GroundTruthEvaluator
from components.impression_example_gen.component import ImpressionLogExampleGen
from evaluation.groundtruth import REPORT_VERSION as GROUNDTRUTH_REPORT_VERSION
from evaluation.eval_config import BlessingThresholds, build_eval_config
from models.config import ModelConfig
from models.trainer import EPOCHS_KEY, MODEL_CONFIG_KEY
from pipeline.config import IngestConfig, TrainingConfig
from pipeline.statistics import statistics_options

# The ids of the pipeline's components, in the order they run (the last one
# only on synthetic logs). Benchmarks and tests read executions by these ids.
COMPONENT_IDS = (
    "ImpressionLogExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "Transform",
    "Trainer",
    "Evaluator",
    "Pusher",
    "GroundTruthEvaluator",
)

PREPROCESSING_FN = "transform.preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    input_base: str,
    schema_path: str,
    ingest: IngestConfig,
    model: ModelConfig,
    training: TrainingConfig,
    blessing: BlessingThresholds,
    push_base_directory: str,
    groundtruth: bool = False,
    evaluator_spill_dir: str = "",
    transform_statistics: bool = False,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
) -> tfx.dsl.Pipeline:
    """The pipeline's component graph.

    Args:
      pipeline_name: name under which ML Metadata records the runs.
      pipeline_root: where the components write their artifacts.
      input_base: the impression-log directory (impressions/, events/).
      schema_path: the curated schema that ExampleValidator checks against.
      ingest: which days to read, the eval split and the label rules.
      model: which model the Trainer fits, and its hyper-parameters.
      training: how many steps the Trainer trains and evaluates.
      blessing: the Evaluator's tests: the AUCs beat chance and, against the
        latest blessed model, are not significantly worse.
      push_base_directory: where the Pusher writes blessed models, as
        <push_base_directory>/<version>/, the layout TF Serving watches.
      groundtruth: also score the eval split against the true probabilities
        (synthetic logs only: <input_base>/groundtruth/).
      evaluator_spill_dir: where the Evaluator's GAUC and paired test spill
        each slice's rows; every Beam worker must reach it. Empty: the local
        temporary directory.
      transform_statistics: Transform also computes TFDV statistics of its
        input and output. Off by default: StatisticsGen has already computed
        the input's, and the output's made the local runner hold the whole
        transformed data set in memory (BENCHMARKS.md section 6, the
        scaling table).
      beam_pipeline_args: Beam options for every Beam-based component.
      enable_cache: reuse the results of an identical earlier execution.
      metadata_connection_config: ML Metadata store; None lets the runner
        (for example Kubeflow) supply its own.
    """
    example_gen = ImpressionLogExampleGen(
        input_base=input_base,
        first_day=ingest.first_day,
        last_day=ingest.last_day,
        eval_days=ingest.eval_days,
        daction_events=list(ingest.daction_events),
        attribution_window_days=ingest.attribution_window_days,
        max_reject_rate=ingest.max_reject_rate,
    )
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=statistics_options(),
    )
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        disable_statistics=not transform_statistics,
    )
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=training.eval_steps),
        custom_config={
            MODEL_CONFIG_KEY: dataclasses.asdict(model),
            EPOCHS_KEY: training.epochs,
        },
    )
    # The latest blessed model is the baseline a new model must not fall behind.
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=build_eval_config(
            model.model, blessing, baseline=True, spill_dir=evaluator_spill_dir
        ),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=push_base_directory
            )
        ),
    )
    components: List[tfx.types.BaseNode] = [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        trainer,
        baseline_resolver,
        evaluator,
        pusher,
    ]
    if groundtruth:
        components.append(
            GroundTruthEvaluator(
                examples=example_gen.outputs["examples"],
                model=trainer.outputs["model"],
                input_base=input_base,
                model_name=model.model,
                report_version=GROUNDTRUTH_REPORT_VERSION,
            )
        )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
