"""The slice report: tables, charts, ground truth, MLMD lookup and the page in Chromium.

Unit tests render hand-built metrics (fast); the integration tests render the
shared pipeline run's evaluation and open the page in headless Chromium.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import datetime
import fnmatch
import html.parser
import json
import math
import os
import subprocess
import tempfile
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import pytest
from matplotlib import image as mpimg
from ml_metadata import metadata_store

from evaluation import groundtruth as groundtruth_metrics
from evaluation.eval_config import (
    CTAVR_AUC,
    CTCVR_AUC,
    CVR_AUC,
    HEADLINE_METRICS,
    METRIC_KEYS,
    metric_keys,
)
from evaluation.report import (
    GroundTruthFigure,
    ReportInput,
    layout,
    locate,
    plots,
    read_groundtruth,
    render_report,
    views,
    write_report,
)
from evaluation.report import __main__ as cli
from evaluation.report import page as report_page
from evaluation.report.views import model_labels
from evaluation.results import OVERALL, bucket_slice
from models import registry
from pipeline import run_summary
from transform import features

IMG = '<img src="data:image/png;base64,'
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WINDOW = (1400, 3000)
BUCKETS = features.PURCHASE_FREQ_BUCKET_NAMES
LAST = bucket_slice(BUCKETS[-1])


# --- Hand-built evaluations -----------------------------------------------------
def _bins(num_bins: int = 20) -> Dict[str, np.ndarray]:
    """ECE bins of a slightly over-confident model; the last bins empty (NaN)."""
    centers = (np.arange(num_bins) + 0.5) / num_bins
    weight = np.round(1000 * np.exp(-8 * centers))
    weight[-3:] = 0
    predicted = np.where(weight > 0, centers, np.nan)
    return {
        "ece_bin_weight": weight,
        "ece_bin_mean_prediction": predicted,
        "ece_bin_observed_rate": predicted * 0.8,
    }


def hand_metrics(model_name: str, shift: float = 0.0) -> Dict:
    """Every figure the EvalConfig of ``model_name`` has, per slice, deterministic.

    Scalars are 0.7 + ``shift`` for AUCs and small rates otherwise; a few
    figures are set to values whose formatting the tests check.
    """
    names = metric_keys(model_name)
    metrics = {}
    for i, key in enumerate((OVERALL,) + tuple(bucket_slice(b) for b in BUCKETS)):
        values: Dict = {}
        for name in names:
            suffix = name.split("_", 1)[1]
            if suffix.startswith("ece_bin"):
                continue
            if "auc" in suffix and "num_users" not in suffix:
                values[name] = 0.7 + shift + 0.01 * i
            elif "count" in suffix or "num_users" in suffix:
                values[name] = 1000.0 / (i + 1)
            else:
                values[name] = 0.05 + 0.001 * i
        for task in {n.split("_", 1)[0] for n in names}:
            values.update({layout.report_name(task, k): v for k, v in _bins().items()})
        metrics[key] = values
    return metrics


@pytest.fixture()
def esm2_metrics():
    metrics = hand_metrics("esm2", shift=0.02)
    metrics[OVERALL].update(
        ctr_auc=0.712345,
        ctr_example_count=123456.0,
        ctr_calibration=1.02345,
        ctr_ece=0.012345,
        cvr_auc=0.75,
    )
    metrics[LAST][CVR_AUC] = math.nan  # e.g. no purchase among the bucket's clicks
    return metrics


@pytest.fixture()
def esmm_metrics():
    metrics = hand_metrics("esmm")
    metrics[OVERALL][CVR_AUC] = 0.74
    return metrics


GROUNDTRUTH = {
    "model": "esm2",
    "examples": 3000,
    "days": ["2026-01-03"],
    "slices": {
        "overall": {
            "cvr_auc": {"model": 0.75, "oracle": 0.8, "fraction": 0.9375},
            groundtruth_metrics.ENTIRE_SPACE_CVR_AUC: {
                "model": 0.61,
                "oracle": 0.7,
                "fraction": 0.8714,
            },
        },
        f"{features.SLICE_KEY}={BUCKETS[0]}": {
            "cvr_auc": {"model": 0.7, "oracle": None, "fraction": None},
        },
    },
}


@pytest.fixture()
def groundtruth_dir(tmp_path):
    """An artifact directory holding a hand-written groundtruth_metrics.json."""
    directory = tmp_path / "GroundTruthEvaluator"
    directory.mkdir()
    (directory / groundtruth_metrics.METRICS_FILE).write_text(json.dumps(GROUNDTRUTH))
    return str(directory)


# --- Reading the page back --------------------------------------------------------
ParsedTable = Tuple[List[List[str]], List[List[str]]]  # header rows, body rows


class _Tables(html.parser.HTMLParser):
    """Every <table> of a page as cell texts, listed under the <h3> before it."""

    def __init__(self):
        super().__init__()
        self.tables: Dict[str, List[ParsedTable]] = {}
        self._title = ""
        self._in_h3 = False
        self._rows: Dict[str, List[List[str]]] = {}
        self._part = ""
        self._cell: Optional[List[str]] = None

    def handle_starttag(self, tag, attrs):
        if tag == "h3":
            self._in_h3, self._title = True, ""
        elif tag in ("thead", "tbody"):
            self._part = tag
            self._rows[tag] = []
        elif tag == "tr":
            self._rows[self._part].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False
        elif tag == "table":
            parsed = (self._rows["thead"], self._rows["tbody"])
            self.tables.setdefault(self._title, []).append(parsed)
        elif tag in ("td", "th"):
            self._rows[self._part][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._in_h3:
            self._title += data
        if self._cell is not None:
            self._cell.append(data)


def tables_of(page: str) -> Dict[str, List[ParsedTable]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


class Element(NamedTuple):
    tag: str
    attrs: Dict[str, str]  # unescaped, as a browser reads them
    text: str  # all text inside, unescaped, white space collapsed


class _Elements(html.parser.HTMLParser):
    """Every element of a page in document order, with the text inside it."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}  # no end tag

    def __init__(self):
        super().__init__()
        self.found: List[Tuple[str, Dict[str, str], List[str]]] = []
        self._open: List[Tuple[str, Dict[str, str], List[str]]] = []

    def handle_starttag(self, tag, attrs):
        element = (tag, {k: v or "" for k, v in attrs}, [])
        self.found.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for _, _, text in self._open:
            text.append(data)


