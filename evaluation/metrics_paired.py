"""The paired comparison with the baseline model: ``PairedAUCTest``.

The blessing's regression test: is the candidate's AUC worse than the
baseline's on the same examples? Unlike every other metric it reads two
models, and DeLong's test needs each example's place among the other
class under both models, which is known only once the whole slice is seen.
So its combiner keeps each example's (candidate, baseline, label, weight)
in ``evaluation.spill.SpilledRows`` (bounded memory, the rest in files) and
reads them twice at the end, a file at a time: once into a ``ScoreSketch``
per model, then for each example's structural components from those
sketches, summed into ``ranking.ComponentMoments``. Pairs within one of the
sketch's bins count as ties, as in the AUC (``HistogramAUC``); with no two
distinct scores in one bin the figures are the exact
``ranking.paired_auc_difference``'s, the tests' oracle.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Tuple

import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.utils import model_util

from evaluation import ranking
from evaluation.metrics_base import (
    _ExampleReader,
    _Figures,
    _KeyArgs,
    _per_key,
    _with_figures,
)
from evaluation.metrics_names import (
    AUC_CHANGE_NAME,
    AUC_REGRESSION_P_VALUE_NAME,
    auc_change_names,
)
from evaluation.sketch import ScoreSketch
from evaluation.spill import SpilledRows, SpillingCombineFn

# Private (a leading '_'): TFMA drops it from its output.
_PAIRED_DIFFERENCE_NAME = "_paired_auc_difference"


# --- Both models' scores, spilled, read twice --------------------------------
_ROW_WIDTH = 4  # candidate score, baseline score, label, weight


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


def _paired_difference(rows: SpilledRows) -> ranking.PairedAUCDifference:
    """DeLong's paired comparison of the two models' AUCs over the rows."""
    sketches = [ScoreSketch(), ScoreSketch()]
    for candidate, baseline, labels, weights in rows.by_file():
        sketches[0].absorb(ScoreSketch.of(candidate, labels, weights))
        sketches[1].absorb(ScoreSketch.of(baseline, labels, weights))
    positives = ranking.ComponentMoments.zeros(2)
    negatives = ranking.ComponentMoments.zeros(2)
    for *scores, labels, weights in rows.by_file():
        placed = [sketch.placements(s) for sketch, s in zip(sketches, scores)]
        positive, negative = ranking.class_masses(labels, weights)
        positives.add(np.stack([v10 for v10, _ in placed]), positive)
        negatives.add(np.stack([v01 for _, v01 in placed]), negative)
    return ranking.PairedAUCDifference.of(
        *ranking.delong_from_moments(positives, negatives)
    )


class _PairedCombiner(SpillingCombineFn):
    """The slice's paired comparison, from its rows spilled to ``spill_dir``."""

    def __init__(self, key: metric_types.MetricKey, read: _PairedRows, spill_dir: str):
        super().__init__(_ROW_WIDTH, grouped=False, spill_dir=spill_dir)
        self._key = key
        self._read = read

    def add_input(
        self, rows: SpilledRows, element: metric_types.StandardMetricInputs
    ) -> SpilledRows:
        for row in self._read(element):
            rows.add(row)
        return rows

    def extract_output(self, rows: SpilledRows) -> Dict[metric_types.MetricKey, Any]:
        difference = _paired_difference(rows)
        rows.delete()
        return {self._key: difference}


def _paired_difference_computation(
    args: _KeyArgs, baseline_model_name: str, spill_dir: str
) -> metric_types.MetricComputation:
    """The paired comparison of every slice, under a private key."""
    key = args.key(
        metric_util.generate_private_name_from_arguments(
            _PAIRED_DIFFERENCE_NAME,
            class_weights=args.class_weights,
            baseline=baseline_model_name,
        )
    )
    read = _PairedRows(args.reader(args.model_name), args.reader(baseline_model_name))
    return metric_types.MetricComputation(
        keys=[key], preprocessors=None, combiner=_PairedCombiner(key, read, spill_dir)
    )


# --- PairedAUCTest ----------------------------------------------------------
def _paired_auc_values(
    difference: ranking.PairedAUCDifference, margin: float
) -> List[float]:
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
    args: _KeyArgs, spill_dir: str = "", **config: Any
) -> metric_types.MetricComputations:
    """Per candidate model of the spec: the paired comparison and its figures.

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
    comparison = _paired_difference_computation(args, baseline.name, spill_dir)
    return _with_figures(comparison, args, spec)


class PairedAUCTest(metric_types.Metric):
    """Is the candidate's AUC worse than the baseline's, on the same examples?

    For each candidate model of the MetricsSpec (name the candidate and the
    baseline in ``model_names``), one combiner reads both models' scores of
    the output for every example with weight > 0, as TFMA's
    ``ModelCosineSimilarity`` does, and DeLong's paired test compares the
    two AUCs (module docstring: the sketch's bins, rows spilled to
    ``spill_dir``, empty for the local temporary directory).  The
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
        spill_dir: str = "",
    ):
        super().__init__(
            _per_key(_paired_auc_computations),
            name=name,
            change_name=change_name,
            margin=margin,
            spill_dir=spill_dir,
        )
