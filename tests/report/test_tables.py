"""The results table from fixture scores: the talk's numbers in the talk's form, rows in the
talk's order, statistics under every number, and the CSV beside it."""

from __future__ import annotations

import csv
import io

import pytest
from tests.report.factories import (
    BIOMEDLM,
    GPT,
    GPT_BASE,
    GPT_KD,
    GPT_PDF,
    JUDGE,
    PROMPT_HASH,
    QWEN_BASE,
    QWEN_KD,
    judge_score,
    paired,
    rate_score,
    talk_scores,
)

from doctune.foundation.evalrecords import SuiteScore
from doctune.report import formats as fmt
from doctune.report.tables import NOT_EVALUATED, Row, build_results_table, results_csv


def rows_by_label() -> dict[tuple[str, str], Row]:
    table = build_results_table(talk_scores())
    return {(r.label, r.dataset): r for r in table.rows}


def main_line(row: Row) -> list[str]:
    return [row.cells[s].main for s in ("train_qa", "test_qa", "rephrased_qa", "task", "mmlu")]


def test_finetuned_rows_reproduce_the_talks_cells() -> None:
    rows = rows_by_label()
    assert main_line(rows[(GPT_PDF, "pdf_synthetic")]) == [
        "5.86 > 7.29 +14.3 %",
        "5.25 > 5.96 +7.1 %",
        "5.88 > 7.16 +12.8 %",
        "Success Rate: 58/87 > 50/87 -9.2 %",
        "56.0 > 51.8 -4.2 %",
    ]
    assert main_line(rows[(GPT_KD, "knowledge_distillation")]) == [
        "5.86 > 7.18 +13.2 %",
        "5.25 > 7.29 +20.4 %",
        "5.88 > 7.31 +14.3 %",
        "Success Rate: 58/87 > 57/87 -1.1 %",
        "56.0 > 55.5 -0.5 %",
    ]
    assert main_line(rows[(QWEN_KD, "knowledge_distillation")]) == [
        "4.40 > 6.18 +17.8 %",
        "4.38 > 5.58 +12.0 %",
        "3.62 > 5.89 +22.7 %",
        "Success Rate: 54/87 > 58/87 +4.6 %",
        "20.3 > 23.7 +3.4 %",
    ]


def test_rows_in_the_talks_order_with_base_rag_and_baseline_rows() -> None:
    table = build_results_table(talk_scores())
    assert [(r.label, r.dataset, r.kind) for r in table.rows] == [
        (GPT_BASE, "pdf_synthetic", "base"),
        (GPT_BASE, "knowledge_distillation", "base"),
        (f"{GPT_BASE} + RAG", "pdf_synthetic", "base"),
        (GPT_PDF, "pdf_synthetic", "finetuned"),
        (GPT_KD, "knowledge_distillation", "finetuned"),
        (QWEN_BASE, "knowledge_distillation", "base"),
        (QWEN_KD, "knowledge_distillation", "finetuned"),
        (BIOMEDLM, "knowledge_distillation", "baseline"),
    ]
    assert [h for _, h in table.columns] == [
        "train set QA",
        "test set QA",
        "test with rephrased QA",
        "Task",
        "Task + prompting",
        "Task (MMLU)",
    ]
    assert table.judges == [(JUDGE, PROMPT_HASH)]
    assert set(table.rubric) == {"accuracy", "completeness", "clarity"}


def test_single_cells_show_interval_counts_and_chance() -> None:
    rows = rows_by_label()
    base = rows[(GPT_BASE, "pdf_synthetic")]
    assert base.cells["train_qa"].main == "5.86"
    assert base.cells["train_qa"].details[:2] == ["95 % CI [5.46, 6.26]", "n=25, 0 excluded"]
    assert base.cells["train_qa"].trend == ""
    assert base.cells["task"].main == "Success Rate: 58/87"
    assert "chance 25 %" in base.cells["task"].details
    assert base.cells["task"].summary == "95 % CI [56.7, 76.7] %; n=87, 0 excluded; chance 25 %"
    assert base.cells["mmlu"].main == "56.0"
    assert base.cells["mmlu"].details[0] == "95 % CI [46.0, 66.0] %"

    bio = rows[(BIOMEDLM, "knowledge_distillation")]
    assert main_line(bio) == ["3.13", "2.71", "3.01", "Success Rate: 44/87", NOT_EVALUATED]
    # Scores written before exclusions had kinds still say how many were left out.
    assert "n=25, 2 excluded: 2 (reason not recorded)" in bio.cells["train_qa"].details
    assert "2 excluded" in bio.cells["train_qa"].summary
    assert bio.cells["task_prompted"].score is None

    rag = rows[(f"{GPT_BASE} + RAG", "pdf_synthetic")]
    assert rag.cells["test_qa"].main == "6.40"
    assert [rag.cells[s].main for s in ("train_qa", "task", "mmlu")] == [NOT_EVALUATED] * 3


