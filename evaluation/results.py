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

The blessing's tests, per gated AUC (``cvr_auc``, ``ctcvr_auc``):
``skill_tests`` (the AUC and its p-value against chance) and
``baseline_comparison`` (the paired change against the blessed baseline);
``blessing_failures`` says in words which test refused a model.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2
from tensorflow_model_analysis.writers import eval_config_writer

from evaluation import metrics as custom
from evaluation import ranking
from evaluation.eval_config import (
    AUC_SUFFIX,
    CHANCE_P_VALUE_SUFFIX,
    COMPARISON_FIELDS,
    COMPARISON_KEYS,
    GATED_TASKS,
    METRIC_KEYS,
    metric_keys,
    report_name,
    task_of_output,
)
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


def skill_tests(
    output_path: str, model_name: str = "esm2"
) -> Dict[str, Dict[str, float]]:
    """Per gated AUC (``cvr_auc``, ``ctcvr_auc``), overall: ``auc`` and
    ``p_value``, the one-sided p-value that the output ranks no better than
    chance (the skill floor's figure)."""
    overall = candidate_metrics(output_path, model_name).get(OVERALL, {})
    tests = {}
    for task in GATED_TASKS:
        auc = report_name(task, AUC_SUFFIX)
        p_value = report_name(task, CHANCE_P_VALUE_SUFFIX)
        if auc in overall and p_value in overall:
            tests[auc] = {"auc": overall[auc], "p_value": overall[p_value]}
    return tests


def _comparison_settings(output_path: str) -> Dict[str, Dict[str, Optional[float]]]:
    """Per gated AUC: the ``margin`` and ``alpha`` (the p-value's lower bound,
    None when ungated) of its PairedAUCTest in the run's stored EvalConfig."""
    eval_config = eval_config_writer.load_eval_run(output_path)[0]
    settings = {}
    for spec in eval_config.metrics_specs if eval_config else ():
        for metric in spec.metrics:
            if metric.class_name != custom.PairedAUCTest.__name__:
                continue
            bounds = [
                t.threshold.value_threshold
                for t in metric.per_slice_thresholds
                if t.threshold.value_threshold.HasField("lower_bound")
            ]
            task = task_of_output(spec.output_names[0]).name
            settings[report_name(task, AUC_SUFFIX)] = {
                "margin": json.loads(metric.config or "{}").get("margin", 0.0),
                "alpha": bounds[0].lower_bound.value if bounds else None,
            }
    return settings


def baseline_comparison(output_path: str) -> Dict[str, Dict[str, Optional[float]]]:
    """Per gated AUC (``cvr_auc``, ``ctcvr_auc``), the overall comparison of the
    candidate with the blessed baseline on the same eval examples.

    Each a dict: ``delta`` (candidate AUC - baseline AUC), ``se`` (DeLong's
    standard error), ``ci_low``/``ci_high`` (95 % interval), ``p_value``
    (one-sided, that the candidate is worse by more than the margin; small
    means worse), ``margin`` and ``alpha`` (the p-value below which the
    model was refused, None when ungated).  Empty when the evaluation had no
    baseline (a first run).
    """
    overall = named_metrics(output_path, COMPARISON_KEYS).get(OVERALL, {})
    settings = _comparison_settings(output_path)
    comparisons = {}
    for task in GATED_TASKS:
        figures = {
            field: overall.get(report_name(task, suffix))
            for field, suffix in COMPARISON_FIELDS.items()
        }
        auc = report_name(task, AUC_SUFFIX)
        if figures["delta"] is not None:
            comparisons[auc] = {**figures, **settings.get(auc, {})}
    return comparisons


# Below this a p-value is shown as a bound: the normal approximations behind
# them are not accurate that far into the tail.
_SMALLEST_P_SHOWN = 1e-4


def p_value_text(p_value: float) -> str:
    """``p = 0.50``, ``p = 0.012``, ``p = 0.0003``, ``p < 0.0001``: two
    significant digits, enough to compare with a threshold."""
    if p_value < _SMALLEST_P_SHOWN:
        return f"p < {_SMALLEST_P_SHOWN:g}"
    return f"p = {p_value:.2f}" if p_value >= 0.1 else f"p = {p_value:.2g}"


def comparison_text(comparison: Mapping[str, Optional[float]]) -> str:
    """``change -0.0123 (95% CI -0.0190 to -0.0056), p = 0.0003``."""
    return (
        f"change {comparison['delta']:+.4f} "
        f"({ranking.CONFIDENCE_LEVEL:.0%} CI {comparison['ci_low']:+.4f} to "
        f"{comparison['ci_high']:+.4f}), {p_value_text(comparison['p_value'])}"
    )


def refusal_text(alpha: float) -> str:
    """``(refused when p < 0.025)``: the comparison's threshold in words."""
    return f"(refused when p < {alpha:g})"


