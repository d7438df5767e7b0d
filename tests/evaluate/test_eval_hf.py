"""The evaluate stage with an in-process `hf:` model under test (the tiny random model) and the
loopback server as the judge: the local route works end to end, and a rerun is all cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from evalkit import judging, make_project

from doctune.context import RunContext
from doctune.evaluate.judge import AnswerJudgement
from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.jsonl import read_jsonl
from doctune.pipeline import get_stage, run_stage
from doctune.testing.fake_openai import FakeOpenAIServer


@pytest.mark.slow
def test_tiny_hf_model_answers_and_is_judged(
    tmp_path: Path,
    tiny_model_dir: Path,
    fake_openai: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("torch")
    monkeypatch.delenv("MMLU_DIR", raising=False)
    fake_openai.responders[AnswerJudgement.__name__] = judging
    spec = f"hf:{tiny_model_dir}"
    project = make_project(
        tmp_path / "p",
        {
            "models": {"student": spec},
            "evaluate": {
                "models": ["base"],
                "baselines": [],
                "suites": ["test_qa", "task"],
                "answer_max_tokens": 12,
            },
        },
        tuned=False,
    )

    def run() -> RunContext:
        ctx = RunContext(project, show_progress=False)

        async def go() -> None:
            try:
                await run_stage(ctx, get_stage("evaluate"), force=True)
            finally:
                await ctx.aclose()

        asyncio.run(go())
        return ctx

    first = run()
    row = first.ledger.rows[(spec, "evaluate")]
    assert row.calls == 2 + 4 and row.cache_hits == 0
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    assert {(r.model, r.suite) for r in rows} == {
        (f"{spec} (base)", "test_qa"),
        (f"{spec} (base)", "task"),
    }
    answers = [
        r
        for p in (project / "out" / "evaluate" / "answers").rglob("*.jsonl")
        for r in read_jsonl(p, ItemResult)
    ]
    assert len(answers) == 6 and all(r.completion_tokens <= 12 for r in answers)
    judged = fake_openai.completions
    second = run()
    again = second.ledger.rows[(spec, "evaluate")]
    assert again.calls == 6 and again.cache_hits == 6
    assert fake_openai.completions == judged
