"""What a pipeline run produced, read back from ML Metadata.

The local runner prints this at the end of a run, so a user sees examples per
split, the data-quality counts, schema anomalies and where every artifact is,
without opening MLMD or the pipeline root by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.orchestration import metadata

from components.impression_example_gen import quality
from evaluation import eval_config, groundtruth, results

# TFX's context type for one component of a pipeline ("<pipeline>.<node id>").
_NODE_CONTEXT_TYPE = "node"
_FINISHED = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
# The outputs the summary reads, as "<component id>.<output key>".
EXAMPLES = "ImpressionLogExampleGen.examples"
ANOMALIES = "ExampleValidator.anomalies"
EVALUATION = "Evaluator.evaluation"
BLESSING = "Evaluator.blessing"
PUSHED_MODEL = "Pusher.pushed_model"
GROUNDTRUTH = "GroundTruthEvaluator.evaluation"
# The headline figures printed at the end of a run.
HEADLINE_METRICS = (
    eval_config.CTR_AUC,
    eval_config.CTAVR_AUC,
    eval_config.CVR_AUC,
    eval_config.CTCVR_AUC,
    eval_config.CTCVR_GAUC,
)
# File in which ExampleValidator writes each split's anomalies.
_ANOMALIES_FILE = "SchemaDiff.pb"


@dataclasses.dataclass
class RunSummary:
    """The newest output of every component of a pipeline."""

    artifacts: Dict[str, metadata_store_pb2.Artifact]  # see latest_outputs
    quality_report: Optional[quality.DataQualityReport]
    anomalies: Dict[str, List[str]]  # split -> "feature: description"
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)  # overall slice
    groundtruth: Optional[Dict[str, Any]] = None  # groundtruth_metrics.json
    # The thresholds a model missed when it was not blessed, one line each.
    blessing_failures: List[str] = dataclasses.field(default_factory=list)
    # Per gated AUC, the paired comparison with the blessed baseline
    # (results.baseline_comparison); empty on a first run.
    comparison: Dict[str, Dict[str, Optional[float]]] = dataclasses.field(
        default_factory=dict
    )

    def _custom_int(self, key: str, name: str) -> Optional[int]:
        artifact = self.artifacts.get(key)
        return artifact.custom_properties[name].int_value if artifact else None

    @property
    def blessed(self) -> Optional[bool]:
        value = self._custom_int(BLESSING, "blessed")
        return None if value is None else bool(value)

    @property
    def pushed_to(self) -> Optional[str]:
        artifact = self.artifacts.get(PUSHED_MODEL)
        if not artifact or not self._custom_int(PUSHED_MODEL, "pushed"):
            return None
        return artifact.custom_properties["pushed_destination"].string_value

    def _format_evaluation(self) -> List[str]:
        lines = ["Evaluation of the eval split (overall):"]
        truth = (self.groundtruth or {}).get("slices", {}).get(groundtruth.OVERALL, {})
        for name in HEADLINE_METRICS:
            if name not in self.metrics:
                continue
            line = f"  {name:<12} {self.metrics[name]:.4f}"
            if name in truth:
                line += f"   oracle {truth[name]['oracle']:.4f}   model/oracle {truth[name]['fraction']:.3f}"
            lines.append(line)
        if groundtruth.ENTIRE_SPACE_CVR_AUC in truth:
            entire = truth[groundtruth.ENTIRE_SPACE_CVR_AUC]
            lines.append(
                f"  entire-space CVR AUC {entire['model']:.4f}   oracle {entire['oracle']:.4f}"
            )
        lines.extend(self._format_comparison())
        verdict = {None: "not evaluated", True: "BLESSED", False: "NOT blessed"}[
            self.blessed
        ]
        lines.append(f"Model {verdict}; pushed to: {self.pushed_to or 'not pushed'}")
        if self.blessing_failures:
            lines.append("  thresholds missed:")
            lines.extend(f"    {failure}" for failure in self.blessing_failures)
            lines.append(
                "  One pass over a small train split is few steps (examples / batch "
                "size); --train-steps or --epochs trains longer."
            )
        return lines

    def _format_comparison(self) -> List[str]:
        """How far each gated AUC is from the blessed baseline's, and from refusal."""
        if not self.comparison:
            return []
        lines = ["AUC change vs the blessed baseline (paired, same eval examples):"]
        for name, figures in self.comparison.items():
            line = f"  {name:<12} {results.comparison_text(figures)}"
            if figures.get("alpha") is not None:
                line += f" {results.refusal_text(figures['alpha'])}"
            lines.append(line)
        return lines

    def format(self) -> str:
        lines = ["", "=== Pipeline run summary ==="]
        if self.quality_report is not None:
            lines.append(self.quality_report.format())
        for split, problems in sorted(self.anomalies.items()):
            status = "none" if not problems else "; ".join(problems)
            lines.append(f"Schema anomalies in {split}: {status}")
        if self.metrics or self.blessed is not None:
            lines.extend(self._format_evaluation())
        lines.append("Artifacts:")
        width = max(map(len, self.artifacts), default=0)
        for name, artifact in sorted(self.artifacts.items()):
            lines.append(f"  {name:<{width}}  {artifact.uri}")
        return "\n".join(lines)


def sqlite_connection(path: str) -> metadata_store_pb2.ConnectionConfig:
    return metadata.sqlite_metadata_connection_config(path)


