"""Fit the four logistic intercepts to a preset's target rates.

The rates are ratios of expectations over the impression process, e.g.
DAction/clicks = E[y1*y2] / E[y1].  Each intercept moves exactly one of them
monotonically once the earlier ones are fixed, so the four are solved in
order by bisection on a calibration sample drawn from the same process
(deterministic from the seed).  Using expected values rather than sampled
labels keeps the sample noise down to the impression mix itself.  Nothing is
tuned to a particular seed: every seed gets its own fit.
"""

from __future__ import annotations

from typing import Dict, Mapping

import numpy as np

from synthetic import presets
from synthetic.behaviour import sigmoid
from synthetic.presets import RateTargets

BISECTION_BOUND = 30.0  # |intercept| never needs to exceed this
BISECTION_STEPS = 45  # 60 / 2**45: far below any rate's precision


def solve_intercept(logit: np.ndarray, weights: np.ndarray, target: float) -> float:
    """Intercept b with weighted mean of sigmoid(b + logit) equal to target."""
    low, high = -BISECTION_BOUND, BISECTION_BOUND
    total = weights.sum()
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        mean = float(np.dot(weights, sigmoid(middle + logit)) / total)
        if mean < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def fit_intercepts(
    logits: Mapping[str, np.ndarray], targets: RateTargets
) -> Dict[str, float]:
    """The four intercepts that put the expected rates on the targets.

    Order matters: y1 alone sets clicks/impressions; given y1, y2 sets
    DAction/clicks; given both, y3 sets purchases/DAction, and y4 then sets
    purchases/clicks through P(purchase | OAction) on non-DAction clicks.
    """
    ones = np.ones_like(logits[presets.Y_CLICK])
    b1 = solve_intercept(logits[presets.Y_CLICK], ones, targets.click_rate)
    y1 = sigmoid(b1 + logits[presets.Y_CLICK])
    b2 = solve_intercept(logits[presets.Y_DACTION], y1, targets.daction_rate)
    y2 = sigmoid(b2 + logits[presets.Y_DACTION])
    b3 = solve_intercept(
        logits[presets.Y_BUY_DACTION], y1 * y2, targets.purchase_per_daction
    )
    b4 = solve_intercept(
        logits[presets.Y_BUY_OACTION], y1 * (1.0 - y2), targets.oaction_purchase_rate()
    )
    return {
        presets.Y_CLICK: b1,
        presets.Y_DACTION: b2,
        presets.Y_BUY_DACTION: b3,
        presets.Y_BUY_OACTION: b4,
    }
