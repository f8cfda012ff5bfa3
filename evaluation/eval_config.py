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

The blessing (``BlessingThresholds``) is two statistical tests kept inside
TFMA, so that TFX's Evaluator still blesses or refuses: a value threshold on
each gated AUC's chance p-value (``AUCSkillTest``) and, with a baseline, on
the p-value of DeLong's paired comparison with it (``PairedAUCTest``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from evaluation import metrics as custom
from models.registry import estimated_tasks
from transform import features, tasks

# The TFMA built-in metric's name used below.
EXAMPLE_COUNT_NAME = "example_count"


@dataclasses.dataclass(frozen=True)
class Task(tasks.Task):
    """One row of the spec's metric table: a task (``transform.tasks``) and
    the metrics it gets beyond its AUC, counts and calibration.

    Attributes:
        ranking: also precision/recall/F1 at the top fractions.
        group_auc: also GAUC over users.
    """

    ranking: bool = False
    group_auc: bool = False

    @property
    def weighted(self) -> bool:
        """Whether the output's examples are weighted by the population label
        (weight 0 = excluded), as TFMA restricts a population."""
        return self.population is not None


def _scored(task: tasks.Task, **metrics: bool) -> Task:
    """``task`` with the metric choices of ``Task``."""
    return Task(**dataclasses.asdict(task), **metrics)


# In the order of ``tasks.TASKS``.
TASKS: Tuple[Task, ...] = (
    _scored(tasks.CTR),
    _scored(tasks.CTAVR),
    _scored(tasks.CVR, ranking=True),
    _scored(tasks.CTCVR, ranking=True, group_auc=True),
)


# The headline AUCs the blessing tests (shared/specs/evaluation.md): CVR over
# clicked impressions and CTCVR over all of them.
GATED_TASKS: Tuple[str, ...] = (tasks.CVR.name, tasks.CTCVR.name)


@dataclasses.dataclass(frozen=True)
class BlessingThresholds:
    """When the Evaluator blesses a model; carried by the pipeline config.

    Two tests decide, on the overall slice (a small bucket's AUC is too
    noisy to gate on), for each AUC of ``GATED_TASKS``: the skill floor (the
    AUC beats chance) always, and the comparison with the latest blessed
    model (the AUC is not significantly worse, same eval examples) when there
    is one.  Both are TFMA value thresholds on p-values
    (``evaluation.metrics.AUCSkillTest`` and ``PairedAUCTest``).  None
    disables a test or floor; with all of them off, TFX's Evaluator does not
    validate and blesses nothing.  The names are unique in the pipeline
    config, whose CLI flattens nested dataclasses (``--skill-alpha 0.001``).
    """

    # Optional floors on the AUCs themselves, off by default: on one eval
    # day an AUC moves by about +-0.02, so a floor near 0.5 passes a
    # no-skill model by chance, and a higher one is a product decision.
    min_ctr_auc: Optional[float] = None
    min_cvr_auc: Optional[float] = None
    min_ctcvr_auc: Optional[float] = None
    # Skill floor, per gated AUC: refused unless the one-sided Mann-Whitney
    # p-value of "no better than chance" is <= this.  A constant score
    # (models/prior.py) gets p = 0.5; a no-skill score that varies passes by
    # luck 1 time in 100 per AUC.
    skill_alpha: Optional[float] = 0.01
    # Family-wise rate at which a candidate as good as the blessed baseline is
    # refused anyway, Bonferroni-split over the gated AUCs (0.025 each):
    # refused when DeLong's paired test says "worse" with p below that.
    regression_alpha: Optional[float] = 0.05
    # AUC loss against the baseline that does not count as worse (the
    # non-inferiority margin): 0 refuses any significant loss; a benchmark of
    # retrain-to-retrain spread (about 0.005 AUC between seeds) may raise it.
    auc_margin: float = 0.0

    def __post_init__(self) -> None:
        for name in ("skill_alpha", "regression_alpha"):
            alpha = getattr(self, name)
            if alpha is not None and not 0.0 < alpha < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {alpha}")
        if self.auc_margin < 0.0:
            raise ValueError(f"auc_margin must be >= 0, got {self.auc_margin}")

    def auc_lower_bound(self, task: str) -> Optional[float]:
        """The AUC floor of a task, or None."""
        return {
            tasks.CTR.name: self.min_ctr_auc,
            tasks.CVR.name: self.min_cvr_auc,
            tasks.CTCVR.name: self.min_ctcvr_auc,
        }.get(task)

    def skill_upper_bound(self, task: str) -> Optional[float]:
        """The largest chance p-value that passes a task's skill floor, or None."""
        return self.skill_alpha if task in GATED_TASKS else None

    def regression_test_alpha(self) -> Optional[float]:
        """Each gated AUC's share of ``regression_alpha`` (Bonferroni), or None."""
        if self.regression_alpha is None:
            return None
        return self.regression_alpha / len(GATED_TASKS)