def elements(page: str, tag: Optional[str] = None) -> List[Element]:
    parser = _Elements()
    parser.feed(page)
    return [
        Element(t, attrs, " ".join("".join(text).split()))
        for t, attrs, text in parser.found
        if tag in (None, t)
    ]


def cards_of(page: str) -> Dict[str, Dict[str, str]]:
    """The summary cards: {card title: {term: description}}."""
    cards: Dict[str, Dict[str, str]] = {}
    title: Optional[str] = None
    term = ""
    for element in elements(page):
        if element.tag == "div" and element.attrs.get("class") == "card":
            title = ""  # the card's <h3> comes next
        elif element.tag == "h3" and title == "":
            title = element.text
            cards[title] = {}
        elif element.tag == "dt" and title:
            term = element.text
        elif element.tag == "dd" and title:
            cards[title][term] = element.text
    return cards


def notes_of(page: str) -> List[str]:
    return [e.text for e in elements(page, "p") if "note" in e.attrs.get("class", "")]


def cell(table: ParsedTable, row: str, column: str, occurrence: int = 0) -> str:
    """The text in ``row`` (named by its first cell) under the ``occurrence``-th
    ``column``, as named in the last header row.

    A grouped table's last header row lacks the slice cell, which spans both
    header rows; its column i is then the body's column i + 1.
    """
    head, body = table
    offset = 1 if len(head) > 1 else 0
    columns = [i + offset for i, name in enumerate(head[-1]) if name == column]
    rows = [r for r in body if r[0] == row]
    assert rows, f"no row {row!r}"
    return rows[0][columns[occurrence]]


