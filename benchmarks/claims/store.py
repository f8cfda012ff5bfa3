"""The .json of raw figures beside each report.

It is rewritten after every run, so a benchmark cut off part-way keeps what it
measured: ``--from-json`` renders it and ``--resume`` runs only what it lacks.
peer_esmm.py keeps its runs the same way.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List


def runs_path(output: str) -> str:
    """Where the raw figures of the report at ``output`` are kept."""
    return os.path.splitext(output)[0] + ".json"


def save_runs(path: str, command: str, minutes: float, all_runs: List[Dict]) -> None:
    """Write the runs so far, through a temporary file so that a benchmark
    killed mid-write leaves the previous runs readable."""
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(
            {"command": command, "minutes": minutes, "runs": all_runs}, f, indent=1
        )
    os.replace(temporary, path)


def load_runs(path: str) -> Dict:
    """The saved command, wall time in minutes and runs."""
    with open(path) as f:
        return json.load(f)
