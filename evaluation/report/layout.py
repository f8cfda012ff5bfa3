"""What the report shows, as plain data: slices, columns and formatted tables.

Free of HTML and plotting, so the numbers and their formatting are tested
directly; ``page`` renders these tables and ``plots`` draws the charts.
Which tasks have GAUC or top-fraction figures follows ``eval_config.TASKS``,
so a metric added to the EvalConfig shows up here without a second list.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

from evaluation import groundtruth as groundtruth_metrics
from evaluation import metrics as custom
from evaluation.eval_config import HEADLINE_METRICS, TASKS, Task
from evaluation.report.inputs import GroundTruth, Metrics
from evaluation.results import OVERALL, SliceKey, bucket_slice
from transform import features, tasks

MISSING = "–"  # shown for NaN, infinities and figures an evaluation lacks
OVERALL_LABEL = "overall"
# Ground-truth metrics in display order; others follow alphabetically.  The
# entire-space CVR AUC scores pcvr against purchase_if_clicked on every impression.
GROUNDTRUTH_ORDER: Tuple[str, ...] = HEADLINE_METRICS + (
    groundtruth_metrics.ENTIRE_SPACE_CVR_AUC,
)
_SPECIAL_LABELS = {groundtruth_metrics.ENTIRE_SPACE_CVR_AUC: "Entire-space CVR AUC"}

# Rows of every per-slice table: overall first, then Figure 7's buckets.
SLICES: Tuple[SliceKey, ...] = (OVERALL,) + tuple(
    bucket_slice(name) for name in features.PURCHASE_FREQ_BUCKET_NAMES
)
ROW_HEADER = "slice"


# --- Names --------------------------------------------------------------------
def report_name(task: str, suffix: str) -> str:
    """A metric's report name, the way ``eval_config.metric_keys`` spells it."""
    return f"{task}_{suffix}"


def task_label(task: str) -> str:
    return task.upper()


def metric_label(name: str) -> str:
    """'cvr_auc' -> 'CVR AUC', 'ctcvr_gauc' -> 'CTCVR GAUC'."""
    return _SPECIAL_LABELS.get(name, name.replace("_", " ").upper())


def slice_label(key: SliceKey) -> str:
    """'overall' or the bucket name ('0-10'); other slices as 'key=value'."""
    if key == OVERALL:
        return OVERALL_LABEL
    if len(key) == 1 and key[0][0] == features.SLICE_KEY:
        return str(key[0][1])
    return ", ".join(f"{k}={v}" for k, v in key)


def fraction_label(fraction: float) -> str:
    """0.001 -> 'top 0.1 %'."""
    return f"top {fraction * 100:g} %"


# --- Values and formatting ------------------------------------------------------
def number(value: Any) -> Optional[float]:
    """A finite scalar as float; None for NaN, infinities, arrays and absent values."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def lookup(metrics: Metrics, key: SliceKey, name: str) -> Optional[float]:
    """One figure of one slice, or None when the evaluation does not have it."""
    return number(metrics.get(key, {}).get(name))


def decimals(digits: int) -> Callable[[Any], str]:
    """A formatter with a fixed number of decimals (MISSING when absent)."""

    def format_value(value: Any) -> str:
        value = number(value)
        return MISSING if value is None else f"{value:.{digits}f}"

    return format_value


def format_count(value: Any) -> str:
    """12345.0 -> '12,345'."""
    value = number(value)
    return MISSING if value is None else f"{round(value):,}"


def format_gain(value: Any) -> str:
    """Signed, so a gain reads as one: '+0.0123', '-0.0040'."""
    value = number(value)
    return MISSING if value is None else f"{value:+.4f}"


format_auc = decimals(4)  # AUC differences of 1e-3 matter (the paper's gains)
format_ece = decimals(4)
format_ratio = decimals(3)
format_rate = decimals(3)


# --- Tables -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""  # 'missing', 'gain-pos', 'gain-neg': how the page colours it


@dataclasses.dataclass(frozen=True)
class ColumnGroup:
    label: str  # '' when the table has a single header row
    columns: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of formatted cells, one row per slice."""

    title: str
    groups: Tuple[ColumnGroup, ...]
    rows: Tuple[Tuple[str, Tuple[Cell, ...]], ...]  # (row label, cells)
    note: str = ""
    row_header: str = ROW_HEADER

    @property
    def columns(self) -> Tuple[str, ...]:
        return tuple(c for g in self.groups for c in g.columns)