# --- Unit: formatting and names -----------------------------------------------------
def test_every_column_names_a_metric_of_the_eval_config():
    names = [c.name for c in layout.all_columns()] + list(HEADLINE_METRICS)
    assert set(names) <= set(METRIC_KEYS)


@pytest.mark.parametrize(
    "formatter, value, expected",
    [
        (layout.format_auc, 0.712345, "0.7123"),
        (layout.format_count, 123456.0, "123,456"),
        (layout.format_gain, 0.01, "+0.0100"),
        (layout.format_gain, -0.004, "-0.0040"),
        (layout.format_ratio, 1.02345, "1.023"),
        (layout.format_auc, math.nan, layout.MISSING),
        (layout.format_auc, math.inf, layout.MISSING),
        (layout.format_count, None, layout.MISSING),
        (layout.format_auc, np.array([0.1, 0.2]), layout.MISSING),
    ],
)
def test_numbers_are_formatted_and_missing_ones_shown_as_a_dash(
    formatter, value, expected
):
    assert formatter(value) == expected


def test_same_architecture_twice_is_told_apart():
    one = ReportInput(metrics={}, model_name="esm2")
    other = ReportInput(metrics={}, model_name="esmm")
    assert model_labels(one, other) == ("ESM2", "ESMM")
    assert model_labels(one, one) == ("ESM2 (A)", "ESM2 (B)")


# --- Unit: the ground-truth reader -------------------------------------------------
def test_groundtruth_json_is_read_by_slice_key(groundtruth_dir):
    truth = read_groundtruth(groundtruth_dir)
    assert (truth.model_name, truth.examples, truth.days) == (
        "esm2",
        3000,
        ("2026-01-03",),
    )
    assert set(truth.slices) == {OVERALL, bucket_slice(BUCKETS[0])}
    overall = truth.slices[OVERALL]
    assert overall["cvr_auc"].oracle == 0.8
    assert overall[groundtruth_metrics.ENTIRE_SPACE_CVR_AUC].fraction == 0.8714
    assert math.isnan(truth.slices[bucket_slice(BUCKETS[0])]["cvr_auc"].oracle)
    # The file itself reads the same as its directory.
    direct = read_groundtruth(
        os.path.join(groundtruth_dir, groundtruth_metrics.METRICS_FILE)
    )
    assert direct.slices[OVERALL] == overall  # (the bucket's NaNs never compare equal)


# --- Unit: the page from hand-built metrics ------------------------------------------
def test_single_report_tables_charts_and_ground_truth(
    tmp_path, esm2_metrics, groundtruth_dir
):
    report = ReportInput(
        metrics=esm2_metrics,
        model_name="esm2",
        pipeline_name="esm2",
        evaluation_uri="/runs/Evaluator/evaluation/8",
        blessed=True,
        groundtruth=read_groundtruth(groundtruth_dir),
    )
    path = write_report(report, str(tmp_path / "out" / "report.html"))
    page = open(path, encoding="utf-8").read()
    tables = tables_of(page)

    auc = tables["AUC, GAUC and population"][0]
    assert cell(auc, "overall", "CTR AUC") == "0.7123"
    assert cell(auc, "overall", "impressions") == "123,456"
    assert cell(auc, BUCKETS[-1], "CVR AUC") == layout.MISSING  # NaN
    assert cell(auc, BUCKETS[0], "CVR AUC") == "0.7300"
    calibration = tables["Calibration"][0]
    assert cell(calibration, "overall", "pred / obs") == "1.023"
    assert cell(calibration, "overall", "ECE") == "0.0123"
    assert "CVR: precision, recall and F1 at the top" in tables
    assert "CTCVR: precision, recall and F1 at the top" in tables

    truth = tables["ESM2 against the ground truth"][0]
    assert cell(truth, "overall", "oracle") == "0.8000"  # CVR AUC's oracle
    assert cell(truth, "overall", "ratio") == "0.938"
    assert cell(truth, "overall", "ratio", occurrence=1) == "0.871"  # entire space
    assert cell(truth, BUCKETS[0], "oracle") == layout.MISSING  # null in the JSON
    assert cell(truth, BUCKETS[1], "model") == layout.MISSING  # slice absent
    assert "Entire-space CVR AUC" in page
    source = os.path.join(groundtruth_dir, groundtruth_metrics.METRICS_FILE)
    assert f"Source: {source}. 3,000 examples. Days: 2026-01-03." in notes_of(page)
    assert not any("names model" in note for note in notes_of(page))  # same model

    assert page.count(IMG) == 2  # AUC per bucket, reliability
    assert "http://" not in page and "https://" not in page
    assert "blessed" in page and "/runs/Evaluator/evaluation/8" in page


