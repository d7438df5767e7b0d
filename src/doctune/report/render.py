"""Render the report as one self-contained HTML page and as Markdown.

The HTML opens from disk with no server and no network: CSS inline, plots embedded as data URIs,
no fonts, scripts or CDNs. Every piece of model text goes through Jinja's autoescape, because a
model's answer is untrusted input ("<script>" in an answer must stay text). The Markdown
escapes what would turn into HTML, a link or an image, or break a table row (report.markdown).

Answer cards show text as it came, within bounds: blank text says "(empty answer)", unbroken
text wraps anywhere, and a long answer shows its start with the rest behind "show more" (a
<details> element: no script, works from disk).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from doctune.foundation.suites import find_suite
from doctune.report import formats as fmt
from doctune.report.labels import shorten_label
from doctune.report.markdown import md_code, md_escape, md_figures, md_quote, md_text
from doctune.report.plots import Plot
from doctune.report.sections import Costs, SampleGroup
from doctune.report.smoke import BANNER
from doctune.report.tables import Cell, ResultsTable

TEMPLATES = Path(__file__).parent / "templates"

EMPTY_ANSWER = "(empty answer)"
# A card shows this much before "show more": about a dozen lines of a two-column card.
CLAMP_CHARS = 700
CLAMP_LINES = 12


def suite_name(suite: str) -> str:
    """A suite as its column is headed; its name when it is no longer described."""
    info = find_suite(suite)
    return info.column if info is not None else suite


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
    smoke: str = ""  # why this is a smoke run (banner at the top); "" for a real run


@dataclass(frozen=True)
class CardText:
    """Text of an answer card: what is shown, what "show more" opens, or that it was blank."""

    head: str
    tail: str = ""
    empty: bool = False


def card_text(text: Any, chars: int = CLAMP_CHARS, lines: int = CLAMP_LINES) -> CardText:
    """Blank text (empty, spaces, newlines only) is marked empty; runs of blank lines shrink to
    one, so a reply of forty newlines and a word is not a tall empty box; long text is split at
    a space or line break near the limit (mid-word only when there is none)."""
    s = re.sub(r"\n\s*\n", "\n\n", str(text or "").strip())
    if not s:
        return CardText(head=EMPTY_ANSWER, empty=True)
    cut = len(s)
    line_ends = [m.start() for m in re.finditer("\n", s)]
    if len(line_ends) >= lines:
        cut = line_ends[lines - 1]
    cut = min(cut, chars)
    if cut >= len(s):
        return CardText(head=s)
    space = max(s.rfind(" ", 0, cut), s.rfind("\n", 0, cut))
    if space > cut // 2:
        cut = space
    return CardText(head=s[:cut].rstrip(), tail=s[cut:].lstrip())


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
        suite_name=suite_name,
        md=md_escape,
        md_text=md_text,
        md_code=md_code,
        md_cell=md_cell,
        md_quote=md_quote,
        card=card_text,
        short_label=shorten_label,
        data_uri=data_uri,
        wbr=wbr,
        cell_main=cell_main,
    )
    return env


def render_html(data: ReportData) -> str:
    template = _env(autoescape=True).get_template("report.html.j2")
    return template.render(r=data, smoke_banner=BANNER)


def render_markdown(data: ReportData, plot_dir: str = "plots") -> str:
    template = _env(autoescape=False).get_template("report.md.j2")
    return template.render(r=data, plot_dir=plot_dir, smoke_banner=BANNER)


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


def md_cell(cell: Cell) -> str:
    """The talk's main line, and the statistics under it in small print."""
    main = md_figures(cell.main)
    if not cell.summary:
        return main
    return f"{main}<br><sub>{md_figures(cell.summary)}</sub>"
