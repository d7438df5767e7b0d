"""Render the report as one self-contained HTML page and as Markdown.

The HTML opens from disk with no server and no network: CSS inline, plots embedded as data URIs,
no fonts, scripts or CDNs. Every piece of model text goes through Jinja's autoescape, because a
model's answer is untrusted input ("<script>" in an answer must stay text). The Markdown
escapes what would turn into HTML or break a table row.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from doctune.report import formats as fmt
from doctune.report.plots import Plot
from doctune.report.sections import Costs, SampleGroup
from doctune.report.tables import Cell, ResultsTable

TEMPLATES = Path(__file__).parent / "templates"

SUITE_NAMES = {
    "train_qa": "train set QA",
    "test_qa": "test set QA",
    "rephrased_qa": "rephrased QA",
}


@dataclass
class ReportData:
    """Everything the templates print, already computed."""

    title: str
    project: str
    table: ResultsTable
    plots: list[Plot] = field(default_factory=list)
    samples: list[SampleGroup] = field(default_factory=list)
    datasets: list[dict[str, str]] = field(default_factory=list)
    token_note: str = ""
    experiments: list[dict[str, str]] = field(default_factory=list)
    costs: Costs = field(default_factory=Costs)
    notes: list[str] = field(default_factory=list)


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the test, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        money=fmt.money,
        number=fmt.number,
        score=_score,
        suite_name=lambda s: SUITE_NAMES.get(s, s),
        md=md_escape,
        md_cell=md_cell,
        md_quote=md_quote,
        data_uri=data_uri,
        wbr=wbr,
        cell_main=cell_main,
    )
    return env


def render_html(data: ReportData) -> str:
    return _env(autoescape=True).get_template("report.html.j2").render(r=data)


def render_markdown(data: ReportData, plot_dir: str = "plots") -> str:
    return _env(autoescape=False).get_template("report.md.j2").render(r=data, plot_dir=plot_dir)


def data_uri(path: Path) -> str:
    """A PNG as a data: URI, so the page carries its images with it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def wbr(text: Any) -> Markup:
    """Escaped text that may break after underscores ("knowledge_<wbr>distillation"), so long
    dataset names wrap in a narrow column instead of mid-word."""
    return Markup(str(escape(text)).replace("_", "_<wbr>"))


def cell_main(text: Any) -> Markup:
    """A cell's main line for HTML: "Success Rate:" above its counts, as the talk sets it, so
    the numbers themselves never wrap."""
    return Markup(str(escape(text)).replace("Success Rate: ", "Success Rate:<br>"))


def _score(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "not scored"
    return f"{value:.2f} / 10"


# -- Markdown escaping --------------------------------------------------------------------------
def md_escape(text: Any) -> str:
    """Text safe inside a Markdown table cell: no HTML, no cell breaks, no line breaks."""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")
    return " ".join(s.split())


def md_cell(cell: Cell) -> str:
    """The talk's main line, and the statistics under it in small print."""
    main = md_escape(cell.main)
    if not cell.summary:
        return main
    return f"{main}<br><sub>{md_escape(cell.summary)}</sub>"


def md_quote(text: Any) -> str:
    """Model text as a Markdown block quote; its HTML shown as text, its lines kept."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;")
    lines = s.splitlines() or [""]
    return "\n".join(f"> {line}".rstrip() for line in lines)
