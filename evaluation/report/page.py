"""The report as one self-contained HTML page, rendered from Jinja2 templates.

Nothing on the page is fetched: no stylesheet, font, script or image URL, so
the file can be mailed, archived with the run or opened on an offline
machine and still look the same.  ``templates/page.html.j2`` lays out a
``views.PageView``.  Autoescaping is on for every template, so each text that
comes from outside (paths, model names, ground-truth metric names) is
escaped where it is printed.

The templates ship as package data (setup.py), and PackageLoader finds them
through the package.  An installed report therefore works without this
source tree.
"""

from __future__ import annotations

import datetime
import functools
import os
from typing import Optional

import jinja2

from evaluation.report import layout
from evaluation.report.inputs import ReportInput
from evaluation.report.views import build_page
from transform import features

TEMPLATE = "page.html.j2"


def utc(moment: Optional[datetime.datetime]) -> str:
    """A moment as UTC, so reports made in different time zones read alike."""
    if moment is None:
        return layout.MISSING
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    """The templates' environment, made once: Jinja2 caches compiled templates in it.

    StrictUndefined makes a misspelt field fail the render.  Without it, the
    field would silently print as an empty cell.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evaluation.report", "templates"),
        # '.html.j2' does not end in '.html', so it is named; default=True
        # escapes in any template added under another name as well.
        autoescape=jinja2.select_autoescape(("html", "html.j2"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(utc=utc, thousands=layout.format_count)
    env.globals.update(missing=layout.MISSING, slice_key=features.SLICE_KEY)
    return env


def render_report(
    primary: ReportInput,
    compare: Optional[ReportInput] = None,
    generated_at: Optional[datetime.datetime] = None,
) -> str:
    """The whole page as an HTML string."""
    page = build_page(primary, compare, generated_at)
    return environment().get_template(TEMPLATE).render(page=page)


def write_report(
    primary: ReportInput,
    output_path: str,
    compare: Optional[ReportInput] = None,
) -> str:
    """Writes the page for ``primary`` (compared with ``compare``); returns its path."""
    page = render_report(primary, compare)
    directory = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(directory, exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as f:
        f.write(page)
    return os.path.abspath(output_path)
