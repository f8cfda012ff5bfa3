"""Reading an Evaluator / TFMA output directory back by metric name.

TFMA stores every metric as a ``MetricKeyAndValue`` proto; its own
``EvalResult`` view drops ``example_weighted`` from the key, which would merge
the clicked-only CVR figures with unweighted ones.  These helpers keep the
full ``MetricKey`` and convert values to Python: doubles to ``float``, array
values (the ECE bins) to numpy arrays.

    metrics = named_metrics(evaluator_output_uri)
    metrics[OVERALL]["cvr_auc"]
    metrics[bucket_slice("51+")]["ctcvr_gauc"]
    metrics[OVERALL]["ctr_ece_bin_observed_rate"]  # np.ndarray, one per bin
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from evaluation.eval_config import METRIC_KEYS, metric_keys
from transform import features

SliceKey = Tuple[Tuple[str, Any], ...]
OVERALL: SliceKey = ()

_ARRAY_FIELDS = {
    metrics_for_slice_pb2.ArrayValue.FLOAT64: "float64_values",
    metrics_for_slice_pb2.ArrayValue.FLOAT32: "float32_values",
    metrics_for_slice_pb2.ArrayValue.INT64: "int64_values",
    metrics_for_slice_pb2.ArrayValue.INT32: "int32_values",
    metrics_for_slice_pb2.ArrayValue.BYTES: "bytes_values",
}


def bucket_slice(bucket: str) -> SliceKey:
    """The slice key of one purchase-frequency bucket, e.g. ``bucket_slice('51+')``."""
    return ((features.SLICE_KEY, bucket),)


def metric_value(value: metrics_for_slice_pb2.MetricValue) -> Any:
    """A stored metric value as float, numpy array or (other kinds) the proto."""
    kind = value.WhichOneof("type")
    if kind == "double_value":
        return value.double_value.value
    if kind == "array_value":
        array = value.array_value
        values = getattr(array, _ARRAY_FIELDS[array.data_type])
        return np.asarray(values).reshape(tuple(array.shape))
    return value


def load_metrics(output_path: str) -> Dict[SliceKey, Dict[tfma.metrics.MetricKey, Any]]:
    """Every single-slice metric under ``output_path``, by slice and full MetricKey."""
    result: Dict[SliceKey, Dict[tfma.metrics.MetricKey, Any]] = {}
    for metrics_for_slice in tfma.load_metrics(output_path):
        if metrics_for_slice.HasField("cross_slice_key"):
            continue
        slice_key = tfma.slicer.deserialize_slice_key(metrics_for_slice.slice_key)
        slice_metrics = result.setdefault(slice_key, {})
        for key_and_value in metrics_for_slice.metric_keys_and_values:
            key = tfma.metrics.MetricKey.from_proto(key_and_value.key)
            slice_metrics[key] = metric_value(key_and_value.value)
    return result


def named_metrics(
    output_path: str,
    keys: Optional[Mapping[str, tfma.metrics.MetricKey]] = None,
    diff: bool = False,
) -> Dict[SliceKey, Dict[str, Any]]:
    """Per slice, the metrics of ``keys`` (default ``METRIC_KEYS``) by report name.

    With ``diff``, the candidate-minus-baseline values TFMA adds when a
    baseline is evaluated (pass ``metric_keys(tfma_model_name=
    tfma.CANDIDATE_KEY)`` as ``keys``).  Names missing from a slice are left
    out rather than guessed.
    """
    keys = METRIC_KEYS if keys is None else keys
    lookup = {name: key.make_diff_key() if diff else key for name, key in keys.items()}
    return {
        slice_key: {
            name: slice_metrics[key]
            for name, key in lookup.items()
            if key in slice_metrics
        }
        for slice_key, slice_metrics in load_metrics(output_path).items()
    }


def candidate_metrics(
    output_path: str, model_name: str = "esm2"
) -> Dict[SliceKey, Dict[str, Any]]:
    """``named_metrics`` of the evaluated (candidate) model of an Evaluator run.

    The pipeline's EvalConfig names the models ``candidate`` and ``baseline``;
    on the first run, with no blessed baseline yet, TFX drops the baseline and
    the candidate may be stored under either name. This finds it.
    """
    for tfma_name in (tfma.CANDIDATE_KEY, ""):
        found = named_metrics(
            output_path, metric_keys(model_name, tfma_model_name=tfma_name)
        )
        if any(found.values()):
            return found
    raise ValueError(f"no metrics of a candidate model under {output_path}")


def _threshold_text(threshold) -> str:
    """``>= 0.5`` or ``change vs the blessed baseline >= -0.001`` from a tfma
    MetricThreshold proto."""
    if threshold.HasField("value_threshold"):
        bounds = threshold.value_threshold
        parts = []
        if bounds.HasField("lower_bound"):
            parts.append(f">= {bounds.lower_bound.value:g}")
        if bounds.HasField("upper_bound"):
            parts.append(f"<= {bounds.upper_bound.value:g}")
        return " and ".join(parts)
    change = threshold.change_threshold
    bound = change.absolute if change.HasField("absolute") else change.relative
    kind = "change" if change.HasField("absolute") else "relative change"
    direction = ">=" if change.direction == tfma.MetricDirection.HIGHER_IS_BETTER else "<="
    return f"{kind} vs the blessed baseline {direction} {bound.value:g}"


def blessing_failures(output_path: str) -> List[str]:
    """Why the Evaluator refused to bless: one line per failed threshold.

    E.g. ``cvr_auc = 0.4049, needs >= 0.5`` or, against a baseline,
    ``ctcvr_auc change = -0.0032, needs change vs the blessed baseline >= -0.001``.
    Empty when the model was blessed.
    """
    result = tfma.load_validation_result(output_path)
    if result.validation_ok:
        return []
    names = {
        (key.name, key.output_name, key.example_weighted): name
        for name, key in METRIC_KEYS.items()
    }
    lines = []
    for per_slice in result.metric_validations_per_slice:
        slice_key = tfma.slicer.deserialize_slice_key(per_slice.slice_key)
        where = "" if slice_key == OVERALL else f" on {slice_key}"
        for failure in per_slice.failures:
            key = tfma.metrics.MetricKey.from_proto(failure.metric_key)
            name = names.get(
                (key.name, key.output_name, key.example_weighted),
                f"{key.output_name}/{key.name}",
            ) + (" change" if key.is_diff else "")
            value = metric_value(failure.metric_value)
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(
                f"{name}{where} = {shown}, needs {_threshold_text(failure.metric_threshold)}"
            )
    if not lines and result.missing_slices:
        lines.append(f"no examples in slices {list(result.missing_slices)}")
    return lines or ["the Evaluator's validation failed without naming a metric"]