def test_comparison_shows_gain_and_figure_7_and_esmm_lacks_ctavr(
    tmp_path, esm2_metrics, esmm_metrics
):
    esm2 = ReportInput(metrics=esm2_metrics, model_name="esm2")
    esmm = ReportInput(metrics=esmm_metrics, model_name="esmm", blessed=False)
    page = open(
        write_report(esm2, str(tmp_path / "compare.html"), compare=esmm),
        encoding="utf-8",
    ).read()
    tables = tables_of(page)
    headline = tables["Headline metrics"][0]
    # CVR AUC is the third group: A, B, gain.
    group = HEADLINE_METRICS.index(CVR_AUC)
    assert cell(headline, "overall", "ESM2", group) == "0.7500"
    assert cell(headline, "overall", "ESMM", group) == "0.7400"
    assert cell(headline, "overall", "gain", group) == "+0.0100"
    assert cell(headline, BUCKETS[-1], "gain", group) == layout.MISSING
    ctavr = HEADLINE_METRICS.index(CTAVR_AUC)
    assert cell(headline, "overall", "ESMM", ctavr) == layout.MISSING
    # Each model's own tables: ESM2's first, then ESMM's, without CTAVR.
    esm2_auc, esmm_auc = tables["AUC, GAUC and population"]
    assert cell(esm2_auc, "overall", "CTAVR AUC") == "0.7200"
    for row in ("overall",) + BUCKETS:
        assert cell(esmm_auc, row, "CTAVR AUC") == layout.MISSING
    assert "ESM2 vs ESMM" in page
    assert "not blessed" in page
    assert page.count(IMG) == 3  # Figure 7 gains, AUC per bucket, reliability
    assert "http://" not in page and "https://" not in page


def test_charts_are_png_images_and_absent_when_there_is_nothing_to_draw(
    esm2_metrics,
):
    uri = plots.auc_by_bucket_chart([("ESM2", esm2_metrics)])
    assert uri.startswith(plots.DATA_URI_PREFIX)
    png = base64.b64decode(uri[len(plots.DATA_URI_PREFIX) :])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"matplotlib.org" not in png
    only_auc = ReportInput(metrics={OVERALL: {"ctr_auc": 0.7}})
    assert plots.reliability_chart([("model", only_auc.metrics)]) is None
    assert render_report(only_auc).count(IMG) == 1
    # Autoescaping leaves a data URI as drawn: base64 has nothing to escape.
    page = render_report(ReportInput(metrics=esm2_metrics, model_name="esm2"))
    assert [e.attrs["src"] for e in elements(page, "img")][0] == uri


HOSTILE = "<script>alert(1)</script>"


