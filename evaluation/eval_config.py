"""The Evaluator's TFMA EvalConfig, exactly as shared/specs/evaluation.md asks.

One ``MetricsSpec`` per model output, because the outputs are scored over
different populations: ``pcvr`` is weighted by the ``click`` label (per-output
``ModelSpec.example_weight_keys``, which TFMA supports), so every CVR metric
sees clicked impressions only (weight 0 drops an impression); the other
outputs are unweighted and see every impression.  Computing CVR AUC over all
impressions is the first pitfall the spec lists.

Metric names as TFMA writes them are the ``evaluation.metrics`` names (plus
TFMA's ``example_count``); ``METRIC_KEYS`` maps the report's names (``cvr_auc``,
``ctcvr_gauc``, ...) to the full ``tfma.metrics.MetricKey`` of each, so readers
never rebuild keys by hand (``evaluation.results`` does the lookup).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from evaluation import metrics as custom
from models.trainer import SERVING_SIGNATURE
from transform import features

# Models that estimate P(click, DAction); the others export pctavr = 0.
MODELS_WITH_CTAVR: Tuple[str, ...] = ("esm2",)

# Report names of the tasks (the spec's "CTR AUC", "CVR AUC", ...).
TASK_CTR = "ctr"
TASK_CTAVR = "ctavr"
TASK_CVR = "cvr"
TASK_CTCVR = "ctcvr"

# The TFMA built-in metric's name used below.
EXAMPLE_COUNT_NAME = "example_count"


@dataclasses.dataclass(frozen=True)
class Task:
    """One row of the spec's metric table.

    Attributes:
        name: report prefix of the task's metrics.
        output: the model output scored.
        label: the label it is scored against.
        population_weight: feature used as example weight to restrict the
            population (weight 0 = excluded); None = all impressions.
        ranking: also precision/recall/F1 at the top fractions.
        group_auc: also GAUC over users.
    """

    name: str
    output: str
    label: str
    population_weight: Optional[str] = None
    ranking: bool = False
    group_auc: bool = False

    @property
    def weighted(self) -> bool:
        return self.population_weight is not None


TASKS: Tuple[Task, ...] = (
    Task(TASK_CTR, features.OUTPUT_PCTR, features.LABEL_CLICK),
    Task(TASK_CTAVR, features.OUTPUT_PCTAVR, features.LABEL_DACTION),
    Task(
        TASK_CVR,
        features.OUTPUT_PCVR,
        features.LABEL_PURCHASE,
        population_weight=features.LABEL_CLICK,
        ranking=True,
    ),
    Task(
        TASK_CTCVR,
        features.OUTPUT_PCTCVR,
        features.LABEL_PURCHASE,
        ranking=True,
        group_auc=True,
    ),
)


@dataclasses.dataclass(frozen=True)
class BlessingThresholds:
    """When the Evaluator blesses a model; carried by the pipeline config.

    Value thresholds are checked on the overall slice (a small bucket's AUC
    is too noisy to gate on).  The change threshold applies only when a
    baseline model is evaluated alongside: candidate AUC minus baseline AUC
    must be >= ``min_auc_change`` (higher is better; a small negative value
    tolerates evaluation noise).  None disables a threshold.  The names are
    unique in the pipeline config, whose CLI flattens nested dataclasses.
    """

    min_ctr_auc: Optional[float] = None
    min_cvr_auc: Optional[float] = 0.5
    min_ctcvr_auc: Optional[float] = 0.5
    min_auc_change: Optional[float] = -1e-3

    def auc_lower_bound(self, task: str) -> Optional[float]:
        """The AUC lower bound of a task, or None."""
        return {
            TASK_CTR: self.min_ctr_auc,
            TASK_CVR: self.min_cvr_auc,
            TASK_CTCVR: self.min_ctcvr_auc,
        }.get(task)

    def gates_change(self, task: str) -> bool:
        """Whether the task's AUC is compared with the baseline's: the headline ones."""
        return self.min_auc_change is not None and task in (TASK_CVR, TASK_CTCVR)


def evaluates_ctavr(model_name: str) -> bool:
    """Whether the model estimates pctavr (ESMM and the DNN export 0: skip it)."""
    return model_name in MODELS_WITH_CTAVR


def evaluated_tasks(model_name: str) -> Tuple[Task, ...]:
    """The tasks whose metrics are computed for ``model_name``."""
    with_ctavr = evaluates_ctavr(model_name)
    return tuple(t for t in TASKS if with_ctavr or t.name != TASK_CTAVR)


# --- Metric configs ------------------------------------------------------------
def _metric_config(
    metric: tfma.metrics.Metric, threshold: Optional[tfma.MetricThreshold] = None
) -> tfma.MetricConfig:
    """A MetricConfig naming the metric's class and module (custom or built-in).

    The module lets TFMA import ``evaluation.metrics`` wherever the Evaluator
    runs (TFMA's own metrics need none); the threshold is restricted to the
    overall slice.
    """
    class_name = type(metric).__name__
    builtin = metric_types.is_registered_metric(class_name)
    config = tfma.MetricConfig(
        class_name=class_name,
        module="" if builtin else type(metric).__module__,
        config=json.dumps(metric.get_config(), sort_keys=True),
    )
    if threshold is not None:
        config.per_slice_thresholds.add(
            slicing_specs=[tfma.SlicingSpec()], threshold=threshold
        )
    return config


def _auc_threshold(
    task: Task, thresholds: BlessingThresholds, baseline: bool
) -> Optional[tfma.MetricThreshold]:
    """The blessing threshold on a task's AUC, or None."""
    threshold = tfma.MetricThreshold()
    lower_bound = thresholds.auc_lower_bound(task.name)
    if lower_bound is not None:
        threshold.value_threshold.lower_bound.value = lower_bound
    if baseline and thresholds.gates_change(task.name):
        threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
        threshold.change_threshold.absolute.value = thresholds.min_auc_change
    return threshold if threshold.ByteSize() else None


def _auc_metric(
    task: Task, thresholds: BlessingThresholds, baseline: bool
) -> tfma.MetricConfig:
    """The task's exact AUC with its blessing threshold."""
    return _metric_config(custom.ExactAUC(), _auc_threshold(task, thresholds, baseline))


def _task_metrics(
    task: Task, top_fractions: Sequence[float], ece_bins: int
) -> List[tfma.MetricConfig]:
    """A task's metrics but its AUC: counts, calibration, ranking, GAUC."""
    configs = [
        _metric_config(tfma.metrics.ExampleCount(name=EXAMPLE_COUNT_NAME)),
        _metric_config(custom.PositiveCount()),
        _metric_config(custom.MeanCalibration()),
        _metric_config(custom.ExpectedCalibrationError(num_bins=ece_bins)),
    ]
    if task.ranking:
        configs.append(
            _metric_config(custom.TopKPrecisionRecall(fractions=top_fractions))
        )
    if task.group_auc:
        configs.append(_metric_config(custom.GroupAUC(group_key=features.USER_ID)))
    return configs


def _metrics_spec(
    task: Task,
    metric_configs: List[tfma.MetricConfig],
    model_names: Sequence[str] = (),
) -> tfma.MetricsSpec:
    """One output's MetricsSpec, weighted iff the task restricts its population.

    No ``model_names`` means every model of the EvalConfig.
    """
    weights = (
        tfma.ExampleWeightOptions(weighted=True)
        if task.weighted
        else tfma.ExampleWeightOptions(unweighted=True)
    )
    return tfma.MetricsSpec(
        output_names=[task.output],
        example_weights=weights,
        metrics=metric_configs,
        model_names=model_names,
    )


def _task_metrics_specs(
    task: Task,
    thresholds: BlessingThresholds,
    baseline: bool,
    top_fractions: Sequence[float],
    ece_bins: int,
) -> List[tfma.MetricsSpec]:
    """One task's MetricsSpecs: all its metrics for the candidate; with a
    baseline, only the AUCs the blessing compares for the baseline as well.

    TFMA computes every metric of a spec for every model the spec names, each
    metric a Python pass over the examples and slices. The baseline's other
    figures are read by nobody: its own evaluation, when it was the
    candidate, already holds them. The AUC diff needs both models; the rest
    needs only one.
    """
    auc = _auc_metric(task, thresholds, baseline)
    others = _task_metrics(task, top_fractions, ece_bins)
    if not baseline:
        return [_metrics_spec(task, [auc] + others)]
    candidate_only = [tfma.CANDIDATE_KEY]
    if not thresholds.gates_change(task.name):
        return [_metrics_spec(task, [auc] + others, model_names=candidate_only)]
    return [
        _metrics_spec(task, others, model_names=candidate_only),
        _metrics_spec(
            task, [auc], model_names=[tfma.CANDIDATE_KEY, tfma.BASELINE_KEY]
        ),
    ]


def _model_spec(
    tasks: Sequence[Task], name: str = "", is_baseline: bool = False
) -> tfma.ModelSpec:
    """serving_default with a label per output and the per-output population weights."""
    return tfma.ModelSpec(
        name=name,
        signature_name=SERVING_SIGNATURE,
        label_keys={t.output: t.label for t in tasks},
        example_weight_keys={
            t.output: t.population_weight for t in tasks if t.weighted
        },
        is_baseline=is_baseline,
    )


def slicing_specs() -> List[tfma.SlicingSpec]:
    """Overall and per purchase-frequency bucket (the paper's Figure 7)."""
    return [tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.SLICE_KEY])]