def _threshold_text(threshold) -> str:
    """``>= 0.5`` from a tfma MetricThreshold proto's value bounds: the only
    kind the pipeline's EvalConfig sets (the baseline comparison is a value
    threshold on a p-value, told in words by ``_regression_failure``)."""
    bounds = threshold.value_threshold
    parts = []
    if bounds.HasField("lower_bound"):
        parts.append(f">= {bounds.lower_bound.value:g}")
    if bounds.HasField("upper_bound"):
        parts.append(f"<= {bounds.upper_bound.value:g}")
    return " and ".join(parts)


def _skill_failure(auc: str, test: Mapping[str, float], threshold) -> str:
    """``ctcvr_auc no better than chance: AUC 0.5000, p = 0.50 (needs p <= 0.01)``."""
    bound = threshold.value_threshold.upper_bound.value
    return (
        f"{auc} no better than chance: AUC {test['auc']:.4f}, "
        f"{p_value_text(test['p_value'])} (needs p <= {bound:g})"
    )


def _regression_failure(
    auc: str, comparison: Mapping[str, Optional[float]], threshold
) -> str:
    """``cvr_auc worse than the blessed baseline: change -0.0123 (95% CI -0.0190
    to -0.0056), p = 0.0003 (refused when p < 0.025)``; with a margin,
    ``worse than the blessed baseline by more than 0.002: ...``."""
    margin = comparison.get("margin") or 0.0
    by_more = f" by more than {margin:g}" if margin else ""
    bound = threshold.value_threshold.lower_bound.value
    return (
        f"{auc} worse than the blessed baseline{by_more}: "
        f"{comparison_text(comparison)} {refusal_text(bound)}"
    )


def _threshold_failure(name: str, value: Any, threshold) -> str:
    """``cvr_auc = 0.4049, needs >= 0.5``: any other threshold missed."""
    shown = f"{value:.4f}" if isinstance(value, float) else "not computed"
    return f"{name} = {shown}, needs {_threshold_text(threshold)}"


_Failure = Tuple[SliceKey, Any]  # (slice, a tfma MetricValidation failure)


def _failure_line(
    slice_key: SliceKey,
    failure,
    skill: Mapping[str, Mapping[str, float]],
    comparison: Mapping[str, Mapping[str, Optional[float]]],
) -> str:
    """One failed threshold in words: which test refused, with its figures."""
    key = tfma.metrics.MetricKey.from_proto(failure.metric_key)
    threshold = failure.metric_threshold
    if slice_key == OVERALL and key.name in _TEST_NAMES:
        auc = report_name(task_of_output(key.output_name).name, AUC_SUFFIX)
        if key.name == custom.AUC_CHANCE_P_VALUE_NAME and auc in skill:
            return _skill_failure(auc, skill[auc], threshold)
        if key.name == custom.AUC_REGRESSION_P_VALUE_NAME and auc in comparison:
            return _regression_failure(auc, comparison[auc], threshold)
    name = _REPORT_NAMES.get(
        (key.name, key.output_name, key.example_weighted),
        f"{key.output_name}/{key.name}",
    )
    where = "" if slice_key == OVERALL else f" on {slice_key}"
    value = metric_value(failure.metric_value)
    return _threshold_failure(f"{name}{where}", value, threshold)


# The blessing's tests, whose failures are told in words.
_TEST_NAMES = (custom.AUC_CHANCE_P_VALUE_NAME, custom.AUC_REGRESSION_P_VALUE_NAME)
# Report name by (metric name, output, weighting), whatever the model's name.
_REPORT_NAMES = {
    (key.name, key.output_name, key.example_weighted): name
    for name, key in {**METRIC_KEYS, **COMPARISON_KEYS}.items()
}


def blessing_failures(output_path: str) -> List[str]:
    """Why the Evaluator refused to bless: one line per failed test, in words.

    E.g. ``ctcvr_auc no better than chance: AUC 0.5000, p = 0.50 (needs p
    <= 0.01)``, ``cvr_auc worse than the blessed baseline: change -0.0123
    (95% CI -0.0190 to -0.0056), p = 0.0003 (refused when p < 0.025)`` or,
    for an AUC floor, ``cvr_auc = 0.4049, needs >= 0.6``.  Empty when the
    model was blessed.
    """
    result = tfma.load_validation_result(output_path)
    if result.validation_ok:
        return []
    failures: List[_Failure] = [
        (tfma.slicer.deserialize_slice_key(per_slice.slice_key), failure)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    failed = {failure.metric_key.name for _, failure in failures}
    skill = (
        skill_tests(output_path) if custom.AUC_CHANCE_P_VALUE_NAME in failed else {}
    )
    comparison = (
        baseline_comparison(output_path)
        if custom.AUC_REGRESSION_P_VALUE_NAME in failed
        else {}
    )
    lines = [_failure_line(s, f, skill, comparison) for s, f in failures]
    if not lines and result.missing_slices:
        lines.append(f"no examples in slices {list(result.missing_slices)}")
    return lines or ["the Evaluator's validation failed without naming a metric"]
