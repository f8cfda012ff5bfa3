"""Where the benchmark's time went: each run's component wall times.

Read from the runs' shared ML Metadata store, so a report rendered later
(``--from-json``) still shows them while the workdir exists.
"""

from __future__ import annotations

import os
from typing import Dict, List

from pipeline import run_summary

from .settings import PIPELINE_NAME
from .tables import markdown_table

# Components that handle rows; the others only move metadata.
TIMED_COMPONENTS = (
    "ImpressionLogExampleGen",
    "StatisticsGen",
    "Transform",
    "Trainer",
    "Evaluator",
    "GroundTruthEvaluator",
)


def _cell(node) -> str:
    """One component's wall time in one run, "cached" when it was reused."""
    if node is None:
        return "–"
    if node.state == "CACHED":
        return "cached"
    return f"{node.seconds:,.0f} s"


def component_times(metadata_path: str, all_runs: List[Dict]) -> List[str]:
    """Each run's component wall times from ML Metadata ("cached" when reused).

    Runs are matched to ``all_runs`` by order: the benchmark runs them one
    after another in this store and nothing else.
    """
    executions = run_summary.run_executions(metadata_path, PIPELINE_NAME)
    if len(executions) != len(all_runs):
        return [f"(ML Metadata holds {len(executions)} runs, not {len(all_runs)})"]
    return markdown_table(
        ("run", *TIMED_COMPONENTS),
        (
            (
                f"{run['model']} seed {run['seed']}",
                *(_cell(nodes.get(c)) for c in TIMED_COMPONENTS),
            )
            for run, nodes in zip(all_runs, executions, strict=True)
        ),
    )


def time_section(workdir: str, all_runs: List[Dict]) -> str:
    """The report's "Where the time went" section; empty without the store."""
    metadata_path = os.path.join(workdir, "metadata.sqlite")
    if not os.path.exists(metadata_path):
        return ""
    return (
        "\n## Where the time went (ML Metadata)\n\n"
        + "\n".join(component_times(metadata_path, all_runs))
        + "\n"
    )