def build_eval_config(
    model_name: str = "esm2",
    thresholds: Optional[BlessingThresholds] = None,
    baseline: bool = False,
    top_fractions: Sequence[float] = custom.DEFAULT_TOP_FRACTIONS,
    ece_bins: int = custom.DEFAULT_ECE_BINS,
) -> tfma.EvalConfig:
    """The Evaluator's EvalConfig for ``model_name`` (a ``models.registry`` name).

    Args:
        model_name: decides whether CTAVR is evaluated (ESM2 only).
        thresholds: blessing thresholds; defaults to ``BlessingThresholds()``.
        baseline: add a baseline ModelSpec (``is_baseline=True``) and the
            change thresholds (TFX's Evaluator drops both when it is given
            no baseline model). The models are then named
            ``tfma.CANDIDATE_KEY`` and ``tfma.BASELINE_KEY``, as TFX's
            Evaluator expects, and only the AUCs the change thresholds
            compare are computed for the baseline.
        top_fractions: fractions for precision/recall/F1 at the top.
        ece_bins: number of equal-width bins of the ECE.
    """
    thresholds = thresholds or BlessingThresholds()
    tasks = evaluated_tasks(model_name)
    if baseline:
        model_specs = [
            _model_spec(tasks, name=tfma.CANDIDATE_KEY),
            _model_spec(tasks, name=tfma.BASELINE_KEY, is_baseline=True),
        ]
    else:
        model_specs = [_model_spec(tasks)]
    metrics_specs = [
        spec
        for t in tasks
        for spec in _task_metrics_specs(
            t, thresholds, baseline, top_fractions, ece_bins
        )
    ]
    config = tfma.EvalConfig(
        model_specs=model_specs,
        metrics_specs=metrics_specs,
        slicing_specs=slicing_specs(),
    )
    # Only the metrics above: no Keras compiled metrics or TFMA defaults.
    config.options.include_default_metrics.value = False
    return config


