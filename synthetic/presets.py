"""Target funnel rates and the shape of the behaviour model.

The targets come from the ESM2 paper (Table 1 and section 3.1) for ``paper``
and are denser for ``dense`` so small demos still have purchases.  Only the
four logistic intercepts are fitted to the targets (``calibration.py``); the
weights below fix the *shape* of the process (which latent drives which
probability, and how strongly). ``paper`` and ``dense`` share them, so each is
a point on the same process; ``marketplace`` has weights of its own, a
differently shaped world for benchmarks.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Tuple

# Names of the logit components (see behaviour.py for how each is computed).
AFFINITY = "affinity"  # user taste . item vector, unit variance
ATTRACTIVENESS = "attractiveness"  # item latent, drives clicks only
CLICKBAIT = "clickbait"  # item latent: more clicks, fewer conversions
ACTIVITY = "activity"  # user latent, drives clicks only
BUYING = "buying"  # user buying propensity, amplified for heavy buyers
QUALITY = "quality"  # item (+ brand) latent, drives conversions
LOG_POSITION = "log_position"  # log(rank): top slots get clicks, not buyers
PRICE = "price"  # item price, standardised within its category
# Components that are a property of the item alone (its base rates).
ITEM_COMPONENTS: Tuple[str, ...] = (ATTRACTIVENESS, CLICKBAIT, QUALITY, PRICE)

# The four true probabilities of the behaviour graph.
Y_CLICK = "y1"  # P(click | impression)
Y_DACTION = "y2"  # P(DAction | click)
Y_BUY_DACTION = "y3"  # P(purchase | DAction)
Y_BUY_OACTION = "y4"  # P(purchase | OAction)
OUTPUTS: Tuple[str, ...] = (Y_CLICK, Y_DACTION, Y_BUY_DACTION, Y_BUY_OACTION)

# Selection bias lives in CLICKBAIT and LOG_POSITION: their weights have
# opposite signs for y1 and for y2..y4, so the clicked population is skewed
# toward impressions that convert worse than the entire space would.
DEFAULT_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    Y_CLICK: {
        AFFINITY: 0.8,
        ATTRACTIVENESS: 0.5,
        CLICKBAIT: 0.8,
        ACTIVITY: 0.4,
        LOG_POSITION: -0.5,
        PRICE: -0.25,
    },
    Y_DACTION: {
        AFFINITY: 0.5,
        BUYING: 0.4,
        QUALITY: 0.3,
        CLICKBAIT: -0.6,
        LOG_POSITION: 0.25,
        PRICE: -0.2,
    },
    Y_BUY_DACTION: {
        AFFINITY: 0.4,
        BUYING: 0.7,
        QUALITY: 0.6,
        CLICKBAIT: -0.6,
        LOG_POSITION: 0.2,
        PRICE: -0.3,
    },
    Y_BUY_OACTION: {
        AFFINITY: 0.4,
        BUYING: 0.7,
        QUALITY: 0.6,
        CLICKBAIT: -0.9,
        LOG_POSITION: 0.2,
        PRICE: -0.3,
    },
}


@dataclasses.dataclass(frozen=True)
class RateTargets:
    """The funnel rates a preset must reproduce (within 10 % relative).

    Attributes:
        click_rate: clicks / impressions.
        daction_rate: DAction / clicks.
        purchase_rate: purchases / clicks (the CVR).
        purchase_per_daction: purchases after a DAction / DAction.
    """

    click_rate: float
    daction_rate: float
    purchase_rate: float
    purchase_per_daction: float

    def oaction_purchase_rate(self) -> float:
        """Mean P(purchase | OAction) over clicks that the targets imply.

        purchases/clicks = daction_rate * purchase_per_daction
                           + (1 - daction_rate) * P(purchase | OAction),
        so the targets are only consistent when this is in (0, 1).
        """
        direct = self.purchase_rate - self.daction_rate * self.purchase_per_daction
        rate = direct / (1.0 - self.daction_rate)
        if not 0.0 < rate < 1.0:
            raise ValueError(
                f"inconsistent targets {self}: purchases/clicks must exceed "
                "DAction/clicks * purchases/DAction"
            )
        return rate

    def as_dict(self) -> Dict[str, float]:
        """Targets by name, for the summary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named point of the process: its targets and its logit weights."""

    name: str
    targets: RateTargets
    weights: Mapping[str, Mapping[str, float]] = dataclasses.field(
        default_factory=lambda: DEFAULT_WEIGHTS
    )


# A second world for benchmarks, so that no result rests on one generator's
# shape. It differs from DEFAULT_WEIGHTS in three ways real marketplace logs
# show: (1) the slot biases clicks only, not who converts after a click;
# (2) conversion is driven by the item (quality, price) more than by the
# user's buying propensity, and price cuts both ways (cheap items get
# clicks and convert); (3) a DAction says less about a purchase (wish lists
# are aspirational: purchases per DAction only ~2.5x the overall CVR, ~5.5x
# in ``paper``). Selection bias stays real through CLICKBAIT.
MARKETPLACE_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    Y_CLICK: {
        AFFINITY: 0.6,
        ATTRACTIVENESS: 0.7,
        CLICKBAIT: 0.6,
        ACTIVITY: 0.6,
        LOG_POSITION: -0.7,
        PRICE: -0.4,
    },
    Y_DACTION: {
        AFFINITY: 0.3,
        BUYING: 0.2,
        QUALITY: 0.5,
        CLICKBAIT: -0.4,
        PRICE: -0.4,
    },
    Y_BUY_DACTION: {
        AFFINITY: 0.3,
        BUYING: 0.3,
        QUALITY: 0.8,
        CLICKBAIT: -0.5,
        PRICE: -0.6,
    },
    Y_BUY_OACTION: {
        AFFINITY: 0.3,
        BUYING: 0.3,
        QUALITY: 0.8,
        CLICKBAIT: -0.7,
        PRICE: -0.6,
    },
}

PRESETS: Dict[str, Preset] = {
    "paper": Preset("paper", RateTargets(0.063, 0.12, 0.011, 0.06)),
    "dense": Preset("dense", RateTargets(0.15, 0.25, 0.05, 0.14)),
    "marketplace": Preset(
        "marketplace", RateTargets(0.045, 0.2, 0.015, 0.04), MARKETPLACE_WEIGHTS
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; the error lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; choose one of {sorted(PRESETS)}"
        ) from None
