"""Each claim of shared/specs/evaluation.md ("ESM2 works"), with its verdict.

Each is judged as the spec states it, on the Evaluator's AUCs, and again on
the AUCs against the true probabilities, which a few hundred purchases cannot
blur; ``label_noise`` says how much the former can move.
"""

from __future__ import annotations

import statistics
from typing import Callable, Dict, List, Tuple

from evaluation import ranking

from .metrics import CLAIM_METRICS, FIGURE_7_BUCKETS
from .stats import (
    OverSeeds,
    Path,
    expected,
    gain,
    observed,
    over_seeds,
    truth,
    values,
)

# Table 3's ordering, as pairs (better, worse).
ORDERING = (("esm2", "esmm"), ("esmm", "dnn"))
# The verdict on a gap where a model has fewer than two seeds: there is no
# spread to beat, and a spread of 0 would let any positive gap hold.
ONE_SEED = "ONE SEED, NO SPREAD"


def verdict(holds: bool) -> str:
    """The verdict word that ends each claim's line."""
    return "HOLDS" if holds else "DOES NOT HOLD"


def beyond_spread(better: OverSeeds, worse: OverSeeds) -> Tuple[str, str]:
    """The seed spread a gap must exceed (as printed) and the verdict on it.

    The larger of the two models' spreads; not judged where either model has
    fewer than two seeds.
    """
    if better.spread is None or worse.spread is None:
        return "–", ONE_SEED
    spread = max(better.spread, worse.spread)
    return f"{spread:.4f}", verdict(better.mean - worse.mean > spread)


def ordering_claims(
    by_model: Dict[str, List[Dict]], reading: str, path_of: Callable[[str], Path]
) -> List[str]:
    """Table 3: ESM2 > ESMM > DNN, each gap larger than the seed spread (and
    not judged with one seed, which has none)."""
    found = []
    for k in CLAIM_METRICS:
        for better, worse in ORDERING:
            first, second = (
                over_seeds(by_model.get(m, []), path_of(k)) for m in (better, worse)
            )
            if not (first.seeds and second.seeds):
                continue  # a model that was not run, or a reading it lacks
            spread, judged = beyond_spread(first, second)
            found.append(
                f"{k} ({reading}): {better} {first.mean:.4f} > {worse} "
                f"{second.mean:.4f} by more than the seed spread ({spread}): {judged}"
            )
    return found


def figure_7_claims(
    by_model: Dict[str, List[Dict]],
    reading: str,
    path_of: Callable[[str, str], Path],
) -> List[str]:
    """Figure 7: ESM2's gain over ESMM no smaller for heavy buyers than light."""
    light, heavy = FIGURE_7_BUCKETS
    found = []
    for k in CLAIM_METRICS:
        low, high = gain(by_model, path_of(k, light)), gain(by_model, path_of(k, heavy))
        if low == low and high == high:
            found.append(
                f"{k} ({reading}): ESM2's gain over ESMM in {heavy} ({high:+.4f}) "
                f">= in {light} ({low:+.4f}) (Figure 7): {verdict(high >= low)}"
            )
    return found


def reading_claims(
    by_model: Dict[str, List[Dict]], reading: str, path_of: Callable[..., Path]
) -> List[str]:
    """Table 3's ordering and, where ESM2 and ESMM both ran, Figure 7, on one
    reading of the AUCs."""
    found = ordering_claims(by_model, reading, path_of)
    if by_model.get("esm2") and by_model.get("esmm"):
        found += figure_7_claims(by_model, reading, path_of)
    return found


def label_noise(by_model: Dict[str, List[Dict]]) -> List[str]:
    """How far one eval day's labels alone move each claimed AUC."""
    found = []
    runs = by_model.get("esm2") or next(iter(by_model.values()))
    for k in CLAIM_METRICS:
        task = k.split("_")[0]
        auc = over_seeds(runs, observed(k)).mean
        for bucket in (None, *FIGURE_7_BUCKETS):
            positives = observed(f"{task}_positive_count", bucket)(runs[0])
            examples = observed(f"{task}_example_count", bucket)(runs[0])
            if positives is None or examples is None:
                continue
            error = ranking.auc_standard_error(auc, positives, examples - positives)
            found.append(
                f"{k} on {bucket or 'all'} of the eval day: {positives:,.0f} purchases "
                f"among {examples:,.0f}; standard error of one model's AUC from "
                f"the label draw alone (Hanley-McNeil) ±{error:.4f}"
            )
    return found


def claims(by_model: Dict[str, List[Dict]]) -> List[str]:
    """The spec's "ESM2 works" criteria, each with its verdict."""
    found = reading_claims(by_model, "Evaluator", observed)
    fraction = values(by_model.get("esm2", []), truth("ctcvr_auc", "fraction"))
    if fraction:
        value = statistics.mean(fraction)
        found.append(
            f"ESM2 CTCVR AUC / oracle = {value:.3f} >= 0.95: {verdict(value >= 0.95)}"
        )
    found += label_noise(by_model)
    found += reading_claims(by_model, "without label noise", expected)
    return found