def test_text_from_outside_is_escaped_wherever_it_is_shown(
    esm2_metrics, esmm_metrics, groundtruth_dir
):
    """Model, pipeline, paths, ground-truth metric names and days all reach
    the page as text: parsed back they read as given, and none becomes markup."""
    truth = read_groundtruth(groundtruth_dir)
    truth.slices[OVERALL][HOSTILE] = GroundTruthFigure(0.6, 0.7, 0.6 / 0.7)
    truth = dataclasses.replace(
        truth, days=("<img src=x onerror=alert(2)>",), source="/gt/<i>.json"
    )
    hostile = ReportInput(
        metrics=esm2_metrics,
        model_name=HOSTILE,
        pipeline_name="<b>pipe</b>",
        evaluation_uri='/runs/"quoted"&amp;',
        groundtruth=truth,
    )
    page = render_report(hostile, ReportInput(metrics=esmm_metrics, model_name="esmm"))
    for markup in ("<script", "<b>", "<i>", "<img src=x"):
        assert markup not in page.lower()

    label = HOSTILE.upper()  # how the page names the model
    assert elements(page, "title")[0].text == f"Slice report: {label} vs ESMM"
    assert f"{label} tables" in [e.text for e in elements(page, "a")]
    card = cards_of(page)[label]
    assert card["model"] == HOSTILE
    assert card["pipeline"] == "<b>pipe</b>"
    assert card["evaluation"] == '/runs/"quoted"&amp;'
    tables = tables_of(page)
    headline_columns = tables["Headline metrics"][0][0][-1]
    assert headline_columns[:2] == [label, "ESMM"]
    truth_groups = tables[f"{label} against the ground truth"][0][0][0]
    assert layout.metric_label(HOSTILE) in truth_groups
    notes = notes_of(page)
    days = "Days: <img src=x onerror=alert(2)>."
    assert f"Source: /gt/<i>.json. 3,000 examples. {days}" in notes
    assert f"The ground truth names model esm2, the evaluation {HOSTILE}." in notes
    alts = [e.attrs["alt"] for e in elements(page, "img")]
    assert f"Gain of {label} over ESMM per bucket" in alts