# --- Reading the metrics back by name ---------------------------------------------
def _task_key_names(task: Task, top_fractions: Sequence[float]) -> Dict[str, str]:
    """Report suffix -> TFMA metric name, for the metrics ``_task_metrics`` adds."""
    bin_weight, bin_prediction, bin_rate = custom.ece_bin_names()
    names = {
        "example_count": EXAMPLE_COUNT_NAME,
        "positive_count": custom.POSITIVE_COUNT_NAME,
        "auc": custom.EXACT_AUC_NAME,
        "calibration": custom.CALIBRATION_NAME,
        "mean_prediction": custom.MEAN_PREDICTION_NAME,
        "mean_label": custom.MEAN_LABEL_NAME,
        "ece": custom.ECE_NAME,
        "ece_bin_weight": bin_weight,
        "ece_bin_mean_prediction": bin_prediction,
        "ece_bin_observed_rate": bin_rate,
    }
    if task.ranking:
        for fraction in top_fractions:
            for kind in custom.TOP_FRACTION_KINDS:
                name = custom.top_fraction_key_name(kind, fraction)
                names[name] = name
    if task.group_auc:
        names["gauc"] = custom.GROUP_AUC_NAME
        names["gauc_num_users"] = custom.group_auc_count_name()
    return names


def metric_keys(
    model_name: str = "esm2",
    top_fractions: Sequence[float] = custom.DEFAULT_TOP_FRACTIONS,
    tfma_model_name: str = "",
) -> Dict[str, tfma.metrics.MetricKey]:
    """Report name (``<task>_<metric>``) -> MetricKey of ``build_eval_config``'s output.

    E.g. ``cvr_auc``, ``ctcvr_gauc``, ``ctcvr_gauc_num_users``,
    ``cvr_precision_at_top_0_1pct``, ``ctr_ece``, ``ctr_ece_bin_observed_rate``,
    ``cvr_example_count`` (clicked impressions).  ``tfma_model_name`` is ''
    for a single-model evaluation, ``tfma.CANDIDATE_KEY`` or
    ``tfma.BASELINE_KEY`` with a baseline.  Pass the ``top_fractions`` given
    to ``build_eval_config``.
    """
    keys = {}
    for task in evaluated_tasks(model_name):
        for suffix, name in _task_key_names(task, top_fractions).items():
            keys[f"{task.name}_{suffix}"] = tfma.metrics.MetricKey(
                name=name,
                model_name=tfma_model_name,
                output_name=task.output,
                example_weighted=task.weighted,
            )
    return keys


# Every figure of an ESM2 evaluation with the default top fractions.
METRIC_KEYS: Dict[str, tfma.metrics.MetricKey] = metric_keys()

# The headline figures of shared/specs/evaluation.md (CTAVR: ESM2 only).
CTR_AUC = f"{TASK_CTR}_auc"
CTAVR_AUC = f"{TASK_CTAVR}_auc"
CVR_AUC = f"{TASK_CVR}_auc"
CTCVR_AUC = f"{TASK_CTCVR}_auc"
CTCVR_GAUC = f"{TASK_CTCVR}_gauc"
HEADLINE_METRICS: Tuple[str, ...] = (CTR_AUC, CTAVR_AUC, CVR_AUC, CTCVR_AUC, CTCVR_GAUC)
