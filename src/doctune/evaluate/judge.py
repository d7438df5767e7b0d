"""The LLM judge of QA answers: the talk's rubric, structured output, nothing guessed.

The judge scores factual accuracy, completeness and clarity (0-10 each, fractions allowed) of an
answer against the reference answer, at temperature 0, through `ModelClient.structured`
(validated, re-asked on invalid output). How long the rationale is never decides whether a
verdict counts: it is stored truncated to RATIONALE_LIMIT characters.

A judge served without schema enforcement (`structured_output: instructions` or `json_object`)
may answer in the MT-bench format instead of JSON; its rating lines (`Rating: [[8]]`,
`Accuracy: 8/10`...) are then read by doctune.evaluate.ratings, a documented format kept apart
from the JSON path, which rejects conflicting or ambiguous ratings rather than guess. One overall
rating without the criteria is the item's score.

A reply that is still unusable after the re-asks, or a judge call that failed after the
backend's retries, is a verdict with an error and no score: the item is excluded from the mean
("judge failed") and counted, never scored 0 or 10 in its place, and the suite goes on.
"""

from __future__ import annotations

from functools import cache, partial
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from doctune.evaluate.ratings import read_ratings
from doctune.foundation.evalrecords import JudgeVerdict
from doctune.models.base import ChatRequest, ChatResponse, GenerationParams, Message
from doctune.models.client import CallFailed, ModelClient
from doctune.models.structured import parse_reply, schema_for, strip_fence
from doctune.prompts import PromptTemplate, load_prompt

PROMPT = "judge_qa"
CRITERIA = ("accuracy", "completeness", "clarity")
# Room for a long rationale and three numbers: a reply cut at the limit is not valid JSON.
REPLY_TOKENS = 1000
# What is kept of a rationale (a record, not the verdict: its length never rejects a verdict).
RATIONALE_LIMIT = 2000


class AnswerJudgement(BaseModel):
    """What the judge is asked for. The rationale comes first so the scores follow from it."""

    model_config = ConfigDict(extra="forbid")

    rationale: str = Field(description="What agrees with the reference, what is wrong, missing.")
    accuracy: float = Field(ge=0, le=10, description="Factual accuracy against the reference.")
    completeness: float = Field(ge=0, le=10, description="Covers the reference's main points.")
    clarity: float = Field(ge=0, le=10, description="Clear and well structured.")


class Reading(BaseModel):
    """What a judge's reply said, read from its JSON or from its rating lines."""

    criteria: dict[str, float]
    overall: float | None = None
    rationale: str
    read_as: Literal["json", "ratings"]


def read_reply(response: ChatResponse, *, ratings: bool) -> tuple[Reading | None, str | None]:
    """The reply as a Reading, or the one-line reason it is none. `ratings`: the judge's server
    does not enforce the schema, so a reply that is not JSON may carry rating lines."""
    value, error = parse_reply(response.text, AnswerJudgement)
    if value is not None:
        criteria = {c: float(getattr(value, c)) for c in CRITERIA}
        return Reading(criteria=criteria, rationale=value.rationale, read_as="json"), None
    if not ratings or strip_fence(response.text).startswith("{"):
        return None, error  # meant as JSON: its own error says what is wrong
    found, problem = read_ratings(response.text, cut_off=response.finish_reason == "length")
    if found is None:
        return None, f"not JSON, and {problem}"
    reading = Reading(
        criteria=found.criteria,
        overall=found.overall,
        rationale=response.text.strip(),
        read_as="ratings",
    )
    return reading, None


def truncated(text: str, limit: int = RATIONALE_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [... truncated: {len(text):,} characters in all]"


def prompt() -> PromptTemplate:
    return load_prompt(PROMPT)


@cache
def rubric() -> dict[str, str]:
    """Criterion -> the question the judge answers, read from the judge's prompt file."""
    path = Path(__file__).resolve().parents[1] / "prompts" / f"{PROMPT}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = {str(k): str(v) for k, v in data["rubric"].items()}
    if tuple(found) != CRITERIA:
        raise ValueError(f"{path}: the rubric must name {', '.join(CRITERIA)} in this order")
    return found


def judge_messages(question: str, reference: str, answer: str) -> list[Message]:
    return prompt().render(
        question=question,
        reference=reference,
        # An empty answer is shown as such rather than as nothing between the markers.
        answer=answer.strip() or "(no answer)",
        rubric=list(rubric().items()),
    )


def judge_request(
    defaults: GenerationParams, question: str, reference: str, answer: str
) -> ChatRequest:
    """The first request `Judge.verdict` sends (for dry-run cache checks)."""
    return ChatRequest(
        messages=tuple(judge_messages(question, reference, answer)),
        params=defaults.model_copy(update={"temperature": 0.0, "max_tokens": REPLY_TOKENS}),
        json_schema=schema_for(AnswerJudgement),
        schema_name=AnswerJudgement.__name__,
    )


class Judge:
    """One judge model applying the rubric."""

    def __init__(self, client: ModelClient) -> None:
        self.client = client
        self.spec = client.spec

    async def verdict(self, question: str, reference: str, answer: str) -> JudgeVerdict:
        """The judge's verdict; a failed call (after the backend's retries) is a verdict with an
        error, unless the judge's endpoint looks down for everything (then it is raised)."""
        read = partial(read_reply, ratings=not self.client.backend.enforces_schema)
        outcome = await self.client.isolated(
            self.client.structured(
                judge_messages(question, reference, answer),
                AnswerJudgement,
                parse=read,
                temperature=0.0,
                max_tokens=REPLY_TOKENS,
            )
        )
        common = {"judge": self.spec, "prompt_hash": prompt().hash}
        if isinstance(outcome, CallFailed):
            return JudgeVerdict(**common, error=f"judge call failed: {_short(outcome.reason)}")
        if outcome.value is None:
            return JudgeVerdict(
                **common,
                error=f"invalid reply after {outcome.attempts} attempts: {_short(outcome.error)}",
            )
        reading = outcome.value
        return JudgeVerdict(
            **common,
            **reading.criteria,
            overall=reading.overall,
            read_as=reading.read_as,
            rationale=truncated(reading.rationale),
        )


def _short(error: str | None, limit: int = 300) -> str:
    # A pydantic error lists every failed field; the first few lines say what went wrong.
    text = " ".join((error or "unknown error").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
