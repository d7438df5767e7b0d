"""Judge replies as judges write them: the corpus measure (no silently wrong score), and verdicts
through the loopback server in the modes a judge may be served in.

tests/evaluate/data/judge_replies.jsonl holds MT-bench-style judgments (prose without a rating,
several ratings, `[0]` and numbers in code, fractional scores, per-criterion lines and tables,
Markdown, long and cut-off rationales, seven languages), each with the score a careful reader
takes it to give (`expect`: the criteria's mean, else the overall rating) or null where no
score can be stood behind. Outcomes: right, excluded as expected, lost (a score was meant but
the reply was excluded: counted, never guessed) and wrong (a score that differs from `expect`, or
one where none was meant). Wrong must be 0.

Split `dev` (93 replies) is what the rules were written against; `held_out` (35 replies in other
judges' styles: GPT-4, Claude, Llama, Qwen, Mistral, Gemma) was written after the rules were
frozen and measured before any change: 27 right, 7 excluded as they should be, 1 lost, 0 wrong.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from doctune.evaluate.judge import RATIONALE_LIMIT, AnswerJudgement, Judge, read_reply
from doctune.foundation.config import ModelSettings
from doctune.foundation.evalrecords import JudgeVerdict
from doctune.models import ModelClient, parse_spec
from doctune.models.base import ChatResponse
from doctune.models.openai import OpenAIBackend
from doctune.testing.fake_openai import FakeOpenAIServer

CORPUS = Path(__file__).parent / "data" / "judge_replies.jsonl"


def corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def item_score(text: str, finish_reason: str = "stop") -> tuple[float | None, str | None]:
    response = ChatResponse(text=text, finish_reason=finish_reason)
    reading, error = read_reply(response, ratings=True)
    if reading is None:
        return None, error
    verdict = JudgeVerdict(judge="j", prompt_hash="h", **reading.criteria, overall=reading.overall)
    return verdict.score, None


def outcome(expect: float | None, score: float | None) -> str:
    if score is None:
        return "excluded" if expect is None else "lost"
    return "right" if expect is not None and abs(score - expect) < 1e-9 else "wrong"


def test_corpus_gives_no_silently_wrong_score(capsys: pytest.CaptureFixture[str]) -> None:
    items = corpus()
    assert len(items) >= 60 and len({i["id"] for i in items}) == len(items)
    counts: dict[str, Counter[str]] = {"dev": Counter(), "held_out": Counter()}
    wrong = []
    for item in items:
        score, error = item_score(item["text"], item["finish_reason"])
        kind = outcome(item["expect"], score)
        counts[item["split"]][kind] += 1
        if kind == "wrong":
            wrong.append((item["id"], item["expect"], score))
        if score is None:
            assert error, item["id"]  # every exclusion says why
    with capsys.disabled():
        for split, found in counts.items():
            print(f"\njudge replies, {split}: {sum(found.values())}, {dict(sorted(found.items()))}")
    assert wrong == []
    # Lost: a reader can tell what was meant, the rules refuse to guess (conflicting or revised
    # ratings, a cut-off reply, an unlabelled 1/10 beside the rating, "I would give it 8").
    assert counts["dev"] == {"right": 60, "excluded": 26, "lost": 7}
    assert counts["held_out"] == {"right": 27, "excluded": 7, "lost": 1}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Rating: [[6]]\n\nRating: [[8]]", "conflicting ratings: overall 6 and 8"),
        ("Accuracy: 8/10\nCompleteness: 7\nClarity: 9\nAccuracy: 6", "conflicting ratings"),
        ("The answer is fine.", "no rating"),
        ("Score: 4/5", "another scale (4/5)"),
        ("Rating: 7-8", "a range"),
        ("```\nRating: [[9]]\n```", "no rating"),
        ("Accuracy: 8\nClarity: 9", "rated accuracy, clarity but not completeness"),
    ],
)
def test_unusable_rating_lines_say_why(text: str, reason: str) -> None:
    score, error = item_score(text)
    assert score is None and error is not None and reason in error


def test_one_overall_rating_is_the_score_and_criteria_win_over_it() -> None:
    assert item_score("Good.\n\nRating: [[8.5]]")[0] == 8.5
    assert item_score("Accuracy: 9/10\nCompleteness: 6/10\nClarity: 9/10\nRating: [[7]]")[0] == 8


def test_json_is_read_strictly_and_rating_lines_only_where_the_schema_is_not_enforced() -> None:
    lines = ChatResponse(text="Rating: [[8]]")
    assert read_reply(lines, ratings=False)[0] is None
    assert read_reply(lines, ratings=True)[0] is not None
    # Something meant as JSON is JSON: its rating-looking keys are not salvaged.
    broken = ChatResponse(text='{"rationale": "ok", "accuracy": 8, "completeness": 7}')
    reading, error = read_reply(broken, ratings=True)
    assert reading is None and error and "clarity" in error


def _judge(server: FakeOpenAIServer, mode: str) -> Judge:
    settings = ModelSettings(
        base_url=server.base_url,
        api_key="sk-test",  # type: ignore[arg-type]
        structured_output=mode,  # type: ignore[arg-type]
    )
    backend = OpenAIBackend(parse_spec("openai:judge"), settings, timeout_s=10, max_retries=0)
    return Judge(ModelClient(backend, settings=settings, structured_retries=1))


def _verdict(server: FakeOpenAIServer, mode: str = "json_schema") -> JudgeVerdict:
    async def go() -> JudgeVerdict:
        judge = _judge(server, mode)
        try:
            return await judge.verdict("Which solvent?", "Carbon tetrachloride.", "CCl4.")
        finally:
            await judge.client.aclose()

    return asyncio.run(go())


def test_fractional_scores_and_a_long_rationale_are_kept() -> None:
    rationale = "The answer agrees with the reference on the solvent. " * 80  # ~4,200 chars
    reply = {"rationale": rationale, "accuracy": 8.5, "completeness": 7, "clarity": 9.5}
    responders = {AnswerJudgement.__name__: lambda body: json.dumps(reply)}
    with FakeOpenAIServer(responders=responders) as server:
        verdict = _verdict(server)
        assert server.completions == 1  # valid at the first ask: no re-ask for its length
    assert verdict.error is None and verdict.score == pytest.approx(25 / 3)
    assert (verdict.accuracy, verdict.clarity, verdict.read_as) == (8.5, 9.5, "json")
    assert verdict.rationale.startswith(rationale[:RATIONALE_LIMIT])
    assert verdict.rationale.endswith(f"[... truncated: {len(rationale):,} characters in all]")


@pytest.mark.parametrize("mode", ["instructions", "json_object"])
def test_a_judge_without_schema_support_may_answer_in_rating_lines(mode: str) -> None:
    reply = "The answer names the solvent by its formula, which is right.\n\nRating: [[8.5]]"
    with FakeOpenAIServer(responder=lambda body: reply) as server:
        verdict = _verdict(server, mode)
        assert server.completions == 1
    assert (verdict.score, verdict.overall, verdict.read_as) == (8.5, 8.5, "ratings")
    assert verdict.accuracy is None and verdict.rationale == reply


def test_conflicting_rating_lines_exclude_the_item_after_the_re_ask() -> None:
    reply = "Rating: [[6]]\n\nOn reflection, Rating: [[8]]"
    with FakeOpenAIServer(responder=lambda body: reply) as server:
        verdict = _verdict(server, "instructions")
        assert server.completions == 2
    assert verdict.score is None
    assert verdict.error == (
        "invalid reply after 2 attempts: not JSON, and conflicting ratings: overall 6 and 8"
    )