def evaluated_tasks(model_name: str) -> Tuple[Task, ...]:
    """The tasks whose metrics are computed for ``model_name``: those whose
    output it estimates (ESMM and the DNN export pctavr = 0: CTAVR is skipped)."""
    estimated = {t.name for t in estimated_tasks(model_name)}
    return tuple(t for t in TASKS if t.name in estimated)


# --- Metric configs ------------------------------------------------------------
def _metric_config(
    metric: tfma.metrics.Metric, threshold: Optional[tfma.MetricThreshold] = None
) -> tfma.MetricConfig:
    """A MetricConfig naming the metric's class and module (custom or built-in).

    A custom metric's module is ``evaluation.metrics``, which TFMA imports
    wherever the Evaluator runs to find the class (TFMA's own metrics need
    none). It re-exports every class from the module of its family and is
    what the EvalConfigs of earlier runs name, so a config does not change
    with the file a class is written in. The threshold is restricted to the
    overall slice.
    """
    class_name = type(metric).__name__
    builtin = metric_types.is_registered_metric(class_name)
    config = tfma.MetricConfig(
        class_name=class_name,
        module="" if builtin else custom.__name__,
        config=json.dumps(metric.get_config(), sort_keys=True),
    )
    if threshold is not None:
        config.per_slice_thresholds.add(
            slicing_specs=[tfma.SlicingSpec()], threshold=threshold
        )
    return config


def _value_threshold(
    lower_bound: Optional[float] = None, upper_bound: Optional[float] = None
) -> Optional[tfma.MetricThreshold]:
    """A value threshold with the bounds given (inclusive, as TFMA's), or None."""
    threshold = tfma.MetricThreshold()
    if lower_bound is not None:
        threshold.value_threshold.lower_bound.value = lower_bound
    if upper_bound is not None:
        threshold.value_threshold.upper_bound.value = upper_bound
    return threshold if threshold.ByteSize() else None


def _auc_metrics(task: Task, thresholds: BlessingThresholds) -> List[tfma.MetricConfig]:
    """The task's (sketched) AUC and its chance p-value, with their blessing bounds.

    The p-value is computed for every task (one more figure from the same
    sketch) but bounds only the gated ones.
    """
    return [
        _metric_config(
            custom.HistogramAUC(),
            _value_threshold(lower_bound=thresholds.auc_lower_bound(task.name)),
        ),
        _metric_config(
            custom.AUCSkillTest(),
            _value_threshold(upper_bound=thresholds.skill_upper_bound(task.name)),
        ),
    ]


def _comparison_metric(
    thresholds: BlessingThresholds, spill_dir: str
) -> tfma.MetricConfig:
    """The paired comparison with the baseline; refused below the per-test alpha."""
    return _metric_config(
        custom.PairedAUCTest(margin=thresholds.auc_margin, spill_dir=spill_dir),
        _value_threshold(lower_bound=thresholds.regression_test_alpha()),
    )


