"""The LLM judge of QA answers: the talk's rubric, structured output, nothing guessed.

The judge scores factual accuracy, completeness and clarity (0-10 each) of an answer against the
reference answer, at temperature 0, through `ModelClient.structured` (schema-validated, re-asked
on invalid output). A reply that is still invalid after the re-asks is a verdict with an error and
no score: the item is excluded from the mean and counted, never scored 0 or 10 in its place.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from doctune.evaluate.base import JudgeVerdict
from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.client import ModelClient
from doctune.models.structured import schema_for
from doctune.prompts import PromptTemplate, load_prompt

PROMPT = "judge_qa"
CRITERIA = ("accuracy", "completeness", "clarity")
# A rationale of <= 1,500 characters and three integers fit well inside this.
REPLY_TOKENS = 700


class AnswerJudgement(BaseModel):
    """What the judge returns. The rationale comes first so the scores follow from it."""

    model_config = ConfigDict(extra="forbid")

    rationale: str = Field(min_length=1, max_length=1500)
    accuracy: int = Field(ge=0, le=10, description="Factual accuracy against the reference.")
    completeness: int = Field(ge=0, le=10, description="Covers the reference's main points.")
    clarity: int = Field(ge=0, le=10, description="Clear and well structured.")


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
        result = await self.client.structured(
            judge_messages(question, reference, answer),
            AnswerJudgement,
            temperature=0.0,
            max_tokens=REPLY_TOKENS,
        )
        common = {"judge": self.spec, "prompt_hash": prompt().hash}
        if result.value is None:
            return JudgeVerdict(
                **common,
                error=f"invalid reply after {result.attempts} attempts: {_short(result.error)}",
            )
        value = result.value
        return JudgeVerdict(
            **common,
            accuracy=value.accuracy,
            completeness=value.completeness,
            clarity=value.clarity,
            rationale=value.rationale,
        )


def _short(error: str | None, limit: int = 300) -> str:
    # A pydantic error lists every failed field; the first few lines say what went wrong.
    text = " ".join((error or "unknown error").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