def test_summary_cards_say_where_each_evaluation_comes_from(
    esm2_metrics, esmm_metrics, groundtruth_dir
):
    berlin = datetime.timezone(datetime.timedelta(hours=2))
    esm2 = ReportInput(
        metrics=esm2_metrics,
        model_name="esm2",
        pipeline_name="esm2",
        metadata_path="/runs/metadata.sqlite",
        evaluation_uri="/runs/Evaluator/evaluation/8",
        model_uri="/runs/Trainer/model/6",
        blessed=True,
        evaluated_at=datetime.datetime(2026, 1, 3, 14, 0, 0, tzinfo=berlin),
        groundtruth=read_groundtruth(groundtruth_dir),
    )
    unknown = ReportInput(metrics=esmm_metrics)  # nothing but metrics known
    generated = datetime.datetime(2026, 1, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
    page = render_report(esm2, unknown, generated_at=generated)
    m = layout.MISSING
    assert cards_of(page) == {
        "ESM2": {
            "model": "esm2",
            "pipeline": "esm2",
            "blessing": "blessed",
            "evaluated": "2026-01-03 12:00:00 UTC",  # shown in UTC
            "evaluation": "/runs/Evaluator/evaluation/8",
            "model artifact": "/runs/Trainer/model/6",
            "ML Metadata": "/runs/metadata.sqlite",
            "ground truth": "yes",
        },
        "model": {
            "model": "unknown (pass --model-name)",
            "pipeline": m,
            "blessing": "unknown",
            "evaluated": m,
            "evaluation": m,
            "model artifact": m,
            "ML Metadata": m,
            "ground truth": "none (real logs have no ground truth)",
        },
    }
    badges = [(e.attrs["class"], e.text) for e in elements(page, "span")]
    assert badges == [("badge blessed", "blessed"), ("badge unknown", "unknown")]
    not_blessed = render_report(dataclasses.replace(unknown, blessed=False))
    assert cards_of(not_blessed)["model"]["blessing"] == "not blessed"
    footer = elements(page, "footer")[0].text
    assert footer == "Generated 2026-01-04 05:06:07 UTC by python -m evaluation.report."


@pytest.mark.parametrize("compared", [False, True])
def test_navigation_links_every_section_in_order(
    esm2_metrics, esmm_metrics, compared
):
    esm2 = ReportInput(metrics=esm2_metrics, model_name="esm2")
    esmm = ReportInput(metrics=esmm_metrics, model_name="esmm") if compared else None
    page = render_report(esm2, esmm)
    links = [(e.attrs["href"], e.text) for e in elements(page, "a")]
    sections = [
        (e.attrs["id"], e.text.split(" ", 1)[0]) for e in elements(page, "section")
    ]
    assert [href for href, _ in links] == [f"#{id_}" for id_, _ in sections]
    expected = ["Summary"] + (["Comparison"] if compared else []) + ["Charts"]
    expected += ["ESM2 tables"] + (["ESMM tables"] if compared else [])
    assert [text for _, text in links] == expected


def test_table_view_rules_each_group_and_keeps_cell_colours():
    table = layout.Table(
        title="t",
        groups=(
            layout.ColumnGroup("CVR AUC", ("ESM2", "ESMM", "gain")),
            layout.ColumnGroup("CTCVR AUC", ("ESM2",)),
        ),
        rows=(
            (
                layout.OVERALL_LABEL,
                (
                    layout.Cell("0.7500"),
                    layout.Cell(layout.MISSING, "missing"),
                    layout.Cell("+0.0100", "gain-pos"),
                    layout.Cell("0.7000"),
                ),
            ),
            ("0-10", (layout.Cell("0.7"),) * 4),
        ),
    )
    view = views.table_view(table)
    assert [(g.text, g.span, g.css) for g in view.groups] == [
        ("CVR AUC", 3, "group-start"),
        ("CTCVR AUC", 1, "group-start"),
    ]
    assert [c.css for c in view.columns] == ["group-start", "", "", "group-start"]
    assert [c.css for c in view.rows[0].cells] == [
        "group-start",
        "missing",
        "gain-pos",
        "group-start",
    ]
    assert [r.css for r in view.rows] == ["overall", ""]
    # One header row: no group labels, so no rules.
    flat = views.table_view(
        dataclasses.replace(table, groups=(layout.ColumnGroup("", table.columns),))
    )
    assert flat.groups == ()
    assert {c.css for c in flat.columns} == {""}
    assert [c.css for c in flat.rows[0].cells] == ["", "missing", "gain-pos", ""]


def test_templates_ship_as_package_data():
    """setup.py's package_data covers every template file; an installed report
    has nothing else to render with."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tree = ast.parse(open(os.path.join(root, "setup.py"), encoding="utf-8").read())
    keywords = {
        k.arg: k.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"
        for k in node.keywords
    }
    patterns = ast.literal_eval(keywords["package_data"])["evaluation.report"]
    templates = report_page.environment().list_templates()
    assert {report_page.TEMPLATE, "macros.html.j2", "style.css"} <= set(templates)
    for name in templates:
        assert any(fnmatch.fnmatch(f"templates/{name}", p) for p in patterns), name


# --- Integration: the pipeline run's evaluation ---------------------------------------
@pytest.fixture(scope="module")
def real_reports(pipeline_run, tmp_path_factory):
    """The run's report alone, and compared with itself through the CLI."""
    config, _ = pipeline_run
    directory = tmp_path_factory.mktemp("report")
    located = locate(config.metadata_path, config.pipeline_name)
    single = write_report(located, str(directory / "single.html"))
    compared = cli.main(
        [
            "--metadata",
            config.metadata_path,
            "--pipeline-name",
            config.pipeline_name,
            "--compare-pipeline-name",
            config.pipeline_name,
            "--output",
            str(directory / "compare.html"),
        ]
    )
    return located, single, compared


def test_locate_follows_the_lineage_of_the_latest_evaluation(
    pipeline_run, real_reports
):
    config, _ = pipeline_run
    located, _, _ = real_reports
    store = metadata_store.MetadataStore(
        run_summary.sqlite_connection(config.metadata_path)
    )
    latest = run_summary.latest_outputs(store, config.pipeline_name)
    assert located.evaluation_uri == latest[run_summary.EVALUATION].uri
    assert located.model_uri == latest["Trainer.model"].uri
    assert located.model_name in registry.MODELS
    assert located.pipeline_name == config.pipeline_name
    blessing = latest[run_summary.BLESSING].custom_properties["blessed"].int_value
    assert located.blessed == bool(blessing)
    assert located.evaluated_at is not None
    assert located.metrics[OVERALL][CVR_AUC] > 0
    if run_summary.GROUNDTRUTH in latest:
        assert located.groundtruth is not None
        assert located.groundtruth.model_name == located.model_name
        assert OVERALL in located.groundtruth.slices


def test_real_report_shows_the_evaluation(real_reports):
    located, single, compared = real_reports
    page = open(single, encoding="utf-8").read()
    auc = tables_of(page)["AUC, GAUC and population"][0]
    expected = layout.format_auc(located.metrics[OVERALL][CVR_AUC])
    assert cell(auc, "overall", "CVR AUC") == expected
    for bucket in BUCKETS:
        assert cell(auc, bucket, "CTCVR AUC") == layout.format_auc(
            located.metrics[bucket_slice(bucket)].get(CTCVR_AUC)
        )
    assert page.count(IMG) == 2
    compare_page = open(compared, encoding="utf-8").read()
    headline = tables_of(compare_page)["Headline metrics"][0]
    group = HEADLINE_METRICS.index(CVR_AUC)
    assert cell(headline, "overall", "gain", group) == "+0.0000"
    assert compare_page.count(IMG) == 3
    for text in (page, compare_page):
        assert "http://" not in text and "https://" not in text


# --- Integration: the page in a real browser ------------------------------------
def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Runs headless Chromium with a fresh profile, offline as far as it goes."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def _near(pixels: np.ndarray, color: str, tolerance: float = 12 / 255) -> int:
    """How many pixels are within ``tolerance`` of ``color`` ('#rrggbb')."""
    rgb = np.array([int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(pixels[..., :3] - rgb).max(axis=-1) < tolerance).sum())


@pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} missing: install the Debian package 'chromium' "
    "(scripts/bootstrap.sh does on CI)",
)
def test_chromium_renders_the_tables_and_charts(real_reports, tmp_path):
    _, _, compared = real_reports
    url = "file://" + os.path.abspath(compared)
    screenshot = tmp_path / "report.png"
    _chromium(
        tmp_path,
        f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        url,
    )
    assert screenshot.exists()
    pixels = mpimg.imread(str(screenshot))  # floats in [0, 1]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert pixels[..., :3].std() > 0.05  # not a blank page
    # The charts were decoded and drawn: thousands of pixels of the bar colours.
    assert _near(pixels, plots.MODEL_COLORS[0]) > 2000
    assert _near(pixels, plots.MODEL_COLORS[1]) > 2000  # the second model

    dom = _chromium(tmp_path, "--dump-dom", url).stdout
    tables = tables_of(open(compared, encoding="utf-8").read())
    assert dom.count("<table") == sum(len(t) for t in tables.values())
    assert dom.count(IMG) == 3
    for heading in (
        "Headline metrics",
        "AUC, GAUC and population",
        "Calibration",
        "CVR: precision, recall and F1 at the top",
    ):
        assert f"<h3>{heading}</h3>" in dom
