"""The report stage on a project whose evaluation is done: files, manifest entries, escaping of
hostile model text, the Markdown table, costs, sample answers and when the report is redone."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from click.testing import CliRunner
from tests.report.factories import (
    GPT_BASE,
    GPT_PDF,
    HOSTILE,
    TOTAL_COST,
    USAGE,
    answers,
    experiments,
    judge_score,
    make_project,
    talk_scores,
)

from doctune.cli import main
from doctune.context import USAGE_NAME, RunContext
from doctune.foundation.jsonl import write_json, write_jsonl
from doctune.pipeline import get_stage, run_stage
from doctune.report import sections
from doctune.report.render import ReportData, md_cell, render_html, render_markdown
from doctune.report.tables import Cell, build_results_table

PNG = b"\x89PNG\r\n\x1a\n"


def run_report(ctx: RunContext):  # type: ignore[no-untyped-def]
    return asyncio.run(run_stage(ctx, get_stage("report")))


def test_stage_writes_and_registers_html_markdown_csv_and_plots(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    result = run_report(ctx)
    assert result is not None
    folder = ctx.out_dir / "report"
    registered = {a.path: a for a in ctx.manifest.find("report", stage="report")}
    assert set(registered) == {
        "report/index.html",
        "report/report.md",
        "report/results.csv",
        "report/plots/scores_pdf_synthetic.png",
        "report/plots/scores_knowledge_distillation.png",
        "report/plots/loss.png",
    }
    for path in folder.glob("plots/*.png"):
        assert path.read_bytes()[:8] == PNG
        assert path.stat().st_size > 10_000
    assert result.summary["rows"] == 8
    assert result.summary["plots"] == 3
    assert result.summary["samples"] == 3
    assert result.summary["total_cost_usd"] == TOTAL_COST


def test_html_is_self_contained_and_escapes_model_text(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    run_report(ctx)
    html = (ctx.out_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "onerror=alert(1)>" not in html  # the hostile <img> never became a tag
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    # Opened from disk: images inline, no stylesheet, font or script from anywhere else.
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 3
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html
    assert "5.86 &gt; 7.29 +14.3 %" in html
    assert "Success Rate:<br>58/87 &gt; 50/87 -9.2 %" in html
    assert "openai:gpt-4o</code> (prompt a1b2c3d4)" in html
    assert "Are the facts, numbers and units right?" in html  # the rubric is stated


def test_markdown_has_the_talks_table(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    run_report(ctx)
    md = (ctx.out_dir / "report" / "report.md").read_text(encoding="utf-8")
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| LLMs | Dataset |"))
    assert lines[header] == (
        "| LLMs | Dataset | train set QA | test set QA | test with rephrased QA | Task "
        "| Task + prompting | Task (MMLU) |"
    )
    table = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert len(table) == 8
    # Every row has the same number of cells as the header: no unescaped "|" broke one.
    assert {line.count(" | ") for line in table} == {lines[header].count(" | ")}
    pdf_row = next(line for line in table if line.startswith(f"| **{GPT_PDF}**"))
    assert (
        "5.86 > 7.29 +14.3 %<br><sub>Δ 95 % CI [+11.3, +17.3], paired n=25; n=25, 0 excluded</sub>"
    ) in pdf_row
    assert (
        "Success Rate: 58/87 > 50/87 -9.2 %<br><sub>Δ 95 % CI [-21.2, +2.8], paired n=25; "
        "n=87, 0 excluded; chance 25 %</sub>"
    ) in pdf_row
    assert "56.0 > 51.8 -4.2 %" in pdf_row
    assert "| **openai:BioMedLM** (baseline) |" in md
    assert "![Scores per suite: pdf_synthetic](plots/scores_pdf_synthetic.png)" in md
    # Model text is quoted with its HTML shown as text.
    assert "> &lt;script>alert\\('pwned'\\)&lt;/script>&lt;img src=x onerror=alert\\(1\\)>" in md
    assert "<script" not in md
    assert "**total** |" in md and "**$57.50**" in md


def test_hostile_labels_and_questions_are_escaped_in_both_outputs() -> None:
    scores = [
        judge_score(f"{HOSTILE}|x", "openai:evil", "baseline", "test_qa", "pdf|synthetic", 5.0)
    ]
    data = ReportData(title="t <b>", project="p", table=build_results_table(scores))
    html = render_html(data)
    assert "<script" not in html and "t &lt;b&gt;" in html
    md = render_markdown(data)
    assert "<script" not in md and "<img" not in md
    row = next(line for line in md.splitlines() if "openai:evil" not in line and "pwned" in line)
    assert row.count(" | ") == 7  # the "|" in the label and dataset are escaped
    assert md_cell(Cell(main="a|b", summary="<i>")) == "a\\|b<br><sub>&lt;i></sub>"


def test_costs_per_stage_and_in_total() -> None:
    costs = sections.costs(USAGE, experiments())
    by_stage = {row.stage: row for row in costs.stages}
    assert list(by_stage) == ["synthesize", "evaluate", "train"]
    assert by_stage["evaluate"].calls == 500
    assert by_stage["evaluate"].cost_usd == 3.75
    assert by_stage["evaluate"].new_cost_usd == 3.5
    assert by_stage["train"].cost_usd == 52.5  # the two hosted jobs
    assert costs.total.cost_usd == TOTAL_COST
    assert costs.total.calls == 600
    assert costs.total.prompt_tokens == 160_000
    assert sections.costs({}, []).total.cost_usd == 0


def test_total_cost_in_the_page(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    run_report(ctx)
    html = (ctx.out_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert '<td class="num" id="total-cost">$57.50</td>' in html


def test_samples_pair_the_same_items_before_and_after() -> None:
    groups = sections.sample_groups(talk_scores(), answers(n=6), per_dataset=3)
    assert len(groups) == 1
    group = groups[0]
    assert (group.model, group.base, group.dataset, group.suite) == (
        GPT_PDF,
        GPT_BASE,
        "pdf_synthetic",
        "test_qa",
    )
    assert len(group.samples) == 3
    for sample in group.samples:
        assert sample.before.model == GPT_BASE and sample.after.model == GPT_PDF
        assert sample.item_id.split("-")[1] in sample.question
        assert sample.after.score is not None and sample.before.score is not None
    # Picked by a hash of the id, not by score: the same items whatever the answers say.
    shuffled = list(reversed(answers(n=6)))
    again = sections.sample_groups(talk_scores(), shuffled, per_dataset=3)[0]
    assert [s.item_id for s in again.samples] == [s.item_id for s in group.samples]
    assert sections.sample_groups(talk_scores(), answers(), per_dataset=0) == []


def test_dataset_statistics_rows(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    run_report(ctx)
    md = (ctx.out_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert re.search(r"\| pdf_synthetic \| 5 \| 2 \| 2 \| 9 \| \d+ \|", md)
    assert re.search(r"\| knowledge_distillation \| 8 \| 2 \| 1 \| 11 \| \d+ \|", md)
    assert "Token counts are estimates" in md


def test_report_without_training_export_or_usage_says_what_is_missing(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, with_extras=False)
    result = run_report(ctx)
    assert result.summary["plots"] == 2  # no loss curves without a log
    md = (ctx.out_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "No experiments table" in md
    assert "No dataset statistics" in md
    assert "No usage recorded" in md
    assert not (ctx.out_dir / "report" / "plots" / "loss.png").exists()


def test_second_run_is_up_to_date_until_an_input_changes(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    assert run_report(ctx) is not None
    assert run_report(ctx) is None
    # The report's own entry in usage.json is not an input (it would change the report forever).
    usage_path = ctx.out_dir / USAGE_NAME
    usage = json.loads(usage_path.read_text())
    write_json(usage_path, {**usage, "report": {}})
    assert run_report(ctx) is None
    write_json(usage_path, {**usage, "curate": {"m": {"calls": 1, "cost_usd": 9.0}}})
    result = run_report(ctx)
    assert result is not None and result.summary["total_cost_usd"] == TOTAL_COST + 9.0
    assert run_report(ctx) is None
    log = ctx.out_dir / "train" / experiments()[0].id / "training_log.jsonl"
    write_jsonl(log, [{"step": 1, "train_loss": 1.0}, {"step": 2, "train_loss": 0.5}])
    assert run_report(ctx) is not None


def test_stale_plots_are_removed(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    run_report(ctx)
    stale = ctx.out_dir / "report" / "plots" / "scores_old_dataset.png"
    stale.write_bytes(PNG)
    asyncio.run(run_stage(ctx, get_stage("report"), force=True))
    assert not stale.exists()


def test_cli_report_command(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    result = CliRunner().invoke(main, ["report", str(ctx.project_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (ctx.out_dir / "report" / "index.html").is_file()
    assert "outputs:" in result.output


def test_cli_report_before_evaluate_is_a_clear_error(tmp_path: Path) -> None:
    project = tmp_path / "empty"
    project.mkdir()
    (project / "doctune.yaml").write_text("name: empty\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["report", str(project)])
    assert result.exit_code == 2
    assert "reads scores" in result.output


def test_quiz_and_mmlu_answers_are_not_read(tmp_path: Path) -> None:
    """Only QA answers are sampled: a (here unreadable) MMLU answer file is never opened."""
    ctx = make_project(tmp_path)
    mmlu = ctx.out_dir / "evaluate" / "answers" / "gpt" / "mmlu.jsonl"
    mmlu.parent.mkdir(parents=True, exist_ok=True)
    mmlu.write_text("not a record\n", encoding="utf-8")
    artifacts = ctx.manifest.find_stage("evaluate")
    artifacts.append(ctx.manifest.artifact("evaluate", "answers", mmlu, name=GPT_BASE))
    ctx.manifest.replace_stage("evaluate", artifacts, "evaluate-fingerprint-2")
    result = run_report(ctx)
    assert result is not None and result.summary["samples"] == 3
