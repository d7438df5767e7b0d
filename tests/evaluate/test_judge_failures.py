"""Failed judge and answering calls through the evaluate stage, against the loopback server:
a judge that garbles 60 % of its replies and then recovers, a judge call that fails after its
retries, an answering call that fails, and endpoints that are down or refuse (the stage stops).

The project is evalkit's: three answering models, the QA suites judged by `openai:judge`; the
config sets `max_retries: 0` (a fault is final at once) and one structured re-ask."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from evalkit import answering, between, judging, make_project, run_evaluate

from doctune.cli import main
from doctune.context import RunContext
from doctune.evaluate.judge import AnswerJudgement, judge_messages
from doctune.evaluate.mmlu import MMLUSuite, load_items
from doctune.foundation.config import ModelSettings
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.foundation.errors import ModelError
from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.jsonl import read_jsonl
from doctune.models import ModelClient, parse_spec
from doctune.models.experiments import ModelRef
from doctune.models.openai import OpenAIBackend
from doctune.pipeline import StageResult, get_stage, is_up_to_date, run_stage
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import HTTPFault, garbled_prompt, garbling, prompt_text

QA = ["train_qa", "test_qa", "rephrased_qa"]
RATE = 0.6


@pytest.fixture
def server(fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIServer:
    monkeypatch.delenv("MMLU_DIR", raising=False)
    fake_openai.responder = answering
    return fake_openai


def healthy(body: dict[str, Any]) -> str:
    """evalkit's judge without its one permanently unusable question: every reply is valid."""
    messages = [
        {**m, "content": m["content"].replace("GARBAGE", "Garbled")} for m in body["messages"]
    ]
    return judging({**body, "messages": messages})


def results(project: Path) -> list[ItemResult]:
    ctx = RunContext(project, show_progress=False)
    return [
        r
        for a in ctx.inputs("answers", stage="evaluate")
        for r in read_jsonl(ctx.path(a), ItemResult)
    ]


def rows(project: Path) -> list[SuiteScore]:
    return read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)


def rerun_evaluate(project: Path) -> StageResult | None:
    """The evaluate stage as a plain `doctune evaluate` runs it: skipped when up to date."""
    ctx = RunContext(project, show_progress=False)

    async def go() -> StageResult | None:
        try:
            return await run_stage(ctx, get_stage("evaluate"))
        finally:
            await ctx.aclose()

    return asyncio.run(go())


def up_to_date(project: Path) -> bool:
    return is_up_to_date(RunContext(project, show_progress=False), get_stage("evaluate"))


def judge_prompt(r: ItemResult) -> str:
    return judge_messages(r.question, r.reference or "", r.answer)[-1].content


def key(r: ItemResult) -> tuple[str, str, str]:
    return (r.model, r.suite, r.item_id)