def test_paired_cells_carry_the_difference_interval_and_a_trend() -> None:
    row = rows_by_label()[(GPT_PDF, "pdf_synthetic")]
    train = row.cells["train_qa"]
    assert train.details[0] == "Δ 95 % CI [+11.3, +17.3], paired n=25"
    assert train.summary == "Δ 95 % CI [+11.3, +17.3], paired n=25; n=25, 0 excluded"
    assert train.trend == "up"
    assert "after: 95 % CI [6.89, 7.69]; n=25, 0 excluded" in train.details
    assert "before: 95 % CI [5.46, 6.26]; n=25, 0 excluded" in train.details
    # Reference metrics before > after (the fixture's token F1 is the judge mean / 20).
    assert any("F1 0.29 > 0.36" in d for d in train.details)
    assert row.cells["task"].trend == "flat"  # the interval [-21.2, +2.8] holds zero
    assert row.cells["mmlu"].trend == "down"
    assert row.base_label == GPT_BASE


def test_unpaired_comparison_is_labelled_and_uses_the_base_row() -> None:
    scores = [
        judge_score(GPT_BASE, GPT, "base", "test_qa", "pdf_synthetic", 5.0, base=GPT),
        judge_score(
            GPT_PDF, "openai:ft:x", "finetuned", "test_qa", "pdf_synthetic", 6.0,
            base=GPT, trained_on="pdf_synthetic",
        ),
    ]  # fmt: skip
    cell = build_results_table(scores).rows[1].cells["test_qa"]
    assert cell.main == "5.00 > 6.00 +10.0 %"
    assert cell.details[0] == "unpaired (before and after on different items)"
    assert cell.trend == ""


def test_rates_in_percent_when_the_base_row_is_missing() -> None:
    score = rate_score(
        GPT_PDF, "openai:ft:x", "finetuned", "task", 50, base=GPT,
        paired=paired(GPT_BASE, 58 / 87, 50 / 87),
    )  # fmt: skip
    cell = build_results_table([score]).rows[0].cells["task"]
    # Paired on 25 items: no count over 87 can be claimed for the base, so rates in percent.
    assert cell.main == "Success Rate: 66.7 > 57.5 -9.2 %"


def test_a_dataset_other_than_the_training_one_gets_its_own_row() -> None:
    scores = [
        judge_score(
            GPT_KD, "openai:ft:kd", "finetuned", suite, dataset, 6.0,
            base=GPT, trained_on="knowledge_distillation",
        )
        for dataset in ("pdf_synthetic", "knowledge_distillation")
        for suite in ("train_qa", "test_qa")
    ]  # fmt: skip
    rows = build_results_table(scores).rows
    assert [r.dataset for r in rows] == [
        "knowledge_distillation",
        "pdf_synthetic (trained on knowledge_distillation)",
    ]


@pytest.mark.parametrize(
    ("metric", "diff", "expected"),
    [
        ("judge", 1.43, "+14.3 %"),
        ("judge", -0.42, "-4.2 %"),
        ("judge", -0.001, "0.0 %"),
        ("success_rate", -8 / 87, "-9.2 %"),
        ("accuracy", 0.034, "+3.4 %"),
        ("judge", None, "n/a"),
    ],
)
def test_change_is_in_percent_of_the_scale(metric: str, diff: float | None, expected: str) -> None:
    assert fmt.change(metric, diff) == expected


def test_number_formats() -> None:
    assert fmt.value("judge", 7.2912) == "7.29"
    assert fmt.value("accuracy", 0.5183) == "51.8"
    assert fmt.count(None, 87, 58 / 87) == "58/87"
    assert fmt.count(50, 87) == "50/87"
    assert fmt.interval("success_rate", 0.5, 0.7) == "[50.0, 70.0] %"
    assert fmt.change_interval("judge", 0.81, 2.05) == "[+8.1, +20.5]"
    assert fmt.chance("success_rate", 0.25) == "chance 25 %"
    assert fmt.money(182) == "$182.00"
    assert fmt.money(0.0042) == "$0.0042"
    assert fmt.seconds(95) == "95.0 s"
    assert fmt.seconds(1800) == "30.0 min"


def test_results_csv_has_every_score_with_its_pair_and_extras() -> None:
    scores = talk_scores()
    rows = list(csv.DictReader(io.StringIO(results_csv(scores))))
    assert len(rows) == len(scores)
    train = next(r for r in rows if r["model"] == GPT_PDF and r["suite"] == "train_qa")
    assert float(train["paired_diff"]) == pytest.approx(1.43)
    assert train["paired_versus"] == GPT_BASE
    assert float(train["mean"]) == pytest.approx(7.29)
    assert train["judge"] == JUDGE and train["prompt_hash"] == PROMPT_HASH
    assert float(train["token_f1"]) == pytest.approx(7.29 / 20, abs=1e-3)
    task = next(r for r in rows if r["model"] == BIOMEDLM and r["suite"] == "task")
    assert (task["successes"], task["n"], task["paired_diff"]) == ("44", "87", "")


def test_no_scores_no_rows() -> None:
    table = build_results_table([])
    assert table.rows == [] and table.judges == []


def test_every_score_appears_in_some_cell() -> None:
    """Nothing the evaluation measured is dropped from the table."""
    scores = talk_scores()
    table = build_results_table(scores)
    shown = {id(c.score) for r in table.rows for c in r.cells.values() if c.score is not None}
    missing = [s for s in scores if id(s) not in shown]
    assert missing == [], [(s.model, s.suite, s.dataset) for s in missing]
    assert isinstance(scores[0], SuiteScore)
