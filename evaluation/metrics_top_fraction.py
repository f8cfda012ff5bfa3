"""Top-fraction metrics: precision, recall and F1 at the top of the ranking.

The paper's offline figures (eqs. 14-16): with the top fraction q of scores
(0.1 %, 0.6 % and 1 % by default) called positive, how many of them are
positives and how many positives they catch. Derived from the shared score
sketch of ``evaluation.metrics_base``.
"""

from __future__ import annotations

import functools
from typing import List, Sequence

from evaluation import ranking
from evaluation.metrics_base import _Figures, _SketchedMetric
from evaluation.metrics_names import (
    DEFAULT_TOP_FRACTIONS,
    TOP_FRACTION_KINDS,
    TOP_FRACTION_NAME,
    top_fraction_key_name,
)
from evaluation.sketch import ScoreSketch


def _top_fraction_values(
    sketch: ScoreSketch, fractions: Sequence[float]
) -> List[float]:
    return [
        value
        for r in sketch.top_fractions(fractions)
        for value in (r.precision, r.recall, r.f1)
    ]


def _top_fraction_figures(
    name: str = TOP_FRACTION_NAME,
    fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS,
) -> _Figures:
    fractions = tuple(float(f) for f in fractions)
    for fraction in fractions:
        ranking.top_fraction_cutoff(fraction, 0)  # validates the fraction
    names = [
        top_fraction_key_name(kind, fraction, name)
        for fraction in fractions
        for kind in TOP_FRACTION_KINDS
    ]
    return _Figures(names, functools.partial(_top_fraction_values, fractions=fractions))


class TopKPrecisionRecall(_SketchedMetric):
    """Precision, recall and F1 when the top fraction q of scores is called positive.

    Population: the slice's examples with weight > 0 (so CVR, weighted by
    click, ranks clicked impressions only).  With n examples, the top
    ``ceil(q * n)`` by score are predicted positive (at least one; q * n is
    rounded to 1e-9 first so float noise cannot add an example).  Examples
    in the sketch's bin of the last one called positive share the remaining
    slots equally, as tied scores do in the exact computation
    (``ranking.top_fraction_precision_recall``, the test oracle): each
    counts for (slots left) / (examples in the bin).  Deterministic whatever
    order the runner delivers examples in.  See ``ScoreSketch.top_fractions``.
    """

    def __init__(
        self,
        name: str = TOP_FRACTION_NAME,
        fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS,
    ):
        super().__init__(
            _top_fraction_figures,
            name=name,
            fractions=[float(f) for f in fractions],
        )
