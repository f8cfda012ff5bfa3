"""One figure of the saved runs, and its mean and spread over seeds.

A saved run is the dict ``running.run_one`` returns (and the .json keeps). A
``Path`` reads one figure from it, so that every table and every verdict
aggregates over seeds in the same way, and a figure that older runs lack reads
as missing instead of failing the whole report.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Callable, Dict, List, Optional, Tuple

Path = Callable[[Dict], Optional[float]]


def observed(metric: str, bucket: Optional[str] = None) -> Path:
    """A metric of the Evaluator (TFMA), overall or in one bucket."""

    def read(run: Dict) -> Optional[float]:
        slice_metrics = run["overall"] if bucket is None else run["buckets"][bucket]
        return slice_metrics.get(metric)

    return read


def truth(metric: str, field: str, bucket: Optional[str] = None) -> Path:
    """A figure of the GroundTruthEvaluator (see groundtruth.py): ``field`` is
    e.g. "model", "fraction" (model AUC / oracle AUC) or "expected_model"."""

    def read(run: Dict) -> Optional[float]:
        slices = (
            run["groundtruth"]
            if bucket is None
            else run.get("groundtruth_buckets", {}).get(bucket, {})
        )
        return slices.get(metric, {}).get(field)

    return read


def expected(
    metric: str, bucket: Optional[str] = None, field: str = "expected_model"
) -> Path:
    """A label-noise-free AUC of the GroundTruthEvaluator (see groundtruth.py).

    Runs saved before it existed have no such figure, and render as "–".
    """
    return truth(metric, field, bucket)


def values(runs_of_model: List[Dict], path: Path) -> List[float]:
    """The figure of each run that has it (missing and NaN figures dropped)."""
    found = (path(run) for run in runs_of_model)
    return [value for value in found if value is not None and value == value]


@dataclasses.dataclass(frozen=True)
class OverSeeds:
    """One figure over seeds: its mean, its spread and how many seeds had it.

    A spread needs two seeds. With one, ``spread`` is None rather than 0, so
    that no verdict takes a single seed's figure for one that cannot move.
    """

    mean: float  # NaN where no seed has the figure
    spread: Optional[float]  # sample standard deviation
    seeds: int


def over_seeds(runs_of_model: List[Dict], path: Path) -> OverSeeds:
    """The figure's mean and spread over the runs (one a seed) that have it."""
    found = values(runs_of_model, path)
    return OverSeeds(
        mean=statistics.mean(found) if found else float("nan"),
        spread=statistics.stdev(found) if len(found) > 1 else None,
        seeds=len(found),
    )


def mean_and_spread(runs_of_model: List[Dict], path: Path) -> Tuple[float, float]:
    """Mean and standard deviation over seeds, as the tables print them: NaN
    for both where no run has the figure, a spread of 0 with one seed."""
    figure = over_seeds(runs_of_model, path)
    if not figure.seeds:
        return float("nan"), float("nan")
    return figure.mean, 0.0 if figure.spread is None else figure.spread


def gain(by_model: Dict[str, List[Dict]], path: Path) -> float:
    """Mean over seeds of ESM2's figure minus ESMM's."""
    return (
        over_seeds(by_model.get("esm2", []), path).mean
        - over_seeds(by_model.get("esmm", []), path).mean
    )