@dataclasses.dataclass(frozen=True)
class Column:
    """One metric column: report name, header and formatter."""

    name: str
    label: str
    format: Callable[[Any], str]


def cell(text: str) -> Cell:
    return Cell(text, "missing" if text == MISSING else "")


def _per_slice(
    cells_of: Callable[[SliceKey], List[Cell]],
) -> Tuple[Tuple[str, Tuple[Cell, ...]], ...]:
    """Table rows: each slice of ``SLICES`` with its cells."""
    return tuple((slice_label(key), tuple(cells_of(key))) for key in SLICES)


def _metric_table(
    title: str,
    metrics: Metrics,
    groups: Sequence[Tuple[str, Sequence[Column]]],
    note: str = "",
) -> Table:
    """One row per slice, one cell per column, each formatted by its column."""
    columns = [c for _, group in groups for c in group]
    return Table(
        title=title,
        groups=tuple(
            ColumnGroup(label, tuple(c.label for c in g)) for label, g in groups
        ),
        rows=_per_slice(
            lambda key: [cell(c.format(lookup(metrics, key, c.name))) for c in columns]
        ),
        note=note,
    )


def auc_columns() -> List[Column]:
    """AUC of every task, GAUC and its user count, and the population sizes."""
    columns = [
        Column(report_name(t.name, "auc"), f"{task_label(t.name)} AUC", format_auc)
        for t in TASKS
    ]
    for task in (t for t in TASKS if t.group_auc):
        columns += [
            Column(
                report_name(task.name, "gauc"),
                metric_label(report_name(task.name, "gauc")),
                format_auc,
            ),
            Column(
                report_name(task.name, "gauc_num_users"), "GAUC users", format_count
            ),
        ]
    ctr, ctcvr = tasks.CTR.name, tasks.CTCVR.name
    columns += [
        Column(report_name(ctr, "example_count"), "impressions", format_count),
        Column(report_name(ctr, "positive_count"), "clicks", format_count),
        Column(report_name(ctcvr, "positive_count"), "purchases", format_count),
    ]
    return columns


def calibration_groups() -> List[Tuple[str, List[Column]]]:
    """Per task: predicted / observed rate and the expected calibration error."""
    return [
        (
            task_label(t.name),
            [
                Column(report_name(t.name, "calibration"), "pred / obs", format_ratio),
                Column(report_name(t.name, "ece"), "ECE", format_ece),
            ],
        )
        for t in TASKS
    ]


def top_fraction_groups(
    task: Task, fractions: Sequence[float] = custom.DEFAULT_TOP_FRACTIONS
) -> List[Tuple[str, List[Column]]]:
    """Per top fraction: precision, recall and F1 of one ranking task."""
    return [
        (
            fraction_label(fraction),
            [
                Column(
                    report_name(
                        task.name, custom.top_fraction_key_name(kind, fraction)
                    ),
                    kind if kind != custom.F1 else "F1",
                    format_rate,
                )
                for kind in custom.TOP_FRACTION_KINDS
            ],
        )
        for fraction in fractions
    ]


