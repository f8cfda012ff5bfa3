"""What a run produced: counts, rates vs targets, injected bad rows, speed.

``Tally`` accumulates per chunk in constant memory; ``GenerationSummary`` is
the frozen result, printed by the CLI and written as
``<out>/generation_summary.json`` so tests and the pipeline's data-quality
checks can compare their own counts with what was generated.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping

import numpy as np

from synthetic import presets
from synthetic.behaviour import Outcomes, conversion_probability
from synthetic.config import GeneratorConfig
from synthetic.events import EVENT_NAMES, EventRows
from transform import features

SUMMARY_FILE = "generation_summary.json"


@dataclasses.dataclass(frozen=True)
class RateCheck:
    """One funnel rate as generated, its target and the relative error."""

    name: str
    value: float
    target: float

    @property
    def relative_error(self) -> float:
        """|value - target| / target."""
        return abs(self.value - self.target) / self.target

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict including the relative error."""
        return {**dataclasses.asdict(self), "relative_error": self.relative_error}


@dataclasses.dataclass(frozen=True)
class GenerationSummary:
    """Counts and rates of a run; rates are over clean impressions only."""

    output_dir: str
    config: Dict[str, Any]
    impressions: int
    clicks: int
    dactions: int
    purchases: int
    purchases_after_daction: int
    events_by_type: Dict[str, int]
    bucket_shares: Dict[str, float]
    injected: Dict[str, int]
    injected_event_rows: int
    impression_rows_written: int
    event_rows_written: int
    rates: List[RateCheck]
    entire_space_cvr: float  # mean true P(purchase | click) over impressions
    clicked_cvr: float  # the same over clicked impressions only
    partitions: Dict[str, List[str]]
    elapsed_seconds: float

    @property
    def impressions_per_second(self) -> float:
        """Clean impressions generated per second of wall time."""
        return self.impressions / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (rates with their relative errors)."""
        data = dataclasses.asdict(self)
        data["rates"] = [r.to_dict() for r in self.rates]
        data["impressions_per_second"] = self.impressions_per_second
        return data

    def write_json(self, path: Path) -> None:
        """Write ``to_dict()`` as indented JSON."""
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )

    def format(self) -> str:
        """A readable multi-line table of the run."""
        lines = [
            f"synthetic logs -> {self.output_dir} "
            f"(preset {self.config['preset']}, seed {self.config['seed']}, "
            f"{self.config['file_format']})",
            f"impressions {self.impressions:,}  clicks {self.clicks:,}  "
            f"dactions {self.dactions:,}  purchases {self.purchases:,}",
            "",
            f"{'rate':<22}{'value':>10}{'target':>10}{'rel.err':>10}",
        ]
        lines += [
            f"{r.name:<22}{r.value:>10.4%}{r.target:>10.4%}{r.relative_error:>10.2%}"
            for r in self.rates
        ]
        lines += [
            "",
            f"true CVR over entire space {self.entire_space_cvr:.4%}, "
            f"over clicked impressions {self.clicked_cvr:.4%}",
            "purchase_freq_bucket shares: "
            + ", ".join(f"{k} {v:.1%}" for k, v in self.bucket_shares.items()),
            "events: "
            + ", ".join(f"{k} {v:,}" for k, v in self.events_by_type.items()),
        ]
        if any(self.injected.values()):
            lines.append(
                "injected bad rows: "
                + ", ".join(f"{k} {v:,}" for k, v in self.injected.items())
            )
        lines.append(
            f"days {len(self.partitions.get(features.IMPRESSIONS_DIR, []))}"
            f"  elapsed {self.elapsed_seconds:.1f} s  "
            f"{self.impressions_per_second:,.0f} impressions/s"
        )
        return "\n".join(lines)


class Tally:
    """Running counts of a generation, in memory independent of its size."""

    def __init__(self) -> None:
        self.impressions = self.clicks = self.dactions = 0
        self.purchases = self.purchases_after_daction = 0
        self.events = np.zeros(len(EVENT_NAMES), dtype=np.int64)
        self.buckets = np.zeros(
            len(features.PURCHASE_FREQ_BUCKET_NAMES), dtype=np.int64
        )
        self.cvr_sum = self.clicked_cvr_sum = 0.0
        self.injected = {
            kind: 0
            for kind in features.IMPRESSION_REJECT_REASONS + (features.EVENT_ORPHAN,)
        }
        self.injected_event_rows = 0
        self.impression_rows = self.event_rows = 0

    def add_clean(
        self,
        outcomes: Outcomes,
        probs: Mapping[str, np.ndarray],
        buckets: np.ndarray,
        events: EventRows,
    ) -> None:
        """Count one chunk of clean impressions and their events."""
        self.impressions += len(outcomes.click)
        self.clicks += int(outcomes.click.sum())
        self.dactions += int(outcomes.daction.sum())
        self.purchases += int(outcomes.purchase.sum())
        self.purchases_after_daction += int(
            (outcomes.purchase & outcomes.daction).sum()
        )
        self.events += np.bincount(events.kind, minlength=len(EVENT_NAMES))
        self.buckets += np.bincount(buckets, minlength=len(self.buckets))
        cvr = conversion_probability(probs)
        self.cvr_sum += float(cvr.sum())
        self.clicked_cvr_sum += float(cvr[outcomes.click].sum())
        self.impression_rows += len(outcomes.click)
        self.event_rows += len(events)

    def add_injected(
        self, counts: Mapping[str, int], impression_rows: int, event_rows: int
    ) -> None:
        """Count one chunk's injected bad rows."""
        for kind, count in counts.items():
            self.injected[kind] += count
        self.injected_event_rows += event_rows
        self.impression_rows += impression_rows
        self.event_rows += event_rows

    def rates(self, targets: presets.RateTargets) -> List[RateCheck]:
        """The four generated rates next to their targets."""
        values = {
            "click_rate": _ratio(self.clicks, self.impressions),
            "daction_rate": _ratio(self.dactions, self.clicks),
            "purchase_rate": _ratio(self.purchases, self.clicks),
            "purchase_per_daction": _ratio(self.purchases_after_daction, self.dactions),
        }
        return [
            RateCheck(name, values[name], target)
            for name, target in targets.as_dict().items()
        ]

    def summary(
        self,
        output_dir: Path,
        config: GeneratorConfig,
        partitions: Mapping[str, set],
        elapsed: float,
    ) -> GenerationSummary:
        """Freeze the counts into a ``GenerationSummary``."""
        return GenerationSummary(
            output_dir=str(output_dir),
            config=config.to_dict(),
            impressions=self.impressions,
            clicks=self.clicks,
            dactions=self.dactions,
            purchases=self.purchases,
            purchases_after_daction=self.purchases_after_daction,
            events_by_type={n: int(c) for n, c in zip(EVENT_NAMES, self.events)},
            bucket_shares={
                n: _ratio(int(c), self.impressions)
                for n, c in zip(features.PURCHASE_FREQ_BUCKET_NAMES, self.buckets)
            },
            injected=dict(self.injected),
            injected_event_rows=self.injected_event_rows,
            impression_rows_written=self.impression_rows,
            event_rows_written=self.event_rows,
            rates=self.rates(config.get_preset().targets),
            entire_space_cvr=_ratio(self.cvr_sum, self.impressions),
            clicked_cvr=_ratio(self.clicked_cvr_sum, self.clicks),
            partitions={k: sorted(v) for k, v in sorted(partitions.items())},
            elapsed_seconds=elapsed,
        )


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when the denominator is 0."""
    return float(numerator) / denominator if denominator else 0.0
