"""Every cell says what its number counts (n, excluded items by kind, replies counted wrong, how
letters were read), rows carry short names with the full spec kept, and results.csv has both."""

from __future__ import annotations

import csv
import io

from tests.report.factories import GPT, GPT_BASE, counted_scores, judge_score

from doctune.report import counts
from doctune.report.labels import short_label, short_spec, shorten_label
from doctune.report.render import ReportData, render_html, render_markdown
from doctune.report.tables import build_results_table, results_csv

ADAPTER_SPEC = (
    "hf:/work/runs/2026-12-02/models/tiny-model+/work/runs/2026-12-02/out-smoke/train/"
    "tiny-model--pdf_synthetic--smoke/adapter"
)


def cells():
    row = build_results_table(counted_scores()).rows[0]
    return row.cells["test_qa"], row.cells["task"], row.cells["mmlu"]


def test_excluded_items_are_listed_by_kind() -> None:
    qa, quiz, _ = cells()
    assert (
        "n=20, 5 excluded: 3 judge failed, 1 model call failed, 1 prompt exceeds context"
        in qa.details
    )
    assert "n=100, 1 excluded: 1 prompt exceeds context" in quiz.details
    # The compact Markdown line keeps them too.
    assert "5 excluded: 3 judge failed" in qa.summary


def test_cut_off_and_no_letter_are_counted_wrong_and_shown_apart() -> None:
    qa, quiz, mmlu = cells()
    assert "counted wrong: 4 cut off, 3 no letter" in quiz.details
    assert "counted wrong: 7 no letter" in mmlu.details  # MMLU's no-letter replies too
    # A cut-off QA answer is judged as written, not counted wrong.
    assert "2 cut off (judged as written)" in qa.details
    assert "counted wrong: 4 cut off, 3 no letter" in quiz.summary


def test_extraction_paths_and_their_agreement() -> None:
    _, quiz, mmlu = cells()
    line = "letters: 92 by rules, 8 by the judge model; agreement 19/20 on an audited sample"
    assert line in quiz.details and line in quiz.summary
    assert not any(d.startswith("letters:") for d in mmlu.details)
    rules_only = {"by_rules": 10.0, "by_model": 0.0, "extraction_audited": 0.0}
    quiz = counted_scores()[1].model_copy(update={"extra": rules_only})
    assert counts.extraction_line(quiz) == "letters: 10 by rules"
    quiz.extra.update(by_model=2.0, extraction_audited=20.0, extraction_agreement=1.0)
    assert counts.extraction_line(quiz).endswith("agreement 20/20 on an audited sample")


def test_short_specs() -> None:
    assert short_spec(ADAPTER_SPEC) == "tiny-model + tiny-model--pdf_synthetic--smoke/adapter"
    assert short_spec("hf:Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert short_spec("hf:/tmp/tiny/") == "tiny"
    assert short_spec("hf:./models/merged") == "models/merged"
    assert short_spec("openai:gpt-4o-mini") == "openai:gpt-4o-mini"
    assert short_spec("not a spec") == "not a spec"
    assert short_label("hf:/a/b/c/tiny (base)", "hf:/a/b/c/tiny") == "tiny (base)"
    assert short_label("exp3 (pdf_synthetic)", ADAPTER_SPEC) == "exp3 (pdf_synthetic)"
    assert shorten_label("hf:/a/b/c/tiny (base)") == "tiny (base)"
    long = shorten_label("x" * 100)
    assert len(long) == 64 and "…" in long


def test_rows_show_a_short_name_with_the_full_spec_on_hover_and_in_the_csv() -> None:
    base_spec = ADAPTER_SPEC.split("+")[0]
    scores = [
        judge_score(f"{base_spec} (base)", base_spec, "base", "test_qa", "d", 5.0, base=base_spec),
        judge_score(ADAPTER_SPEC, ADAPTER_SPEC, "baseline", "test_qa", "d", 4.0),
    ]
    table = build_results_table(scores)
    assert [r.short for r in table.rows] == [
        "tiny-model (base)",
        "tiny-model + tiny-model--pdf_synthetic--smoke/adapter",
    ]
    html = render_html(ReportData(title="t", project="p", table=table))
    assert f'<td class="model" title="{ADAPTER_SPEC}"><b>tiny-model + tiny-model' in html
    assert f"<b>{ADAPTER_SPEC}" not in html
    md = render_markdown(ReportData(title="t", project="p", table=table))
    assert "| **tiny-model (base)** |" in md
    rows = list(csv.DictReader(io.StringIO(results_csv(scores))))
    assert [(r["label"], r["spec"]) for r in rows] == [
        ("tiny-model (base)", base_spec),
        ("tiny-model + tiny-model--pdf_synthetic--smoke/adapter", ADAPTER_SPEC),
    ]


def test_csv_has_exclusions_by_kind_and_the_wrong_but_counted_kinds() -> None:
    rows = list(csv.DictReader(io.StringIO(results_csv(counted_scores()))))
    qa, quiz, mmlu = rows
    assert qa["excluded_judge_failed"] == "3" and qa["excluded_answer_failed"] == "1"
    assert quiz["excluded_prompt_exceeds_context"] == "1" and quiz["excluded_judge_failed"] == "0"
    assert (quiz["cut_off"], quiz["no_letter"], mmlu["no_letter"]) == ("4.0", "3.0", "7.0")
    assert quiz["by_model"] == "8.0" and quiz["extraction_agreement"] == "0.95"
    assert {r["smoke"] for r in rows} == {"false"}
    assert rows[0]["model"] == GPT_BASE and rows[0]["spec"] == GPT
