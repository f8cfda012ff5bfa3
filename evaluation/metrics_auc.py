"""Ranking metrics: the AUC (eq. 12), its test against chance, the GAUC (eq. 13).

``HistogramAUC`` and ``AUCSkillTest`` derive from the shared score sketch of
``evaluation.metrics_base``; ``GroupAUC`` needs each user's examples
together, so it reads the examples gathered with their user instead.
"""

from __future__ import annotations

import functools
from typing import List

from evaluation import ranking
from evaluation.metrics_base import ScoredExamples, _Figures, _GatheredMetric
from evaluation.metrics_names import (
    AUC_CHANCE_P_VALUE_NAME,
    AUC_NAME,
    GROUP_AUC_NAME,
    group_auc_count_name,
)
from evaluation.sketch import ScoreSketch
from transform import features


# --- HistogramAUC -----------------------------------------------------------
def _auc_values(sketch: ScoreSketch) -> List[float]:
    return [sketch.auc()]


def _auc_figures(name: str = AUC_NAME) -> _Figures:
    return _Figures([name], _auc_values)


class HistogramAUC(_GatheredMetric):
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


class AUCSkillTest(_GatheredMetric):
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


# --- GroupAUC ---------------------------------------------------------------
def _group_auc_values(
    examples: ScoredExamples, weight_by_impressions: bool
) -> List[float]:
    result = ranking.group_auc(
        examples.scores,
        examples.labels,
        examples.groups,
        examples.weights,
        weight_by_impressions=weight_by_impressions,
    )
    return [result.gauc, result.num_groups]


def _group_auc_figures(
    name: str = GROUP_AUC_NAME,
    group_key: str = features.USER_ID,
    weight_by_impressions: bool = False,
) -> _Figures:
    return _Figures(
        [name, group_auc_count_name(name)],
        functools.partial(
            _group_auc_values, weight_by_impressions=weight_by_impressions
        ),
        group_key=group_key,
    )


class GroupAUC(_GatheredMetric):
    """GAUC (eq. 13): the mean per-user AUC over users with both classes.

    Each user's AUC is the exact AUC over that user's examples (example
    weights included); a user with one class only is left out.  Users weigh 1
    each (the paper's offline setting) or, with ``weight_by_impressions``, by
    their weighted number of examples.  Also reports ``<name>_num_users``, the
    number of users that counted.  The group is the raw feature ``group_key``
    (default ``features.USER_ID``), delivered by a FeaturePreprocessor.
    """

    def __init__(
        self,
        name: str = GROUP_AUC_NAME,
        group_key: str = features.USER_ID,
        weight_by_impressions: bool = False,
    ):
        super().__init__(
            _group_auc_figures,
            name=name,
            group_key=group_key,
            weight_by_impressions=weight_by_impressions,
        )
