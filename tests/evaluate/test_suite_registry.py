"""The suite registry: a new suite is one class plus one `register` line. A toy suite defined
here runs through the evaluate stage against the loopback server, and its column shows in the
report, with no other file knowing its name."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evalkit import make_project, run_evaluate

from doctune.context import RunContext
from doctune.evaluate.suites import SuiteEnv, SuiteKind, register, suite_kind, unregister
from doctune.foundation.errors import ConfigError
from doctune.foundation.evalrecords import EvalItem, ItemResult, SuiteScore, Variant
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.suites import BUILTIN, SuiteInfo, known_suites
from doctune.models.base import Message
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.pipeline import get_stage, run_stage
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import prompt_text


# -- the toy suite: everything a new suite needs ----------------------------------------------
class YesNoSuite(SuiteKind):
    """Two yes/no questions; a reply starting with the right word is correct."""

    info = SuiteInfo("yes_no", "Yes/no", "success_rate", source="questions")

    def items(self, ctx: RunContext) -> dict[str | None, list[EvalItem]]:
        questions = {"Is ibuprofen an NSAID?": "yes", "Is ibuprofen a steroid?": "no"}
        return {
            None: [
                EvalItem(id=f"yn{i}", suite="yes_no", question=q, answer=a)
                for i, (q, a) in enumerate(questions.items())
            ]
        }

    def runner(self, env: SuiteEnv) -> YesNoSuite:
        return self

    async def evaluate(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]:
        asked = [[Message(role="user", content=f"{i.question} Answer yes or no.")] for i in items]
        replies = await asyncio.gather(*(client.chat(m, temperature=0.0) for m in asked))
        return [
            ItemResult(
                item_id=i.id,
                suite="yes_no",
                variant=variant,
                model=model.label,
                spec=model.spec,
                question=i.question,
                answer=r.text,
                scores={"correct": float(r.text.lower().startswith(i.answer or ""))},
            )
            for i, r in zip(items, replies, strict=True)
        ]


@pytest.fixture
def yes_no() -> Iterator[None]:
    register(YesNoSuite())
    yield
    unregister("yes_no")


# -- the tests ----------------------------------------------------------------------------------
def always_yes(body: dict[str, Any]) -> str:
    return "Yes." if "yes or no" in prompt_text(body) else "I do not know."


def test_a_registered_suite_runs_through_evaluate_and_the_report(
    tmp_path: Path, fake_openai: FakeOpenAIServer, yes_no: None
) -> None:
    fake_openai.responder = always_yes
    evaluate = {"models": ["base"], "baselines": [], "suites": ["yes_no", "task"]}
    project = make_project(tmp_path / "p", {"evaluate": evaluate}, tuned=False)
    run_evaluate(project)
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    toy = next(r for r in rows if r.suite == "yes_no")
    assert (toy.metric, toy.n, toy.successes, toy.mean) == ("success_rate", 2, 1, 0.5)

    ctx = RunContext(project, show_progress=False)
    asyncio.run(run_stage(ctx, get_stage("report"), force=True))
    md = (project / "out" / "report" / "report.md").read_text(encoding="utf-8")
    header = next(line for line in md.splitlines() if line.startswith("| LLMs |"))
    assert "| Yes/no |" in header and "| Task |" in header
    assert "Success Rate: 1/2" in md


def test_unregistered_suite_is_refused_with_the_known_names(tmp_path: Path, yes_no: None) -> None:
    assert "yes_no" in known_suites()
    unregister("yes_no")
    assert "yes_no" not in known_suites()
    with pytest.raises(ConfigError, match=r"unknown suite 'yes_no' \(known: train_qa, .*mmlu\)"):
        suite_kind("yes_no")
    with pytest.raises(ConfigError, match="did you mean 'task'"):
        make_project(tmp_path / "p", {"evaluate": {"suites": ["tsk"]}})  # loads the config


def test_the_built_in_descriptions_and_the_registered_suites_agree() -> None:
    # The config accepts a built-in name before evaluate is imported (from foundation.suites),
    # so each description there needs its registered kind, and no kind goes undescribed.
    for info in BUILTIN:
        assert suite_kind(info.name).info == info
    assert known_suites() == [info.name for info in BUILTIN]