def metric_tables(metrics: Metrics) -> List[Table]:
    """The single-evaluation tables: AUC and counts, calibration, top fractions."""
    tables = [
        _metric_table(
            "AUC, GAUC and population",
            metrics,
            [("", auc_columns())],
            note="CVR is scored over clicked impressions only; GAUC averages "
            "the per-user AUC of users with both classes (eq. 13).",
        ),
        _metric_table(
            "Calibration",
            metrics,
            calibration_groups(),
            note="pred / obs: mean prediction over observed rate (1 = calibrated); "
            "ECE: expected calibration error over equal-width bins.",
        ),
    ]
    for task in (t for t in TASKS if t.ranking):
        population = "clicked impressions" if task.weighted else "all impressions"
        tables.append(
            _metric_table(
                f"{task_label(task.name)}: precision, recall and F1 at the top",
                metrics,
                top_fraction_groups(task),
                note=f"Over {population}, ranked by the model's score.",
            )
        )
    return tables


def all_columns() -> Iterable[Column]:
    """Every metric column of ``metric_tables`` (tested against METRIC_KEYS)."""
    yield from auc_columns()
    for _, group in calibration_groups():
        yield from group
    for task in (t for t in TASKS if t.ranking):
        for _, group in top_fraction_groups(task):
            yield from group


# --- Comparison -----------------------------------------------------------------
def gain(
    primary: Metrics, compare: Metrics, key: SliceKey, name: str
) -> Optional[float]:
    """Primary minus compared figure (Figure 7's gain), None if either is missing."""
    a, b = lookup(primary, key, name), lookup(compare, key, name)
    return None if a is None or b is None else a - b


def _gain_cell(value: Optional[float]) -> Cell:
    text = format_gain(value)
    if value is None:
        return Cell(text, "missing")
    return Cell(text, "gain-pos" if value > 0 else "gain-neg" if value < 0 else "")


def comparison_table(
    primary: Metrics,
    compare: Metrics,
    labels: Tuple[str, str],
    names: Sequence[str] = HEADLINE_METRICS,
    title: str = "Headline metrics",
) -> Table:
    """Headline metrics side by side per slice, with the gain of the first."""

    def cells_of(key: SliceKey) -> List[Cell]:
        cells: List[Cell] = []
        for name in names:
            cells += [
                cell(format_auc(lookup(primary, key, name))),
                cell(format_auc(lookup(compare, key, name))),
                _gain_cell(gain(primary, compare, key, name)),
            ]
        return cells

    return Table(
        title=title,
        groups=tuple(
            ColumnGroup(metric_label(n), (labels[0], labels[1], "gain")) for n in names
        ),
        rows=_per_slice(cells_of),
        note=f"gain = {labels[0]} − {labels[1]}; green: {labels[0]} better.",
    )


# --- Ground truth ---------------------------------------------------------------
def groundtruth_metric_names(groundtruth: GroundTruth) -> List[str]:
    """The metrics the ground truth has, known ones in display order."""
    present = {name for figures in groundtruth.slices.values() for name in figures}
    known = [n for n in GROUNDTRUTH_ORDER if n in present]
    return known + sorted(present - set(known))


def groundtruth_table(
    groundtruth: GroundTruth, title: str = "Against the ground truth"
) -> Table:
    """Model and oracle AUC and their ratio, per metric and slice."""
    names = groundtruth_metric_names(groundtruth)

    def cells_of(key: SliceKey) -> List[Cell]:
        cells: List[Cell] = []
        for name in names:
            figure = groundtruth.slices.get(key, {}).get(name)
            model, oracle, fraction = (
                (None, None, None)
                if figure is None
                else (figure.model, figure.oracle, figure.fraction)
            )
            cells += [
                cell(format_auc(model)),
                cell(format_auc(oracle)),
                cell(format_ratio(fraction)),
            ]
        return cells

    return Table(
        title=title,
        groups=tuple(
            ColumnGroup(metric_label(n), ("model", "oracle", "ratio")) for n in names
        ),
        rows=_per_slice(cells_of),
        note="Oracle: the same AUC with the true probabilities as the score; "
        "ratio: model / oracle, the headline quality figure on synthetic data. "
        "Entire-space CVR AUC scores pcvr against purchase_if_clicked on every "
        "impression, clicked or not.",
    )
