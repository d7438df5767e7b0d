"""Model-written text in the report: answer cards that stay sane for empty, newline-only, long
and unbroken text, and a report.md in which no answer, question or reference becomes a link, an
image or HTML (checked by rendering it with markdown-it, a CommonMark renderer)."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from tests.report.factories import GPT_BASE, GPT_PDF, answers, talk_scores

from doctune.foundation.evalrecords import ItemResult
from doctune.report import sections
from doctune.report.markdown import md_code, md_quote, md_text
from doctune.report.render import (
    CLAMP_CHARS,
    EMPTY_ANSWER,
    ReportData,
    card_text,
    render_html,
    render_markdown,
)
from doctune.report.tables import build_results_table

LINK = "[x](javascript:alert(1))"
IMAGE = "![](http://evil/x.png)"
RAW = "<img src=x onerror=alert(1)>"
# markdown-it itself refuses javascript: links, so a plain http link checks the escaping too.
PHISH = "[your results](http://evil/phish)"
HOSTILE = (
    f"See {LINK} and {IMAGE} then {RAW} {PHISH} `code` | cell <https://evil/auto> http://evil/b"
)


def report_with(texts: dict[str, str]) -> ReportData:
    """The fixture report whose fine-tuned answers (and questions, references) are `texts`."""
    items = []
    for a in answers():
        if a.model == GPT_PDF:
            key = a.item_id
            a = a.model_copy(
                update={
                    "answer": texts.get(key, a.answer),
                    "question": texts.get(f"q-{key}", a.question),
                    "reference": texts.get(f"r-{key}", a.reference),
                }
            )
        items.append(a)
    scores = talk_scores()
    return ReportData(
        title="t",
        project="p",
        table=build_results_table(scores),
        samples=sections.sample_groups(scores, items, 4),
    )


def test_blank_long_and_unbroken_text_in_cards() -> None:
    assert card_text("").empty and card_text(" \n\n\t\n").head == EMPTY_ANSWER
    assert card_text("\n" * 40 + "word\n\n\n\n\nnext").head == "word\n\nnext"
    prose = ("The ketone is reduced over Raney nickel. " * 60).strip()
    t = card_text(prose)
    assert len(t.head) <= CLAMP_CHARS and t.head + " " + t.tail == prose
    assert t.head.split()[-1] in prose.split()  # cut between words, not inside one
    unbroken = "x" * 5000
    t = card_text(unbroken)
    assert t.head + t.tail == unbroken and len(t.head) == CLAMP_CHARS
    lines = "\n".join(f"line {i}" for i in range(40))
    assert card_text(lines).head.count("\n") == 11  # a dozen lines, then "show more"
    assert card_text("short answer") == card_text("  short answer \n")


def test_html_cards_show_empty_answers_and_clamp_long_ones() -> None:
    long = "y" * 3000
    html = render_html(report_with({"item-1": "\n\n\n", "item-2": long, "item-3": ""}))
    assert html.count(f'<div class="text empty">{EMPTY_ANSWER}</div>') == 2
    assert "<details><summary>show more (2,300 more characters)</summary>" in html
    assert "overflow-wrap: anywhere" in html


def test_html_escapes_model_text() -> None:
    html = render_html(report_with({"item-1": HOSTILE, "q-item-1": RAW, "r-item-1": LINK}))
    assert "<img src=x" not in html and "onerror=alert(1)>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript' not in html and "<script" not in html.lower()


def rendered(md: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(md)


def test_markdown_carries_no_link_image_or_html_from_model_text() -> None:
    texts = {
        "item-1": HOSTILE,
        "item-2": f"{LINK}\n\n{IMAGE}\n\n{RAW}\n\n[ref]: http://evil/def",
        "q-item-1": f"Q {LINK} {IMAGE} {RAW} {PHISH}",
        "r-item-1": f"R {LINK} {IMAGE} {RAW} {PHISH}",
    }
    md = render_markdown(report_with(texts))
    html = rendered(md)
    # The report's own images (plots) are the only ones; model text made none, nor links or tags.
    assert "<a " not in html
    assert re.findall(r"<img [^>]*>", html) == []
    assert "<img src=x" not in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # The text itself survives, shown as text.
    assert "[x](javascript:alert(1))" in html and "![](http://evil/x.png)" in html
    # Backslash-escaped, it reads the same once rendered.
    assert md_text(LINK) == "\\[x\\]\\(javascript:alert\\(1\\)\\)"


def test_markdown_quotes_tables_and_code_spans_hold_any_text() -> None:
    assert md_quote("\n \n") == f"> *{EMPTY_ANSWER}*"
    assert md_quote("a\nb") == "> a\n> b"
    assert "\\|" in md_text("a | b")
    # GitHub autolinks bare URLs; their scheme is broken by an escape that renders the same.
    assert md_text("http://evil/x") == "http\\://evil/x"
    assert md_text("www.evil.com") == "www\\.evil.com"
    assert rendered(md_text("http://evil/x")).strip() == "<p>http://evil/x</p>"
    assert md_code("a`b") == "``a`b``" and md_code("`x`") == "`` `x` ``"
    assert rendered(md_code("hf:/m+/a`dapter")).strip() == "<p><code>hf:/m+/a`dapter</code></p>"


def test_excluded_reasons_in_markdown_are_escaped() -> None:
    item = ItemResult(
        item_id="item-0",
        suite="test_qa",
        dataset="pdf_synthetic",
        model=GPT_BASE,
        spec="openai:gpt-4o-mini",
        question="q",
        answer="a",
        excluded=f"judge failed: {LINK}",
    )
    group = sections.SampleGroup(
        model=GPT_PDF,
        base=GPT_BASE,
        dataset="pdf_synthetic",
        suite="test_qa",
        samples=[sections._sample(item, item)],
    )
    md = render_markdown(
        ReportData(title="t", project="p", table=build_results_table([]), samples=[group])
    )
    assert "<a " not in rendered(md)


def test_cards_say_when_an_answer_was_cut_off() -> None:
    items = [
        a.model_copy(update={"cut_off": a.model == GPT_PDF and a.item_id == "item-1"})
        for a in answers()
    ]
    scores = talk_scores()
    data = ReportData(
        title="t",
        project="p",
        table=build_results_table(scores),
        samples=sections.sample_groups(scores, items, 4),
    )
    assert render_html(data).count("· cut off at the token limit") == 1
    assert render_markdown(data).count(", cut off at the token limit") == 1
