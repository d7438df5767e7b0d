"""The evaluate stage end to end on a small project, against the loopback server as the answering
models and the judge: rows, paired differences, excluded judge replies, answer files, the
manifest, and a second run that makes no model call."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from evalkit import (
    JUDGE,
    SYSTEM,
    TRAIN,
    answering,
    base_config,
    judging,
    make_project,
    run_evaluate,
)

from doctune.cli import main
from doctune.context import RunContext
from doctune.evaluate.estimate import estimate
from doctune.evaluate.judge import AnswerJudgement, prompt, rubric
from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.stats import talk_form
from doctune.testing.fake_openai import FakeOpenAIServer

BASE = "openai:base (base)"
TUNED = "exp1 (pdf_synthetic)"
BASELINE = "openai:baseline"


@pytest.fixture
def server(fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIServer:
    monkeypatch.delenv("MMLU_DIR", raising=False)
    fake_openai.responder = answering
    fake_openai.responders[AnswerJudgement.__name__] = judging
    return fake_openai


def scores(project: Path) -> dict[tuple[str, str, str | None, str], SuiteScore]:
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    return {(r.model, r.suite, r.dataset, r.variant): r for r in rows}


def test_base_finetuned_and_baseline_rows(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(tmp_path / "p")
    result = run_evaluate(project)
    rows = scores(project)
    qa = [(s, "pdf_synthetic") for s in ("train_qa", "test_qa", "rephrased_qa")]
    quiz = [(s, None) for s in ("task", "task_prompted")]
    expected = {(m, s, d, "plain") for m in (BASE, TUNED, BASELINE) for s, d in qa + quiz}
    assert set(rows) == expected
    assert "mmlu: skipped" in result.summary["skipped"]

    base, tuned = (
        rows[BASE, "train_qa", "pdf_synthetic", "plain"],
        rows[TUNED, "train_qa", "pdf_synthetic", "plain"],
    )
    # One training question makes the judge reply garbage: excluded and counted, not scored.
    assert (base.n, base.excluded, tuned.n, tuned.excluded) == (3, 1, 3, 1)
    assert base.mean == pytest.approx(4.0) and tuned.mean == pytest.approx(9.0)
    assert (tuned.kind, tuned.trained_on, tuned.experiment, tuned.base) == (
        "finetuned",
        "pdf_synthetic",
        "exp1",
        "openai:base",
    )
    assert tuned.paired is not None and tuned.paired.versus == BASE
    assert (tuned.paired.n, tuned.paired.diff) == (3, pytest.approx(5.0))
    assert (tuned.paired.ci_low, tuned.paired.ci_high) == (pytest.approx(5.0), pytest.approx(5.0))
    assert (
        base.paired is None and rows[BASELINE, "train_qa", "pdf_synthetic", "plain"].paired is None
    )
    assert talk_form(base, tuned) == "4.00 > 9.00 +50.0 %"
    assert tuned.judge == JUDGE and tuned.prompt_hash == prompt().hash and tuned.rubric == rubric()
    # The fine-tuned model reproduces every training answer (the garbage-judged one too): the
    # reference metrics, which need no judge, are at 1 over all 4 items.
    assert tuned.extra["token_f1"] == pytest.approx(1.0)
    assert tuned.extra["rouge_l"] == pytest.approx(1.0)
    assert base.extra["token_f1"] < 0.2
    assert tuned.extra["accuracy"] == pytest.approx(9.0)

    test_row = rows[TUNED, "test_qa", "pdf_synthetic", "plain"]
    assert test_row.paired is not None and test_row.paired.diff == pytest.approx(0.0)

    base_task, tuned_task = rows[BASE, "task", None, "plain"], rows[TUNED, "task", None, "plain"]
    assert (base_task.successes, base_task.n, tuned_task.successes) == (1, 4, 2)
    assert base_task.metric == "success_rate" and base_task.chance == pytest.approx(0.25)
    assert base_task.ci_low is not None and base_task.ci_low < 0.25 < base_task.ci_high
    assert tuned_task.paired is not None and tuned_task.paired.diff == pytest.approx(0.25)
    assert talk_form(base_task, tuned_task) == "1/4 > 2/4"
    undecided = rows[BASELINE, "task", None, "plain"]
    assert (undecided.successes, undecided.extra["no_letter"]) == (0, 4.0)


def test_answer_files_manifest_and_prompts(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(tmp_path / "p")
    run_evaluate(project)
    ctx = RunContext(project, show_progress=False)
    answers = ctx.inputs("answers", stage="evaluate")
    assert {a.name for a in answers} == {BASE, TUNED, BASELINE}
    assert len(answers) == 15 and len(ctx.inputs("scores", stage="evaluate")) == 1
    by_path = {a.path: a for a in answers}
    assert any(p.endswith("/train_qa.pdf_synthetic.jsonl") for p in by_path)
    assert any(p.endswith("/task.jsonl") for p in by_path)

    results = [r for a in answers for r in read_jsonl(ctx.path(a), ItemResult)]
    garbage = [r for r in results if r.question.startswith("GARBAGE") and r.suite == "train_qa"]
    assert len(garbage) == 3
    for r in garbage:
        assert r.scores["judge"] is None and r.excluded and "invalid reply" in r.excluded
        assert r.scores["token_f1"] is not None  # reference metrics need no judge
    judged = next(r for r in results if r.suite == "train_qa" and r.excluded is None)
    verdict = judged.judges[0]
    assert (verdict.judge, verdict.prompt_hash) == (JUDGE, prompt().hash) and verdict.rationale
    assert judged.prompt_tokens > 0 and judged.completion_tokens > 0
    task = next(r for r in results if r.suite == "task_prompted" and r.model == TUNED)
    assert task.extracted == "C" and "The knowledge applied in this question is:" in task.prompt

    # What the server saw: the export's system prompt, temperature 0, the bare question.
    asked = [b for b in server.bodies if not b.get("response_format")]
    assert all(b["messages"][0] == {"role": "system", "content": SYSTEM} for b in asked)
    assert all(b["temperature"] == 0 for b in server.bodies)
    assert {b["messages"][-1]["content"] for b in asked} >= {q for q, _ in TRAIN}


def test_second_run_asks_only_what_failed(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(tmp_path / "p")
    run_evaluate(project)
    first = server.completions
    assert first > 0
    before = (project / "out" / "evaluate" / "scores.jsonl").read_bytes()
    run_evaluate(project)  # forced: every answer comes from the cache
    # Failures are not answers: only the judge replies that failed validation (the GARBAGE
    # question of 3 models x 2 QA suites, a first ask and one re-ask each) are asked again.
    assert server.completions - first == 6 * 2
    assert (project / "out" / "evaluate" / "scores.jsonl").read_bytes() == before
    # And the dry run sees every answer cached, and those 6 judge calls still to make.
    ctx = RunContext(project, show_progress=False)
    assert [e.calls for e in estimate(ctx)] == [0, 6]


def test_estimate_counts_answers_and_judging(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(tmp_path / "p", {"evaluate": {"baselines": []}})
    answers, judging_ = estimate(RunContext(project, show_progress=False))
    # base: 4 train + 2 test + 4 rephrased (of train questions, the default) + 4 + 4 quizzes;
    # exp1: the same (the QA suites of its own dataset).
    assert answers.calls == 2 * (4 + 2 + 4 + 8)
    assert judging_.calls == 2 * (4 + 2 + 4)
    assert server.completions == 0


def test_second_judge_agreement(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(
        tmp_path / "p", {"evaluate": {"second_judge": "openai:judge2", "baselines": []}}
    )
    run_evaluate(project, {"suites": ["train_qa"]})
    rows = scores(project)
    tuned = rows[TUNED, "train_qa", "pdf_synthetic", "plain"]
    base = rows[BASE, "train_qa", "pdf_synthetic", "plain"]
    assert tuned.second_judge == "openai:judge2"
    # tuned: 3 reference answers, 9 from the first judge and 7 from the second (one bin,
    # 7-10): full agreement, kappa 1; no spread, so no rank correlation. The garbage item has
    # no score from either judge and is left out of the agreement.
    assert tuned.extra["judge_2"] == pytest.approx(7.0)
    assert tuned.extra["agreement_n"] == 3.0
    assert tuned.extra["agreement_spearman"] is None
    assert tuned.extra["agreement_kappa"] == pytest.approx(1.0)
    # base: 4 from the first judge (bin 4-6), 3 from the second (bin 0-3): never the same bin.
    assert base.extra["judge_2"] == pytest.approx(3.0)
    assert base.extra["agreement_kappa"] == pytest.approx(0.0)
    assert base.mean == pytest.approx(4.0)  # the second judge never changes the score


def test_suites_option_and_unknown_suite(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(tmp_path / "p", {"evaluate": {"baselines": []}})
    run_evaluate(project, {"suites": "task", "models": "base"})
    assert set(scores(project)) == {(BASE, "task", None, "plain")}
    runner = CliRunner()
    bad = runner.invoke(main, ["evaluate", str(project), "--suites", "task,quizz", "--no-progress"])
    assert bad.exit_code == 2 and "unknown suite(s) quizz" in bad.output


def test_cli_evaluate(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project = make_project(tmp_path / "p", {"evaluate": {"baselines": []}})
    runner = CliRunner()
    done = runner.invoke(
        main, ["evaluate", str(project), "--models", "exp1", "--suites", "task", "--no-progress"]
    )
    assert done.exit_code == 0, done.output
    # exp1 alone was asked for; its base joins it, since before/after is the point.
    assert set(scores(project)) == {(BASE, "task", None, "plain"), (TUNED, "task", None, "plain")}


MMLU_FIXTURES = Path(__file__).parent / "mmlu_fixtures"


def test_mmlu_runs_plain_only_through_its_suite(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMLU_DIR", str(MMLU_FIXTURES))
    project = make_project(
        tmp_path / "p", {"evaluate": {"baselines": [], "variants": ["plain", "rag"]}}
    )
    result = run_evaluate(project, {"suites": ["mmlu"]})
    assert result.summary["skipped"] == "none"
    rows = scores(project)
    assert set(rows) == {(BASE, "mmlu", None, "plain"), (TUNED, "mmlu", None, "plain")}
    base, tuned = rows[BASE, "mmlu", None, "plain"], rows[TUNED, "mmlu", None, "plain"]
    # 14 questions: 4 answered A, 9 answered B in the fixture files.
    assert (base.metric, base.n, base.successes, base.chance) == ("accuracy", 14, 4, 0.25)
    assert tuned.successes == 9
    assert tuned.paired is not None and tuned.paired.diff == pytest.approx(5 / 14)
    assert talk_form(base, tuned) == "28.6 > 64.3 +35.7 %"


def test_estimate_before_any_split_extrapolates(tmp_path: Path) -> None:
    project = tmp_path / "fresh"
    project.mkdir()
    config = base_config(
        {
            "evaluate": {
                "models": ["base", "best"],
                "baselines": [],
                "suites": ["train_qa", "task"],
                "datasets": ["pdf_synthetic"],
                "max_items": 10,
            },
            "evalsets": {"quiz": {"count": 5}},
        }
    )
    (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    answers, judged = estimate(RunContext(project, show_progress=False))
    # base now: 10 training questions and 5 quizzes; one fine-tuned model per student and
    # training dataset later (knowledge_distillation, not evaluated here): the 5 quizzes only.
    # Only the QA answers are judged.
    assert (answers.calls, judged.calls) == (10 + 5 + 5, 10)
    assert not answers.exact and "no splits yet" in answers.note
