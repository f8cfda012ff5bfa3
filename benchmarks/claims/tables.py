"""Markdown tables and their cells, shared by every section of the report
(and by peer_esmm.py's)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

from .stats import Path, mean_and_spread


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> List[str]:
    """The lines of a markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def spread_cell(runs_of_model: List[Dict], path: Path) -> str:
    """"mean ± standard deviation" over seeds, "–" where no run has the figure."""
    mean, spread = mean_and_spread(runs_of_model, path)
    return "–" if mean != mean else f"{mean:.4f} ± {spread:.4f}"


def section(title: str, *blocks: List[str]) -> List[str]:
    """A "##" section of the report: its heading, then each block (a table or
    a paragraph) after a blank line."""
    lines = ["", f"## {title}"]
    for block in blocks:
        lines += ["", *block]
    return lines
