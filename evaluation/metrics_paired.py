"""The paired comparison with the baseline model: ``PairedAUCTest``.

The blessing's regression test: is the candidate's AUC worse than the
baseline's on the same examples? Unlike every other metric it reads two
models, so it has its own gather of both models' scores of each example
(candidate, baseline, label, weight), about 32 bytes per example, on the
gathering machinery of ``evaluation.metrics_base``.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import model_util

from evaluation import ranking
from evaluation.metrics_base import (
    _ExampleReader,
    _Figures,
    _gather_computation,
    _KeyArgs,
    _per_key,
    _with_figures,
)
from evaluation.metrics_names import (
    AUC_CHANGE_NAME,
    AUC_REGRESSION_P_VALUE_NAME,
    auc_change_names,
)

# Private (a leading '_'): TFMA drops it from its output.
_PAIRED_EXAMPLES_NAME = "_paired_examples"


# --- Gathering both models' scores ------------------------------------------
class PairedExamples:
    """Both models' scores of a slice's examples with weight > 0, row by row.

    Attributes: ``candidate``, ``baseline`` (the two models' scores of the
    same output), ``labels``, ``weights`` (float64 arrays).
    """

    __slots__ = ("candidate", "baseline", "labels", "weights")
    WIDTH = 4  # candidate score, baseline score, label, weight

    def __init__(
        self,
        candidate: np.ndarray,
        baseline: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray,
    ):
        self.candidate = candidate
        self.baseline = baseline
        self.labels = labels
        self.weights = weights

    @classmethod
    def from_columns(
        cls, columns: List[np.ndarray], groups: Optional[np.ndarray] = None
    ):
        """From the gathered columns; pairs are never grouped."""
        del groups
        return cls(*columns)

    def __len__(self) -> int:
        return len(self.labels)


class _PairedRows:
    """(candidate score, baseline score, label, weight), weight > 0.

    Label and weight are the candidate's: both ModelSpecs of the EvalConfig
    name the same label and example-weight keys.
    """

    def __init__(self, candidate: _ExampleReader, baseline: _ExampleReader):
        self._candidate = candidate
        self._baseline = baseline

    def __call__(
        self, element: metric_types.StandardMetricInputs
    ) -> List[Tuple[float, ...]]:
        return [
            (p, baseline, label, w)
            for (label, p, w), (_, baseline, _) in zip(
                self._candidate(element), self._baseline(element)
            )
            if w > 0.0
        ]


def _paired_examples_computation(
    args: _KeyArgs, baseline_model_name: str
) -> metric_types.MetricComputation:
    """The gather of both models' scores of every example."""
    read = _PairedRows(args.reader(args.model_name), args.reader(baseline_model_name))
    return _gather_computation(
        args, read, PairedExamples, _PAIRED_EXAMPLES_NAME, baseline=baseline_model_name
    )


# --- PairedAUCTest ----------------------------------------------------------
def _paired_auc_values(examples: PairedExamples, margin: float) -> List[float]:
    difference = ranking.paired_auc_difference(
        examples.candidate, examples.baseline, examples.labels, examples.weights
    )
    return [
        difference.regression_p_value(margin),
        difference.delta,
        difference.standard_error,
        *difference.interval(),
    ]


def _paired_auc_figures(
    name: str = AUC_REGRESSION_P_VALUE_NAME,
    change_name: str = AUC_CHANGE_NAME,
    margin: float = 0.0,
) -> _Figures:
    if margin < 0.0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    return _Figures(
        [name, *auc_change_names(change_name)],
        functools.partial(_paired_auc_values, margin=float(margin)),
    )


# The p-value stored when the EvalConfig has no baseline: nothing to fall behind.
NO_BASELINE_P_VALUE = 1.0


def _no_baseline_computation(
    key: metric_types.MetricKey,
) -> metric_types.MetricComputations:
    """The p-value alone, 1: TFX's Evaluator drops the baseline ModelSpec on a
    first run, yet a threshold on a metric that is not computed fails the
    validation ("Metric not found")."""

    def result(
        metrics: Dict[metric_types.MetricKey, Any],
    ) -> Dict[metric_types.MetricKey, Any]:
        del metrics  # no inputs: the same value for every slice
        return {key: NO_BASELINE_P_VALUE}

    return [metric_types.DerivedMetricComputation(keys=[key], result=result)]


def _paired_auc_computations(
    args: _KeyArgs, **config: Any
) -> metric_types.MetricComputations:
    """Per candidate model of the spec: the paired gather and its figures.

    Nothing for the baseline itself (its keys would compare it with itself);
    the p-value alone when the EvalConfig has no baseline.
    """
    spec = _paired_auc_figures(**config)
    eval_config = args.eval_config
    baseline = model_util.get_baseline_model_spec(eval_config) if eval_config else None
    if baseline is None:
        return _no_baseline_computation(args.key(spec.names[0]))
    if args.model_name == baseline.name:
        return []
    return _with_figures(_paired_examples_computation(args, baseline.name), args, spec)


class PairedAUCTest(metric_types.Metric):
    """Is the candidate's AUC worse than the baseline's, on the same examples?

    For each candidate model of the MetricsSpec (name the candidate and the
    baseline in ``model_names``), one combiner reads both models' scores of
    the output for every example with weight > 0, as TFMA's
    ``ModelCosineSimilarity`` does, and DeLong's paired test
    (``ranking.paired_auc_difference``) compares the two exact AUCs.  The
    figures, keyed by the candidate's model name (not as a diff, so that a
    value threshold applies to them):

    - ``name`` (``auc_regression_p_value``): the one-sided p-value that the
      candidate is worse than the baseline by more than ``margin``
      (non-inferiority: p = Phi((change + margin) / SE)); small means
      significantly worse, a tie gets 0.5 with margin 0.
    - ``change_name`` (``auc_change``) and ``_se``, ``_ci_low``,
      ``_ci_high``: the AUC change (candidate - baseline), its standard
      error and 95 % interval.

    Pairing is what makes the test sharp: the two models' AUCs share the eval
    draw, whose noise (about +-0.02 on a day) mostly cancels in their
    difference.  Without a baseline ModelSpec (a first run) only the p-value
    is stored, as ``NO_BASELINE_P_VALUE``.
    """

    def __init__(
        self,
        name: str = AUC_REGRESSION_P_VALUE_NAME,
        change_name: str = AUC_CHANGE_NAME,
        margin: float = 0.0,
    ):
        super().__init__(
            _per_key(_paired_auc_computations),
            name=name,
            change_name=change_name,
            margin=margin,
        )
