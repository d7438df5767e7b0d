"""The judge against the loopback server (valid, invalid, re-asked), and the reference metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from doctune.evaluate.judge import AnswerJudgement, Judge, judge_messages, rubric
from doctune.evaluate.metrics import normalise_answer, rouge_l, token_f1
from doctune.foundation.config import ModelSettings
from doctune.models import ModelClient, parse_spec
from doctune.models.openai import OpenAIBackend
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import prompt_text


def _client(server: FakeOpenAIServer, retries: int = 1) -> ModelClient:
    settings = ModelSettings(base_url=server.base_url, api_key="sk-test")  # type: ignore[arg-type]
    backend = OpenAIBackend(parse_spec("openai:judge"), settings, timeout_s=10, max_retries=0)
    return ModelClient(backend, settings=settings, structured_retries=retries)


def _verdict(server: FakeOpenAIServer, answer: str, retries: int = 1) -> Any:
    async def go() -> Any:
        client = _client(server, retries)
        try:
            return await Judge(client).verdict("Which solvent?", "Carbon tetrachloride.", answer)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _scores(body: dict[str, Any]) -> str:
    good = "Carbon tetrachloride." in prompt_text(body).split("Answer to judge:")[1]
    values = (10, 9, 8) if good else (1, 2, 6)
    return json.dumps(
        {
            "rationale": "Compared.",
            "accuracy": values[0],
            "completeness": values[1],
            "clarity": values[2],
        }
    )


def test_prompt_carries_the_rubric_the_reference_and_the_answer() -> None:
    user = judge_messages("Which solvent?", "Carbon tetrachloride.", "Acetone.")[-1].content
    assert "Reference answer:\n<<<\nCarbon tetrachloride.\n>>>" in user
    assert "Answer to judge:\n<<<\nAcetone.\n>>>" in user
    for text in rubric().values():
        assert text in user
    assert rubric()["accuracy"].endswith("Is the answer correct and consistent with the reference?")
    assert rubric()["completeness"].endswith("Does the answer cover the main points?")
    assert rubric()["clarity"].endswith("Is the answer clear and well-structured?")
    empty = judge_messages("Q?", "R.", "  ")[-1].content
    assert "(no answer)" in empty


def test_valid_verdict_at_temperature_zero() -> None:
    with FakeOpenAIServer(responders={AnswerJudgement.__name__: _scores}) as server:
        good = _verdict(server, "Carbon tetrachloride.")
        bad = _verdict(server, "Acetone.")
        bodies = list(server.bodies)
    assert (good.accuracy, good.completeness, good.clarity, good.score) == (10, 9, 8, 9.0)
    assert bad.score == pytest.approx(3.0) and bad.error is None
    assert good.judge == "openai:judge" and len(good.prompt_hash) == 16
    assert all(b["temperature"] == 0 for b in bodies)
    assert bodies[0]["response_format"]["json_schema"]["name"] == "AnswerJudgement"


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is quite good, I would give it 8.",
        json.dumps({"rationale": "ok", "accuracy": 11, "completeness": 5, "clarity": 5}),
        json.dumps({"rationale": "ok", "accuracy": 5, "completeness": 5}),
    ],
)
def test_unusable_reply_is_an_error_not_a_score(reply: str) -> None:
    with FakeOpenAIServer(responders={AnswerJudgement.__name__: lambda body: reply}) as server:
        verdict = _verdict(server, "Carbon tetrachloride.", retries=2)
        asked = server.completions
    assert verdict.score is None and verdict.accuracy is None
    assert verdict.error and "invalid reply after 3 attempts" in verdict.error
    assert asked == 3  # the first ask and two re-asks, then given up


def test_token_f1_squad_style() -> None:
    assert normalise_answer("The Cat, sat!") == "cat sat"
    assert token_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    assert token_f1("Carbon tetrachloride.", "carbon TETRACHLORIDE") == 1.0
    assert token_f1("acetone", "carbon tetrachloride") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0
    # Hyphenated names split into their parts, so a partial match earns partial credit.
    assert token_f1("1-bromo-4-isobutylbenzene", "4-isobutylbenzene") == pytest.approx(
        2 * 0.5 / 1.5
    )


def test_rouge_l() -> None:
    assert rouge_l("the reaction runs at 40 C", "the reaction runs at 40 C") == pytest.approx(1.0)
    assert rouge_l("acetone", "carbon tetrachloride") == 0.0
    # LCS "a c" of "a b c" and "a c": precision 2/2, recall 2/3 -> F 0.8.
    assert rouge_l("a c", "a b c") == pytest.approx(0.8)
    assert rouge_l("", "") == 1.0 and rouge_l("", "x") == 0.0
