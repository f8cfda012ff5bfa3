"""What the page templates are given: the report's data, ordered and formatted.

The templates in ``templates/`` only lay values out.  What goes on the page
is decided here in Python, where plain values are easy to test: which
tables and charts there are, the CSS class of each cell, and the models'
names.  Every value stays plain text, not HTML.  The templates escape what
they print, so a '<' in a model name or a path shows up as a '<'.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Optional, Tuple

from evaluation.report import layout, plots
from evaluation.report.inputs import ReportInput

GROUP_START = "group-start"  # CSS class of a column that opens a labelled group
OVERALL_ROW = "overall"  # CSS class of the overall population's row


# --- Tables ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HeadCell:
    text: str
    css: str = ""
    span: int = 1  # columns covered (a group label)


@dataclasses.dataclass(frozen=True)
class Row:
    label: str  # the slice
    css: str
    cells: Tuple[layout.Cell, ...]  # css: colour and group rule together


@dataclasses.dataclass(frozen=True)
class TableView:
    """A ``layout.Table`` with the CSS classes its HTML needs.

    ``groups`` is empty for a table with one header row.  Otherwise it holds
    the group labels above the row of ``columns``, and the row header spans
    both header rows.
    """

    title: str
    row_header: str
    groups: Tuple[HeadCell, ...]
    columns: Tuple[HeadCell, ...]
    rows: Tuple[Row, ...]
    note: str


def _css(*names: str) -> str:
    return " ".join(name for name in names if name)


def table_view(table: layout.Table) -> TableView:
    """Marks each labelled group's first column: the page draws a rule left of it."""
    edges = []
    for group in table.groups:
        first = GROUP_START if group.label else ""
        edges += [first] + [""] * (len(group.columns) - 1)
    grouped = any(group.label for group in table.groups)
    return TableView(
        title=table.title,
        row_header=table.row_header,
        groups=(
            tuple(HeadCell(g.label, GROUP_START, len(g.columns)) for g in table.groups)
            if grouped
            else ()
        ),
        columns=tuple(HeadCell(name, edge) for name, edge in zip(table.columns, edges)),
        rows=tuple(
            Row(
                label,
                OVERALL_ROW if label == layout.OVERALL_LABEL else "",
                tuple(
                    layout.Cell(c.text, _css(c.css, edge))
                    for c, edge in zip(cells, edges)
                ),
            )
            for label, cells in table.rows
        ),
        note=table.note,
    )


# --- Sections -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GroundTruthView:
    table: TableView
    # The ground truth was computed for another model than the evaluation's.
    # This happens when --groundtruth names a file by hand.
    mismatch: bool


@dataclasses.dataclass(frozen=True)
class ModelView:
    """One evaluation: its summary card and its section of tables."""

    label: str  # how the page names the model, e.g. 'ESM2' or 'ESM2 (A)'
    anchor: str  # the section's id, linked from the page's navigation
    report: ReportInput
    tables: Tuple[TableView, ...]
    groundtruth: Optional[GroundTruthView]


@dataclasses.dataclass(frozen=True)
class ComparisonView:
    first: str  # the models' labels; the gain is first minus second
    second: str
    table: TableView
    gain_chart: Optional[str]  # a PNG data URI, None when there is nothing to draw


@dataclasses.dataclass(frozen=True)
class PageView:
    title: str
    models: Tuple[ModelView, ...]  # the reported evaluation first
    comparison: Optional[ComparisonView]
    auc_chart: Optional[str]  # PNG data URIs, like ComparisonView.gain_chart
    reliability_chart: Optional[str]
    generated_at: datetime.datetime


def model_labels(
    primary: ReportInput, compare: Optional[ReportInput]
) -> Tuple[str, ...]:
    """The models' names on the page, told apart when both are the same architecture."""
    if compare is None:
        return (primary.label,)
    if primary.label == compare.label:
        return (f"{primary.label} (A)", f"{compare.label} (B)")
    return (primary.label, compare.label)


def _groundtruth(report: ReportInput, label: str) -> Optional[GroundTruthView]:
    truth = report.groundtruth
    if truth is None:
        return None
    table = layout.groundtruth_table(truth, f"{label} against the ground truth")
    named, evaluated = truth.model_name, report.model_name
    return GroundTruthView(
        table_view(table), bool(named and evaluated and named != evaluated)
    )


def _model(report: ReportInput, label: str, anchor: str) -> ModelView:
    return ModelView(
        label=label,
        anchor=anchor,
        report=report,
        tables=tuple(table_view(t) for t in layout.metric_tables(report.metrics)),
        groundtruth=_groundtruth(report, label),
    )


def _comparison(
    primary: ReportInput, compare: ReportInput, labels: Tuple[str, str]
) -> ComparisonView:
    first, second = labels
    return ComparisonView(
        first=first,
        second=second,
        table=table_view(
            layout.comparison_table(primary.metrics, compare.metrics, labels)
        ),
        gain_chart=plots.gain_chart(
            (first, primary.metrics), (second, compare.metrics)
        ),
    )


def build_page(
    primary: ReportInput,
    compare: Optional[ReportInput] = None,
    generated_at: Optional[datetime.datetime] = None,
) -> PageView:
    """Everything the page shows about ``primary`` (compared with ``compare``)."""
    reports = (primary,) if compare is None else (primary, compare)
    labels = model_labels(primary, compare)
    models = tuple(
        _model(report, label, f"model-{i + 1}")
        for i, (report, label) in enumerate(zip(reports, labels))
    )
    series = [(model.label, model.report.metrics) for model in models]
    return PageView(
        title=" vs ".join(labels),
        models=models,
        comparison=(
            None
            if compare is None
            else _comparison(primary, compare, (labels[0], labels[1]))
        ),
        auc_chart=plots.auc_by_bucket_chart(series),
        reliability_chart=plots.reliability_chart(series),
        generated_at=generated_at or datetime.datetime.now(datetime.timezone.utc),
    )
