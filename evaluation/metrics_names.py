"""The key names the custom metrics write, and the helpers that spell them.

Kept apart from the metrics so that ``evaluation.eval_config`` (which maps
the report's names to these), ``evaluation.results`` and the report find
every name in one place; each metric module takes its default names from here.

Metric key names (``tfma.metrics.MetricKey.name``), per output:

- ``HistogramAUC``: ``histogram_auc``.
- ``GroupAUC``: ``gauc`` and ``gauc_num_users`` (groups that had both classes).
- ``TopKPrecisionRecall``: ``precision_at_top_0_1pct``, ``recall_at_top_0_1pct``,
  ``f1_at_top_0_1pct`` and likewise ``_0_6pct``, ``_1pct`` (see
  ``top_fraction_key_name``).
- ``ExpectedCalibrationError``: ``ece`` (a float) and ``ece_bin_weight``,
  ``ece_bin_mean_prediction``, ``ece_bin_observed_rate``: numpy arrays of
  ``num_bins`` values, stored by TFMA as ``MetricValue.array_value``
  (``evaluation.results`` reads them back as arrays).
- ``PositiveCount``: ``positive_count``, the weighted sum of labels.
- ``MeanCalibration``: ``mean_label``, ``mean_prediction`` and ``calibration``
  (mean prediction / mean label), named as TFMA's built-ins.
- ``AUCSkillTest``: ``auc_chance_p_value``, the p-value that the output
  ranks no better than chance (what the blessing's skill floor tests).
- ``PairedAUCTest`` (a MetricsSpec naming the candidate and the baseline):
  ``auc_regression_p_value``, the p-value that the candidate's AUC is worse
  than the baseline's, and ``auc_change``, ``auc_change_se``,
  ``auc_change_ci_low``, ``auc_change_ci_high`` (see ``auc_change_names``),
  keyed by the candidate's model name.
"""

from __future__ import annotations

from typing import Tuple

AUC_NAME = "histogram_auc"
GROUP_AUC_NAME = "gauc"
GROUP_AUC_NUM_GROUPS_SUFFIX = "_num_users"
TOP_FRACTION_NAME = "at_top"
DEFAULT_TOP_FRACTIONS: Tuple[float, ...] = (0.001, 0.006, 0.01)  # 0.1 %, 0.6 %, 1 %
PRECISION, RECALL, F1 = "precision", "recall", "f1"
TOP_FRACTION_KINDS: Tuple[str, ...] = (PRECISION, RECALL, F1)
ECE_NAME = "ece"
DEFAULT_ECE_BINS = 20
ECE_BIN_WEIGHT_SUFFIX = "_bin_weight"
ECE_BIN_MEAN_PREDICTION_SUFFIX = "_bin_mean_prediction"
ECE_BIN_OBSERVED_RATE_SUFFIX = "_bin_observed_rate"
POSITIVE_COUNT_NAME = "positive_count"
# TFMA's names for these figures, kept so that reports read the same.
MEAN_LABEL_NAME = "mean_label"
MEAN_PREDICTION_NAME = "mean_prediction"
CALIBRATION_NAME = "calibration"

AUC_CHANCE_P_VALUE_NAME = "auc_chance_p_value"
AUC_REGRESSION_P_VALUE_NAME = "auc_regression_p_value"
AUC_CHANGE_NAME = "auc_change"
AUC_CHANGE_SE_SUFFIX = "_se"
AUC_CHANGE_CI_LOW_SUFFIX = "_ci_low"
AUC_CHANGE_CI_HIGH_SUFFIX = "_ci_high"


def percent_label(fraction: float) -> str:
    """0.001 -> '0_1pct', 0.01 -> '1pct': a key-safe spelling of a fraction."""
    return f"{fraction * 100:g}".replace(".", "_") + "pct"


def top_fraction_key_name(
    kind: str, fraction: float, name: str = TOP_FRACTION_NAME
) -> str:
    """Key name of one TopKPrecisionRecall figure, e.g. 'precision_at_top_0_1pct'."""
    if kind not in TOP_FRACTION_KINDS:
        raise ValueError(f"kind must be one of {TOP_FRACTION_KINDS}, got {kind!r}")
    return f"{kind}_{name}_{percent_label(fraction)}"


def group_auc_count_name(name: str = GROUP_AUC_NAME) -> str:
    """Key name of the number of users (groups) that entered the GAUC."""
    return name + GROUP_AUC_NUM_GROUPS_SUFFIX


def auc_change_names(name: str = AUC_CHANGE_NAME) -> Tuple[str, str, str, str]:
    """Key names of the AUC change against the baseline: (change, its standard
    error, the low and high ends of its 95 % interval)."""
    return (
        name,
        name + AUC_CHANGE_SE_SUFFIX,
        name + AUC_CHANGE_CI_LOW_SUFFIX,
        name + AUC_CHANGE_CI_HIGH_SUFFIX,
    )


def ece_bin_names(name: str = ECE_NAME) -> Tuple[str, str, str]:
    """Key names of the per-bin arrays: (weight, mean prediction, observed rate)."""
    return (
        name + ECE_BIN_WEIGHT_SUFFIX,
        name + ECE_BIN_MEAN_PREDICTION_SUFFIX,
        name + ECE_BIN_OBSERVED_RATE_SUFFIX,
    )
