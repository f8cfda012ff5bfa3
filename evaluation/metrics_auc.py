"""Ranking metrics: the AUC (eq. 12) and its test against chance.

Both derive from the shared score sketch of ``evaluation.metrics_base``.
The GAUC (eq. 13) needs each user's examples together: it is in
``evaluation.metrics_group_auc``.
"""

from __future__ import annotations

from typing import List

from evaluation.metrics_base import _Figures, _SketchedMetric
from evaluation.metrics_names import (
    AUC_CHANCE_P_VALUE_NAME,
    AUC_NAME,
)
from evaluation.sketch import ScoreSketch


# --- HistogramAUC -----------------------------------------------------------
def _auc_values(sketch: ScoreSketch) -> List[float]:
    return [sketch.auc()]


def _auc_figures(name: str = AUC_NAME) -> _Figures:
    return _Figures([name], _auc_values)


class HistogramAUC(_SketchedMetric):
    """ROC AUC (eq. 12) from fine histograms of the score's logit.

    Pairs within one of the sketch's bins (0.002 wide in logit) count as
    ties, 1/2; every other pair is ordered exactly, so on the benchmark's
    eval days it is within 1e-4 of the exact rank AUC (``ranking.exact_auc``,
    kept as the test oracle), CTCVR scores of 1e-4 included, where TFMA's
    thresholds over [0, 1] tie nearly every pair. The histograms merge
    across workers in bounded memory (``evaluation.sketch``). NaN when the
    slice lacks one of the classes.
    """

    def __init__(self, name: str = AUC_NAME):
        super().__init__(_auc_figures, name=name)


# --- AUCSkillTest -----------------------------------------------------------
def _auc_skill_values(sketch: ScoreSketch) -> List[float]:
    return [sketch.skill_p_value()]


def _auc_skill_figures(name: str = AUC_CHANCE_P_VALUE_NAME) -> _Figures:
    return _Figures([name], _auc_skill_values)


class AUCSkillTest(_SketchedMetric):
    """One-sided p-value that the output ranks no better than chance.

    The Mann-Whitney test of the ``HistogramAUC`` in its normal approximation
    (``ranking.auc_chance_p_value``), with the class masses as sample sizes:
    a small p says the AUC is above 0.5 by more than one eval draw's noise.
    A floor on the AUC itself cannot say that: a no-skill model's AUC is
    0.5, give or take that noise.  A constant score gets p = 0.5; NaN when
    the slice lacks a class.  Derived from the AUC's sketch.
    """

    def __init__(self, name: str = AUC_CHANCE_P_VALUE_NAME):
        super().__init__(_auc_skill_figures, name=name)
