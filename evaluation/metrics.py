"""Custom TFMA metrics for the paper's figures: AUC, GAUC, top-k, calibration.

TFMA's built-in AUC bins predictions into equal-width buckets over [0, 1]
(10,000 by default), and CTCVR scores live far below the first bucket edge
(1e-4): every example of a well-calibrated CTCVR model can land in the same
bucket, where the built-in AUC counts every positive/negative pair as a tie.
Measured on a small trained ESM2 (3,000 eval impressions): binned into those
buckets, CTCVR AUC reads 0.633 against an exact 0.717 and CVR AUC 0.684
against 0.732 (tests/test_evaluation_metrics.py).

The metrics are written one family to a module; this module re-exports them
so that the rest of the code imports ``evaluation.metrics`` alone, and it is
the module every custom metric's ``MetricConfig`` names
(``evaluation.eval_config``): TFMA imports it to find the classes wherever
the Evaluator runs, EvalConfigs saved by earlier runs included.

- ``evaluation.metrics_names``: the key names the metrics write, metric by
  metric, and the helpers that spell them.
- ``evaluation.metrics_base``: what they share: reading TFMA's inputs as
  (label, prediction, weight), the per-slice score sketch, and the
  computations built per metric key.
- ``evaluation.metrics_auc``: ``HistogramAUC``, ``AUCSkillTest``.
- ``evaluation.metrics_group_auc``: ``GroupAUC``, whose rows spill to files
  by user so that its memory does not grow with the eval set.
- ``evaluation.metrics_top_fraction``: ``TopKPrecisionRecall``.
- ``evaluation.metrics_calibration``: ``ExpectedCalibrationError``,
  ``PositiveCount``, ``MeanCalibration``.
- ``evaluation.metrics_paired``: ``PairedAUCTest``, the candidate against
  the baseline model on the same examples.
- ``evaluation.spill``: the rows GAUC and the paired test need, in bounded
  memory (the rest in files).

The private names re-exported here are the ones the tests call.
"""

from __future__ import annotations

from evaluation.metrics_auc import (  # noqa: F401  (re-exported)
    AUCSkillTest,
    HistogramAUC,
)
from evaluation.metrics_base import (  # noqa: F401  (re-exported)
    _KeyArgs,
    _score_sketch_computation,
)
from evaluation.metrics_calibration import (  # noqa: F401  (re-exported)
    ExpectedCalibrationError,
    MeanCalibration,
    PositiveCount,
    _mean_calibration_values,
)
from evaluation.metrics_group_auc import (  # noqa: F401  (re-exported)
    GroupAUC,
    _group_value,
    group_hash,
)
from evaluation.metrics_names import (  # noqa: F401  (re-exported)
    AUC_CHANCE_P_VALUE_NAME,
    AUC_CHANGE_CI_HIGH_SUFFIX,
    AUC_CHANGE_CI_LOW_SUFFIX,
    AUC_CHANGE_NAME,
    AUC_CHANGE_SE_SUFFIX,
    AUC_NAME,
    AUC_REGRESSION_P_VALUE_NAME,
    CALIBRATION_NAME,
    DEFAULT_ECE_BINS,
    DEFAULT_TOP_FRACTIONS,
    ECE_BIN_MEAN_PREDICTION_SUFFIX,
    ECE_BIN_OBSERVED_RATE_SUFFIX,
    ECE_BIN_WEIGHT_SUFFIX,
    ECE_NAME,
    F1,
    GROUP_AUC_NAME,
    GROUP_AUC_NUM_GROUPS_SUFFIX,
    MEAN_LABEL_NAME,
    MEAN_PREDICTION_NAME,
    POSITIVE_COUNT_NAME,
    PRECISION,
    RECALL,
    TOP_FRACTION_KINDS,
    TOP_FRACTION_NAME,
    auc_change_names,
    ece_bin_names,
    group_auc_count_name,
    percent_label,
    top_fraction_key_name,
)
from evaluation.metrics_paired import (  # noqa: F401  (re-exported)
    NO_BASELINE_P_VALUE,
    PairedAUCTest,
)
from evaluation.metrics_top_fraction import (  # noqa: F401  (re-exported)
    TopKPrecisionRecall,
)