def _task_metrics(
    task: Task, top_fractions: Sequence[float], ece_bins: int, spill_dir: str
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
        configs.append(
            _metric_config(
                custom.GroupAUC(group_key=features.USER_ID, spill_dir=spill_dir)
            )
        )
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
    spill_dir: str,
) -> List[tfma.MetricsSpec]:
    """One task's MetricsSpecs: all its metrics for the candidate; with a
    baseline, the paired comparison of the gated AUCs in a spec of its own.

    TFMA computes every metric of a spec for every model the spec names, each
    metric a Python pass over the examples and slices.  The baseline's own
    figures are read by nobody (its own evaluation, when it was the
    candidate, holds them): the paired metric reads its scores itself, so
    the baseline is named only in the comparison's spec.
    """
    candidate = _metrics_spec(
        task,
        _auc_metrics(task, thresholds)
        + _task_metrics(task, top_fractions, ece_bins, spill_dir),
        model_names=[tfma.CANDIDATE_KEY] if baseline else [],
    )
    if not (baseline and task.name in GATED_TASKS):
        return [candidate]
    comparison = _metrics_spec(
        task,
        [_comparison_metric(thresholds, spill_dir)],
        model_names=[tfma.CANDIDATE_KEY, tfma.BASELINE_KEY],
    )
    return [candidate, comparison]


