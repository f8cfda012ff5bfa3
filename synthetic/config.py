"""The generator's configuration: one dataclass, also the CLI's source of truth.

Every field carries a ``help`` string in its metadata so ``__main__`` can build
the argparse parser from the fields instead of repeating them.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Dict

from synthetic.presets import PRESETS, Preset, get_preset
from transform import features

FILE_FORMATS = ("parquet", "csv")
MAX_BAD_ROW_SHARE = 0.1  # per kind; six kinds, so at most ~60 % extra rows
DAY_MS = 86_400_000


def _field(default: Any, help_text: str, **metadata: Any) -> Any:
    """A dataclass field with a default and a CLI help text."""
    return dataclasses.field(default=default, metadata={"help": help_text, **metadata})


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines the generated files (with the seed)."""

    preset: str = _field(
        "dense", "target rates and world shape: paper, dense or marketplace",
        choices=tuple(PRESETS),
    )
    num_impressions: int = _field(
        100_000, "clean impressions to write", aliases=("--impressions",)
    )
    days: int = _field(7, "number of dt= day partitions of impressions")
    start_day: str = _field("2026-01-01", "first day, YYYY-MM-DD (UTC)")
    seed: int = _field(0, "random seed; same config and seed, same bytes")
    num_users: int = _field(100_000, "users in the population")
    num_items: int = _field(50_000, "items in the catalogue")
    num_categories: int = _field(200, "item categories")
    num_brands: int = _field(2_000, "item brands")
    num_shops: int = _field(5_000, "shops")
    file_format: str = _field(
        "parquet",
        "impressions/events file format",
        choices=FILE_FORMATS,
        aliases=("--format",),
    )
    bad_row_share: float = _field(
        0.0, "share of extra bad rows per bad-input kind (0 disables)"
    )
    chunk_size: int = _field(100_000, "impressions generated and written at once")
    progress: bool = _field(True, "show a progress bar")
    latent_dim: int = _field(8, "width of the user/item latent vectors")
    user_zipf: float = _field(0.7, "Zipf exponent of user activity")
    item_zipf: float = _field(0.8, "Zipf exponent of item popularity")
    max_position: int = _field(50, "deepest rank on a page")
    calibration_size: int = _field(
        200_000, "impressions drawn to fit the intercepts to the targets"
    )

    def __post_init__(self) -> None:
        """Validate early so a bad option fails before anything is written."""
        get_preset(self.preset).targets.oaction_purchase_rate()
        self.start_date()  # parses or raises
        positive = (
            "num_impressions",
            "days",
            "num_users",
            "num_items",
            "num_categories",
            "num_brands",
            "num_shops",
            "chunk_size",
            "latent_dim",
            "max_position",
            "calibration_size",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.file_format not in FILE_FORMATS:
            raise ValueError(
                f"file_format must be one of {FILE_FORMATS}, got {self.file_format!r}"
            )
        if not 0.0 <= self.bad_row_share <= MAX_BAD_ROW_SHARE:
            raise ValueError(
                f"bad_row_share must be in [0, {MAX_BAD_ROW_SHARE}], "
                f"got {self.bad_row_share}"
            )

    def start_date(self) -> datetime.date:
        """``start_day`` parsed with the layout's day format."""
        return datetime.datetime.strptime(self.start_day, features.DAY_FORMAT).date()

    def start_ms(self) -> int:
        """Epoch milliseconds (UTC) of the first day's midnight."""
        start = datetime.datetime.combine(
            self.start_date(), datetime.time(), tzinfo=datetime.timezone.utc
        )
        return int(start.timestamp()) * 1000

    def get_preset(self) -> Preset:
        """The preset object named by ``preset``."""
        return get_preset(self.preset)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict of the fields, for the summary JSON."""
        return dataclasses.asdict(self)


def make_config(**options: Any) -> GeneratorConfig:
    """A config from keyword options; unknown names are a TypeError."""
    known = {f.name for f in dataclasses.fields(GeneratorConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"unknown generator option(s) {unknown}; valid: {sorted(known)}"
        )
    return GeneratorConfig(**options)
