"""The LLM-judge filter against the loopback OpenAI server with a judge that reads the prompt."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from doctune.curate.judge_filter import QualityJudgement, judge_messages, judge_records
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import prompt_text

from .factories import chunks, fake_judge, make_project, record

RECORDS = [
    record(
        "good",
        "At what temperature is isobutylbenzene acylated in the Boots process?",
        "It is acylated at 0–5 °C with 1.1 equivalents of aluminium chloride.",
        ["c-boots"],
    ),
    record("bad", "What about the vague thing there?", "It is 85 % of it.", ["c-boots"]),
    record(
        "broken",
        "BROKEN: what pressure does the carbonylation use?",
        "The carbonylation uses 65 bar of carbon monoxide at 130 °C.",
        ["c-bhc"],
    ),
]


def test_prompt_carries_question_answer_and_source_text() -> None:
    messages = judge_messages(RECORDS[0], chunks())
    user = messages[-1].content
    assert RECORDS[0].question in user and RECORDS[0].answer in user
    assert "0–5 °C" in user and "--- source 1 ---" in user
    missing = judge_messages(record("x", "Q?", "A.", ["nowhere"]), chunks())
    assert "not available" in missing[-1].content


def test_judge_scores_filters_and_keeps_unscored_records(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.responders[QualityJudgement.__name__] = fake_judge
    ctx = make_project(tmp_path, {"models": {"judge": "openai:judge"}}, chunk_list=[], datasets={})

    async def go() -> Any:
        try:
            return await judge_records(RECORDS, chunks(), ctx.client("judge", "curate"), 6.0)
        finally:
            await ctx.aclose()

    outcome = asyncio.run(go())
    assert [r.id for r in outcome.kept] == ["good", "broken"]
    (rejected,) = outcome.rejected
    assert (rejected.id, rejected.reason) == ("bad", "judge_score")
    assert rejected.detail.startswith("score 2 < 6") and "Too vague" in rejected.detail
    assert outcome.scores == {"good": 8, "bad": 2}
    assert set(outcome.invalid) == {"broken"} and "score" in outcome.invalid["broken"]
    judged = [b for b in fake_openai.bodies if b.get("response_format")]
    assert judged and all(b["temperature"] == 0 for b in judged)
    # The broken reply was asked again (structured_retries) before it was given up on.
    broken = [b for b in judged if "BROKEN" in prompt_text(b)]
    assert len(broken) == 1 + ctx.config.client.structured_retries


def test_a_long_rationale_and_a_fractional_score_are_a_verdict(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    rationale = "The answer is vague about which temperature applies to which step. " * 40

    def verbose(body: dict[str, Any]) -> str:
        values = {"clarity": 4.5, "correctness": 5, "self_contained": 6, "score": 5.5}
        return json.dumps({"rationale": rationale, **values})

    fake_openai.responders[QualityJudgement.__name__] = verbose
    ctx = make_project(tmp_path, {"models": {"judge": "openai:judge"}}, chunk_list=[], datasets={})

    async def go() -> Any:
        try:
            return await judge_records(RECORDS[:1], chunks(), ctx.client("judge", "curate"), 6.0)
        finally:
            await ctx.aclose()

    outcome = asyncio.run(go())
    assert outcome.invalid == {} and outcome.scores == {"good": 5.5}
    (rejected,) = outcome.rejected
    assert rejected.detail.startswith("score 5.5 < 6 (clarity 4.5, correctness 5,")
    assert rejected.detail.endswith(f"[... truncated: {len(rationale):,} characters in all]")
    assert fake_openai.completions == 1  # valid at the first ask