def latest_outputs(
    store: metadata_store.MetadataStore, pipeline_name: str
) -> Dict[str, metadata_store_pb2.Artifact]:
    """The outputs of each component's newest finished execution.

    Keyed "<component id>.<output key>", e.g. "Transform.transform_graph"; a
    cached execution counts as finished and names the artifacts it reused.
    """
    prefix = f"{pipeline_name}."
    nodes = [
        c
        for c in store.get_contexts_by_type(_NODE_CONTEXT_TYPE)
        if c.name.startswith(prefix)
    ]
    if not nodes:
        raise ValueError(f"ML Metadata has no pipeline named {pipeline_name!r}")
    outputs: Dict[str, metadata_store_pb2.Artifact] = {}
    for node in nodes:
        finished = [
            e
            for e in store.get_executions_by_context(node.id)
            if e.last_known_state in _FINISHED
        ]
        if not finished:
            continue
        newest = max(finished, key=lambda e: e.id)
        events = [
            e
            for e in store.get_events_by_execution_ids([newest.id])
            if e.type == metadata_store_pb2.Event.OUTPUT
        ]
        by_id = {
            a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])
        }
        for event in events:
            key = f"{node.name[len(prefix) :]}.{event.path.steps[0].key}"
            outputs[key] = by_id[event.artifact_id]
    return outputs


@dataclasses.dataclass(frozen=True)
class NodeExecution:
    """How one component fared in a run."""

    state: str  # COMPLETE, CACHED, FAILED, ... (MLMD execution states)
    seconds: float  # wall time from creation to the last update


_RUN_CONTEXT_TYPE = "pipeline_run"


def run_executions(
    metadata_path: str, pipeline_name: str
) -> List[Dict[str, NodeExecution]]:
    """Per run of the pipeline, oldest first: component id -> what it did.

    The tests of reruns read which components were cached and which ran from
    here, and the benchmarks the wall time of each component.
    """
    store = metadata_store.MetadataStore(sqlite_connection(metadata_path))
    prefix = f"{pipeline_name}."
    nodes = {
        c.id: c.name[len(prefix) :]
        for c in store.get_contexts_by_type(_NODE_CONTEXT_TYPE)
        if c.name.startswith(prefix)
    }
    node_of_execution = {
        execution.id: name
        for context_id, name in nodes.items()
        for execution in store.get_executions_by_context(context_id)
    }
    executions_of_run = {
        run.id: (
            run,
            [
                e
                for e in store.get_executions_by_context(run.id)
                if e.id in node_of_execution
            ],
        )
        for run in store.get_contexts_by_type(_RUN_CONTEXT_TYPE)
    }
    runs = sorted(
        (pair for pair in executions_of_run.values() if pair[1]),
        key=lambda pair: pair[0].create_time_since_epoch,
    )
    if not runs:
        raise ValueError(f"ML Metadata has no run of pipeline {pipeline_name!r}")
    return [
        {
            node_of_execution[e.id]: NodeExecution(
                state=metadata_store_pb2.Execution.State.Name(e.last_known_state),
                seconds=(e.last_update_time_since_epoch - e.create_time_since_epoch)
                / 1000.0,
            )
            for e in executions
        }
        for _, executions in runs
    ]


def latest_run_executions(
    metadata_path: str, pipeline_name: str
) -> Dict[str, NodeExecution]:
    """Component id -> what it did in the newest run of the pipeline."""
    return run_executions(metadata_path, pipeline_name)[-1]


def read_anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
    """ExampleValidator's findings per split, one line per anomalous feature."""
    found: Dict[str, List[str]] = {}
    for entry in sorted(os.listdir(anomalies_uri)):
        path = os.path.join(anomalies_uri, entry, _ANOMALIES_FILE)
        if not (entry.startswith("Split-") and os.path.exists(path)):
            continue
        with open(path, "rb") as f:
            anomalies = anomalies_pb2.Anomalies.FromString(f.read())
        found[entry[len("Split-") :]] = [
            f"{feature}: {info.short_description}"
            for feature, info in sorted(anomalies.anomaly_info.items())
        ]
    return found


def read_groundtruth(uri: str) -> Dict[str, Any]:
    with open(os.path.join(uri, groundtruth.METRICS_FILE)) as f:
        return json.load(f)


def summarize(
    metadata_path: str, pipeline_name: str, model_name: str = "esm2"
) -> RunSummary:
    """What the newest run of ``pipeline_name`` produced (``model_name``: its architecture)."""
    store = metadata_store.MetadataStore(sqlite_connection(metadata_path))
    artifacts = latest_outputs(store, pipeline_name)
    examples = artifacts.get(EXAMPLES)
    anomalies = artifacts.get(ANOMALIES)
    evaluation = artifacts.get(EVALUATION)
    truth = artifacts.get(GROUNDTRUTH)
    return RunSummary(
        artifacts=artifacts,
        quality_report=quality.load_report(examples.uri) if examples else None,
        anomalies=read_anomalies(anomalies.uri) if anomalies else {},
        metrics=(
            results.candidate_metrics(evaluation.uri, model_name)[results.OVERALL]
            if evaluation
            else {}
        ),
        groundtruth=read_groundtruth(truth.uri) if truth else None,
        blessing_failures=results.blessing_failures(evaluation.uri) if evaluation else [],
        comparison=results.baseline_comparison(evaluation.uri) if evaluation else {},
    )