def test_a_garbling_judge_then_a_healthy_one_judges_every_item_it_excluded(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.responders[AnswerJudgement.__name__] = garbling(healthy, RATE)
    project = make_project(tmp_path / "p", {"evaluate": {"suites": QA}})
    run_evaluate(project)
    first = results(project)
    garbled = {key(r) for r in first if garbled_prompt(judge_prompt(r), RATE)}
    assert 0.4 * len(first) < len(garbled) < 0.8 * len(first)
    excluded = {key(r) for r in first if r.excluded}
    assert excluded == garbled
    for r in first:
        if r.excluded:
            assert r.exclusion == "judge_failed" and r.scores["judge"] is None
            assert r.excluded.startswith("judge: invalid reply after 2 attempts")
    # The table counts each row's exclusions, by kind.
    for row in rows(project):
        mine = [r for r in first if (r.model, r.suite) == (row.model, row.suite)]
        assert row.exclusions == ({"judge_failed": row.excluded} if row.excluded else {})
        assert row.excluded == sum(key(r) in garbled for r in mine)
        assert row.n == len(mine) - row.excluded
    ctx = RunContext(project)
    assert ctx.cache is not None and len(ctx.cache.failures()) == len(
        {judge_prompt(r) for r in first if key(r) in garbled}
    )
    ctx.cache.close()

    # The stage kept its results but is out of date: the judge calls it could not make are
    # still to be asked.
    assert not up_to_date(project)

    # The endpoint recovered: the same project and cache, a plain rerun (no --force).
    server.responders[AnswerJudgement.__name__] = healthy
    seen = len(server.bodies)
    assert rerun_evaluate(project) is not None
    asked = server.bodies[seen:]
    assert asked and all(b.get("response_format") for b in asked)  # no answer asked again
    assert len(asked) == len({judge_prompt(r) for r in first if key(r) in garbled})
    second = {key(r): r for r in results(project)}
    assert all(r.excluded is None and r.scores["judge"] is not None for r in second.values())
    assert all(second[k].scores["judge"] is not None for k in excluded)
    assert all(row.excluded == 0 for row in rows(project))
    ctx = RunContext(project)
    assert ctx.cache is not None and ctx.cache.failures() == []
    ctx.cache.close()
    # Every call answered: up to date, and a third run asks nothing.
    assert up_to_date(project)
    calls = server.completions
    assert rerun_evaluate(project) is None and server.completions == calls


FLAKY = "Which catalyst is used in the acylation?"


def test_a_judge_call_that_fails_excludes_its_items_and_the_stage_goes_on(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    def one_fails(body: dict[str, Any]) -> str:
        if FLAKY in between(prompt_text(body), "Question:", "Reference answer:"):
            raise HTTPFault(500, "judge overloaded")
        return healthy(body)

    server.responders[AnswerJudgement.__name__] = one_fails
    project = make_project(tmp_path / "p", {"evaluate": {"suites": QA}})
    result = run_evaluate(project)
    out = results(project)
    failed = [r for r in out if r.excluded]
    # Asked in train_qa and (rephrased) in rephrased_qa, by each of the three models.
    assert len(failed) == 6 and all(FLAKY in r.question for r in failed)
    for r in failed:
        assert r.exclusion == "judge_failed" and r.answer  # the model did answer
        assert (
            r.excluded
            == "judge: judge call failed: openai:judge: HTTP 500 after retries: judge overloaded"
        )
        assert r.scores["token_f1"] is not None
    assert all(r.scores["judge"] is not None for r in out if not r.excluded)
    assert result.summary["excluded"] == "judge_failed=6"

    server.responders[AnswerJudgement.__name__] = healthy
    assert rerun_evaluate(project) is not None  # out of date while calls had failed
    assert all(r.excluded is None for r in results(project))


def test_an_answering_call_that_fails_excludes_its_item_unjudged(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    def base_fails_once(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        if body["model"] == "base" and (FLAKY in user or "Which metal hydrogenates" in user):
            raise HTTPFault(502, "bad gateway")
        return answering(body)

    server.responder = base_fails_once
    server.responders[AnswerJudgement.__name__] = healthy
    project = make_project(tmp_path / "p", {"evaluate": {"suites": [*QA, "task"]}})
    run_evaluate(project)
    out = results(project)
    failed = [r for r in out if r.excluded]
    assert {(r.suite, r.exclusion) for r in failed} == {
        ("train_qa", "answer_failed"),
        ("rephrased_qa", "answer_failed"),
        ("task", "answer_failed"),
    }
    assert all(r.model.startswith("openai:base") for r in failed)
    for r in failed:
        assert r.excluded == "answer: openai:base: HTTP 502 after retries: bad gateway"
        assert r.answer == "" and r.judges == []
    task = next(row for row in rows(project) if row.suite == "task" and row.excluded)
    assert task.exclusions == {"answer_failed": 1} and task.n == 3


def test_a_judge_that_answers_nothing_stops_the_stage(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    def down(body: dict[str, Any]) -> str:
        raise HTTPFault(503, "service unavailable")

    server.responders[AnswerJudgement.__name__] = down
    project = make_project(tmp_path / "p", {"evaluate": {"suites": ["test_qa"]}})
    with pytest.raises(ModelError, match="HTTP 503") as err:
        run_evaluate(project)
    assert err.value.exit_code == 4
    assert not (project / "out" / "evaluate" / "scores.jsonl").exists()


def test_a_refused_judge_request_stops_the_stage_at_once(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    def refused(body: dict[str, Any]) -> str:
        raise HTTPFault(404, "The model `judge` does not exist")

    server.responders[AnswerJudgement.__name__] = refused
    project = make_project(tmp_path / "p", {"evaluate": {"suites": QA}})
    with pytest.raises(ModelError, match="HTTP 404"):
        run_evaluate(project)
    assert server.counts["404"] < 12  # not one per item: the first refusal ends the stage


def test_mmlu_generation_isolates_a_failed_call(fake_openai: FakeOpenAIServer) -> None:
    settings = MMLUSettings(
        dir=str(Path(__file__).parent / "mmlu_fixtures"), subjects=["process_engineering"]
    )
    items = load_items(settings)
    flaky = items[2].question

    def one_fails(body: dict[str, Any]) -> str:
        if flaky in body["messages"][-1]["content"]:  # few-shot examples come from dev
            raise HTTPFault(500)
        return "The answer is B."

    fake_openai.responder = one_fails
    model_settings = ModelSettings(
        base_url=fake_openai.base_url,
        api_key="sk-test",  # type: ignore[arg-type]
    )
    backend = OpenAIBackend(parse_spec("openai:fake"), model_settings, timeout_s=5, max_retries=0)
    client = ModelClient(backend, settings=model_settings, stage="evaluate")
    ref = ModelRef(label="chat", spec="openai:fake", kind="baseline")
    out = asyncio.run(MMLUSuite(settings).evaluate(ref, client, items, "plain"))
    failed = [r for r in out if r.excluded]
    assert [r.item_id for r in failed] == [items[2].id]
    assert failed[0].exclusion == "answer_failed" and "HTTP 500" in failed[0].excluded
    assert all(r.extracted == "B" for r in out if not r.excluded)


def test_the_issue_case_through_the_cli(tmp_path: Path, server: FakeOpenAIServer) -> None:
    """`doctune evaluate` against a judge that garbles, then `doctune evaluate` again once it
    recovered: the stage was left out of date, so the second run asks the judge again and ends
    with every item judged (it used to make 0 calls and exclude the same items, unless forced);
    a third run is up to date; a judge down for everything exits 4."""
    project = make_project(tmp_path / "p", {"evaluate": {"suites": QA, "baselines": []}})
    runner = CliRunner()
    server.responders[AnswerJudgement.__name__] = garbling(healthy, RATE)
    first = runner.invoke(main, ["evaluate", str(project), "--no-progress"])
    assert first.exit_code == 0, first.output
    excluded = sum(row.excluded for row in rows(project))
    assert excluded > 0 and "judge_failed=" in first.output
    assert "the stage stays out of date: a rerun asks them again" in first.output
    server.responders[AnswerJudgement.__name__] = healthy
    calls = server.completions
    again = runner.invoke(main, ["evaluate", str(project), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert server.completions > calls and sum(row.excluded for row in rows(project)) == 0
    assert "stays out of date" not in again.output
    calls = server.completions
    third = runner.invoke(main, ["evaluate", str(project), "--no-progress"])
    assert third.exit_code == 0 and "evaluate: up to date" in third.output, third.output
    assert server.completions == calls

    def down(body: dict[str, Any]) -> str:
        raise HTTPFault(503, "service unavailable")

    server.responders[AnswerJudgement.__name__] = down
    # Another project (its own cache): 503 on every judge call.
    fresh = make_project(tmp_path / "q", {"evaluate": {"suites": ["test_qa"], "baselines": []}})
    stopped = runner.invoke(main, ["evaluate", str(fresh), "--no-progress"])
    assert stopped.exit_code == 4 and "HTTP 503" in stopped.output
