"""The ExampleGen executor: plans the run, runs the Beam graph, checks it.

It does not rely on the driver: where no driver ran (Kubeflow v2 skips custom
drivers of non-standard components) it resolves the days from the input
directory itself, so every orchestrator gets the same examples.
"""

from __future__ import annotations

from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from components.impression_example_gen import (
    artifacts,
    beam_pipeline,
    config,
    layout,
    quality,
)


def _check_fingerprint(cfg: config.IngestConfig, fingerprint: str) -> None:
    """Warns when inputs changed between the driver's look and the read."""
    if cfg.input_fingerprint and cfg.input_fingerprint != fingerprint:
        logging.warning(
            "Input files changed after the driver fingerprinted them "
            "(driver: %s, now: %s); the artifact records what was read.",
            cfg.input_fingerprint,
            fingerprint,
        )


def _check_report(report: quality.DataQualityReport) -> None:
    """Fails the run on lost records, too many rejects or an empty split.

    The message carries the whole data-quality report: when an execution
    fails, the orchestrator deletes its output directory, and with it the
    report files the artifact would have held.
    """
    error = quality.lost_rows_error(report) or quality.reject_rate_error(report)
    empty = [split for split, n in report.examples_per_split.items() if not n]
    if not error and empty:
        error = (
            f"no examples in split(s) {empty} "
            f"(days {report.days_per_split}) of {report.input_base}."
        )
    if error:
        raise ValueError(
            f"ImpressionLogExampleGen: {error}\n\n{report.format()}"
        )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Turns impression and event logs into labelled train/eval examples."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        """Reads the logs of the resolved days and writes the Examples.

        Args:
            input_dict: unused (the component has no input channels).
            output_dict: ``examples``: one standard_artifacts.Examples.
            exec_properties: see ``config.IngestConfig``.

        Raises:
            FileNotFoundError: a required input path is missing or empty.
            ValueError: bad properties, too many rejected impressions, or a
                split without examples.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        cfg = config.IngestConfig.from_exec_properties(exec_properties)
        plan = layout.plan_ingestion(cfg)
        fingerprint = layout.input_fingerprint(plan)
        _check_fingerprint(cfg, fingerprint)
        examples = artifact_utils.get_single_instance(output_dict[config.EXAMPLES_KEY])
        logging.info(
            "Ingesting days %s (train) and %s (eval) of %s",
            plan.train_days,
            plan.eval_days,
            plan.input_base,
        )

        with self._make_beam_pipeline() as pipeline:
            beam_pipeline.build(pipeline, cfg, plan, examples.uri)

        report = quality.load_report(examples.uri)
        logging.info("Data quality:\n%s", report.format())
        artifacts.annotate_input(examples, plan, fingerprint)
        artifacts.annotate_output(examples, report)
        _check_report(report)
