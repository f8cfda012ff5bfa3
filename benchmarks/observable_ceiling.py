"""How close to the oracle can a model of the logs get? A ceiling from the generator.

    .venv/bin/python benchmarks/observable_ceiling.py --impressions 600000

The oracle scores with the true probabilities, which depend on latents the
logs never show: the user's taste vector against the item's, the user's
activity, the exact buying propensity. This script draws impressions from the
generator and scores them with the true logistic process after replacing each
hidden user latent, in turn, by its best linear estimate from the columns the
logs do carry (``user_item_pref`` for the taste affinity, ``user_power`` and
``user_purchase_count`` for the buying propensity, nothing for activity).
Item latents are first kept exact, as if every item had been seen often
enough to learn its embedding (an optimistic ceiling for a model of the logs),
then replaced by their estimates from the item's logged history CTR/CVR, the
ceiling of a model that learns nothing from the item id.
Each row gives CTR, CVR (clicked impressions) and CTCVR AUC and the CTCVR AUC
as a fraction of the oracle's.
"""

from __future__ import annotations

import argparse
from typing import Dict, List, Mapping, Tuple

import numpy as np
from sklearn.metrics import roc_auc_score

from synthetic import behaviour, presets
from synthetic.config import GeneratorConfig
from synthetic.world import World, build_world

Components = Dict[str, np.ndarray]


def linear_estimate(target: np.ndarray, observed: List[np.ndarray]) -> np.ndarray:
    """Least-squares prediction of ``target`` from ``observed`` and a constant."""
    design = np.column_stack([np.ones(len(target))] + observed)
    beta, *_ = np.linalg.lstsq(design, target, rcond=None)
    return design @ beta


def aucs(
    world: World, components: Mapping[str, np.ndarray], outcomes: behaviour.Outcomes
) -> Tuple[float, float, float]:
    """CTR, CVR (clicked only) and CTCVR AUC of the process with these components."""
    logits = behaviour.linear_logits(components, world.weights)
    probs = {
        out: behaviour.sigmoid(logits[out] + world.intercepts[out])
        for out in presets.OUTPUTS
    }
    pcvr = behaviour.conversion_probability(probs)
    clicked = outcomes.click
    return (
        roc_auc_score(outcomes.click, probs[presets.Y_CLICK]),
        roc_auc_score(outcomes.purchase[clicked], pcvr[clicked]),
        roc_auc_score(outcomes.purchase, probs[presets.Y_CLICK] * pcvr),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--impressions", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = GeneratorConfig(preset=args.preset, seed=args.seed, progress=False)
    world = build_world(config)
    rng = np.random.default_rng([args.seed, 97])
    draw = behaviour.draw_impressions(
        world.entities, args.impressions, config.max_position, rng
    )
    truth = behaviour.probabilities(draw, world.weights, world.intercepts)
    outcomes = behaviour.sample_outcomes(truth, rng)
    users = world.entities.users

    estimates = [
        (
            "taste affinity from user_item_pref",
            presets.AFFINITY,
            linear_estimate(
                draw.components[presets.AFFINITY], [_logit(draw.user_item_pref)]
            ),
        ),
        (
            "buying propensity from user_power, user_purchase_count",
            presets.BUYING,
            linear_estimate(
                draw.components[presets.BUYING],
                [
                    users.power[draw.user].astype(float),
                    np.log1p(users.purchase_count[draw.user]),
                ],
            ),
        ),
        (
            "activity unknown (its mean)",
            presets.ACTIVITY,
            np.full(len(draw), draw.components[presets.ACTIVITY].mean()),
        ),
    ]
    item_history = [
        _logit(world.item_hist_ctr[draw.item]),
        _logit(world.item_hist_cvr[draw.item]),
    ]
    for name in (presets.ATTRACTIVENESS, presets.CLICKBAIT, presets.QUALITY):
        estimates.append(
            (
                f"item {name} from item_hist_ctr/cvr (no ID learned)",
                name,
                linear_estimate(draw.components[name], item_history),
            )
        )
    components: Components = dict(draw.components)
    oracle = aucs(world, components, outcomes)
    print(
        f"{args.preset} preset, {args.impressions:,} impressions, "
        f"{int(outcomes.click.sum()):,} clicks, "
        f"{int(outcomes.purchase.sum()):,} purchases"
    )
    print(f"{'scores':<62} {'CTR':>7} {'CVR':>7} {'CTCVR':>7} {'/oracle':>8}")
    print(f"{'oracle (true probabilities)':<62} " + _row(oracle, oracle[2]))
    for label, name, estimate in estimates:
        components[name] = estimate
        print(
            f"{'+ ' + label:<62} " + _row(aucs(world, components, outcomes), oracle[2])
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _row(values: Tuple[float, float, float], oracle_ctcvr: float) -> str:
    return " ".join(f"{v:7.4f}" for v in values) + f" {values[2] / oracle_ctcvr:8.3f}"


if __name__ == "__main__":
    main()