def _model_spec(
    scored: Sequence[Task], name: str = "", is_baseline: bool = False
) -> tfma.ModelSpec:
    """serving_default with a label per output and the per-output population weights."""
    return tfma.ModelSpec(
        name=name,
        signature_name=features.SERVING_SIGNATURE,
        label_keys={t.output: t.label for t in scored},
        example_weight_keys={
            t.output: t.population for t in scored if t.weighted
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
    spill_dir: str = "",
) -> tfma.EvalConfig:
    """The Evaluator's EvalConfig for ``model_name`` (a ``models.registry`` name).

    Args:
        model_name: decides whether CTAVR is evaluated (ESM2 only).
        thresholds: blessing thresholds; defaults to ``BlessingThresholds()``.
        baseline: add a baseline ModelSpec (``is_baseline=True``) and, per
            gated AUC, a ``PairedAUCTest`` spec naming both models.  The
            models are then named ``tfma.CANDIDATE_KEY`` and
            ``tfma.BASELINE_KEY``, as TFX's Evaluator expects.  On a first
            run, with no blessed model, TFX's Evaluator (1.16) drops the
            baseline ModelSpec and renames every spec's models to the lone
            ''; the paired metric then stores p = 1
            (``metrics.NO_BASELINE_P_VALUE``), so its threshold holds and
            the skill floor alone decides.
        top_fractions: fractions for precision/recall/F1 at the top.
        ece_bins: number of equal-width bins of the ECE.
        spill_dir: where GAUC and the paired comparison spill each slice's
            rows, a directory every Beam worker reaches
            (``evaluation.spill``); empty for the local temporary directory.
    """
    thresholds = thresholds or BlessingThresholds()
    evaluated = evaluated_tasks(model_name)
    if baseline:
        model_specs = [
            _model_spec(evaluated, name=tfma.CANDIDATE_KEY),
            _model_spec(evaluated, name=tfma.BASELINE_KEY, is_baseline=True),
        ]
    else:
        model_specs = [_model_spec(evaluated)]
    metrics_specs = [
        spec
        for t in evaluated
        for spec in _task_metrics_specs(
            t, thresholds, baseline, top_fractions, ece_bins, spill_dir
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
def report_name(task: str, suffix: str) -> str:
    """A figure's report name, ``<task>_<suffix>``: ``cvr_auc``, ``ctr_ece``."""
    return f"{task}_{suffix}"


def task_of_output(output_name: str) -> Task:
    """The task that scores a model output (each output has one)."""
    (task,) = [t for t in TASKS if t.output == output_name]
    return task


# Report suffixes of the blessing's test figures (each the metric's own name).
AUC_SUFFIX = "auc"
CHANCE_P_VALUE_SUFFIX = custom.AUC_CHANCE_P_VALUE_NAME
# The comparison with the baseline, field -> report suffix (and metric name):
# ``cvr_auc_regression_p_value``, ``cvr_auc_change``, ``cvr_auc_change_se``,
# ``cvr_auc_change_ci_low``, ``cvr_auc_change_ci_high``.
COMPARISON_FIELDS: Dict[str, str] = {
    "p_value": custom.AUC_REGRESSION_P_VALUE_NAME,
    **dict(zip(("delta", "se", "ci_low", "ci_high"), custom.auc_change_names())),
}


def _task_key_names(task: Task, top_fractions: Sequence[float]) -> Dict[str, str]:
    """Report suffix -> TFMA metric name, for the candidate's metrics of a task."""
    bin_weight, bin_prediction, bin_rate = custom.ece_bin_names()
    names = {
        "example_count": EXAMPLE_COUNT_NAME,
        "positive_count": custom.POSITIVE_COUNT_NAME,
        AUC_SUFFIX: custom.AUC_NAME,
        CHANCE_P_VALUE_SUFFIX: custom.AUC_CHANCE_P_VALUE_NAME,
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


def _task_keys(
    task: Task, names: Dict[str, str], tfma_model_name: str
) -> Dict[str, tfma.metrics.MetricKey]:
    """Report name -> MetricKey of ``names`` (report suffix -> metric name)."""
    return {
        report_name(task.name, suffix): tfma.metrics.MetricKey(
            name=name,
            model_name=tfma_model_name,
            output_name=task.output,
            example_weighted=task.weighted,
        )
        for suffix, name in names.items()
    }


def metric_keys(
    model_name: str = "esm2",
    top_fractions: Sequence[float] = custom.DEFAULT_TOP_FRACTIONS,
    tfma_model_name: str = "",
) -> Dict[str, tfma.metrics.MetricKey]:
    """Report name (``<task>_<metric>``) -> MetricKey of ``build_eval_config``'s output.

    E.g. ``cvr_auc``, ``cvr_auc_chance_p_value``, ``ctcvr_gauc``,
    ``ctcvr_gauc_num_users``, ``cvr_precision_at_top_0_1pct``, ``ctr_ece``,
    ``ctr_ece_bin_observed_rate``, ``cvr_example_count`` (clicked
    impressions): the candidate's figures.  ``tfma_model_name`` is '' for a
    single-model evaluation, ``tfma.CANDIDATE_KEY`` with a baseline.  Pass
    the ``top_fractions`` given to ``build_eval_config``.  The comparison
    with the baseline has keys of its own (``comparison_keys``).
    """
    keys = {}
    for task in evaluated_tasks(model_name):
        keys.update(
            _task_keys(task, _task_key_names(task, top_fractions), tfma_model_name)
        )
    return keys


def comparison_keys(
    tfma_model_name: str = tfma.CANDIDATE_KEY,
) -> Dict[str, tfma.metrics.MetricKey]:
    """Report name -> MetricKey of the comparison figures (``COMPARISON_FIELDS``)
    of each gated AUC, as an evaluation with a baseline stores them: keyed by
    the candidate, e.g. ``cvr_auc_change`` and ``ctcvr_auc_regression_p_value``.
    """
    keys = {}
    for task in TASKS:
        if task.name in GATED_TASKS:
            names = {suffix: suffix for suffix in COMPARISON_FIELDS.values()}
            keys.update(_task_keys(task, names, tfma_model_name))
    return keys


# Every figure of an ESM2 evaluation with the default top fractions.
METRIC_KEYS: Dict[str, tfma.metrics.MetricKey] = metric_keys()
# The comparison with the baseline, when there is one.
COMPARISON_KEYS: Dict[str, tfma.metrics.MetricKey] = comparison_keys()

# The headline figures of shared/specs/evaluation.md (CTAVR: ESM2 only).
CTR_AUC = report_name(tasks.CTR.name, AUC_SUFFIX)
CTAVR_AUC = report_name(tasks.CTAVR.name, AUC_SUFFIX)
CVR_AUC = report_name(tasks.CVR.name, AUC_SUFFIX)
CTCVR_AUC = report_name(tasks.CTCVR.name, AUC_SUFFIX)
CTCVR_GAUC = report_name(tasks.CTCVR.name, "gauc")
HEADLINE_METRICS: Tuple[str, ...] = (CTR_AUC, CTAVR_AUC, CVR_AUC, CTCVR_AUC, CTCVR_GAUC)
