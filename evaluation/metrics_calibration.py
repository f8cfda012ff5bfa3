"""Calibration metrics: ECE, the positive count, the mean label and prediction.

How far the predicted probabilities are from the observed rates, per bin
and on average, and the class balance each slice's figures rest on. All
derive from the shared score sketch of ``evaluation.metrics_base``, so none
reads the examples again with a combiner of its own.
"""

from __future__ import annotations

import functools
from typing import Any, List

import numpy as np

from evaluation.metrics_base import _Figures, _SketchedMetric
from evaluation.metrics_names import (
    CALIBRATION_NAME,
    DEFAULT_ECE_BINS,
    ECE_NAME,
    MEAN_LABEL_NAME,
    MEAN_PREDICTION_NAME,
    POSITIVE_COUNT_NAME,
    ece_bin_names,
)
from evaluation.sketch import POSITIVE, SCORE_SUM, WEIGHT, ScoreSketch


# --- ExpectedCalibrationError -----------------------------------------------
def _ece_values(sketch: ScoreSketch, num_bins: int) -> List[Any]:
    bins = sketch.calibration(num_bins)
    return [
        bins.expected_calibration_error(),
        bins.weight,
        bins.mean_prediction,
        bins.observed_rate,
    ]


def _ece_figures(name: str = ECE_NAME, num_bins: int = DEFAULT_ECE_BINS) -> _Figures:
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    return _Figures(
        [name, *ece_bin_names(name)], functools.partial(_ece_values, num_bins=num_bins)
    )


class ExpectedCalibrationError(_SketchedMetric):
    """ECE over ``num_bins`` equal-width bins of the prediction in [0, 1].

    ECE = sum_b (n_b / N) * |mean_pred_b - mean_label_b|, with n_b the
    (weighted) number of examples whose prediction falls in bin b =
    [b/B, (b+1)/B) (the last bin includes 1.0) and N = sum_b n_b.  Also emits
    the reliability diagram as three arrays of ``num_bins`` values:
    ``<name>_bin_weight`` (n_b), ``<name>_bin_mean_prediction`` and
    ``<name>_bin_observed_rate`` (NaN for empty bins).  Predictions outside
    [0, 1] join the end bins, as in TFMA's calibration histogram.  Derived
    from the AUC's sketch (``ScoreSketch.calibration``; the exact
    ``ranking.binned_calibration`` is the test oracle).
    """

    def __init__(self, name: str = ECE_NAME, num_bins: int = DEFAULT_ECE_BINS):
        super().__init__(
            _ece_figures,
            name=name,
            num_bins=num_bins,
        )


# --- PositiveCount ----------------------------------------------------------
def _positive_count_values(sketch: ScoreSketch) -> List[float]:
    """Sum of weight * label; examples of weight 0 add nothing either way."""
    return [sketch.total(POSITIVE)]


# Derived from the sketch that the AUC and top-k already build: a combiner of
# its own re-read every example's label, score and weight through TFMA, 15 %
# of the Evaluator's time in a profile.
def _positive_count_figures(name: str = POSITIVE_COUNT_NAME) -> _Figures:
    return _Figures([name], _positive_count_values)


class PositiveCount(_SketchedMetric):
    """The (weighted) number of positive labels: purchases, clicks, DActions.

    Next to TFMA's ``ExampleCount`` it gives the class balance of each slice,
    which the report needs to judge how noisy a slice's AUC is.
    """

    def __init__(self, name: str = POSITIVE_COUNT_NAME):
        super().__init__(_positive_count_figures, name=name)


# --- MeanCalibration --------------------------------------------------------
def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is (close to) 0 as in TFMA."""
    return float("nan") if np.isclose(denominator, 0.0) else numerator / denominator


def _mean_calibration_values(sketch: ScoreSketch) -> List[float]:
    total = sketch.total(WEIGHT)
    label_sum = sketch.total(POSITIVE)
    prediction_sum = sketch.total(SCORE_SUM)
    return [
        _ratio(label_sum, total),
        _ratio(prediction_sum, total),
        _ratio(prediction_sum, label_sum),
    ]


def _mean_calibration_figures(
    mean_label_name: str = MEAN_LABEL_NAME,
    mean_prediction_name: str = MEAN_PREDICTION_NAME,
    calibration_name: str = CALIBRATION_NAME,
) -> _Figures:
    return _Figures(
        [mean_label_name, mean_prediction_name, calibration_name],
        _mean_calibration_values,
    )


class MeanCalibration(_SketchedMetric):
    """Mean label, mean prediction and their ratio, as TFMA defines them.

    ``mean_label`` = sum(w * label) / sum(w), ``mean_prediction`` =
    sum(w * prediction) / sum(w) and ``calibration`` = sum(w * prediction) /
    sum(w * label) (1 is calibrated on average), NaN where the denominator is
    0.  The same figures as TFMA's ``MeanLabel``, ``MeanPrediction`` and
    ``Calibration``, derived from the AUC's sketch (exact sums) instead of a
    combiner that reads every example again.
    """

    def __init__(
        self,
        mean_label_name: str = MEAN_LABEL_NAME,
        mean_prediction_name: str = MEAN_PREDICTION_NAME,
        calibration_name: str = CALIBRATION_NAME,
    ):
        super().__init__(
            _mean_calibration_figures,
            mean_label_name=mean_label_name,
            mean_prediction_name=mean_prediction_name,
            calibration_name=calibration_name,
        )
