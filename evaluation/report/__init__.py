"""The slice report: one evaluation (or two, compared) as a self-contained HTML page.

    python -m evaluation.report --metadata workdir/metadata.sqlite --output report.html

``locate`` finds an evaluation through ML Metadata, ``write_report`` renders
it; ``ReportInput`` is what passes between them (tests build it by hand).
``views`` turns it into what the page shows, and the Jinja2 templates in
``templates/`` lay that out as HTML.
"""

from evaluation.report.inputs import (
    GroundTruth,
    GroundTruthFigure,
    ReportInput,
    load_evaluation,
    read_groundtruth,
)
from evaluation.report.locate import locate
from evaluation.report.page import render_report, write_report

__all__ = [
    "GroundTruth",
    "GroundTruthFigure",
    "ReportInput",
    "load_evaluation",
    "locate",
    "read_groundtruth",
    "render_report",
    "write_report",
]
