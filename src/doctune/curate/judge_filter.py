"""The optional LLM-judge quality filter.

Each record is scored 0-10 by the judge model at temperature 0 (clarity of the question,
correctness of the answer against its source chunks, self-containedness) through structured
output. A record below the threshold is rejected with its score and the judge's rationale. A reply
that still fails validation after the client's re-asks is not a score: the record is kept, counted
and listed, so a broken judge shows up in the summary instead of silently passing or failing data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from doctune.context import Tick
from doctune.foundation.aio import gather_all
from doctune.foundation.dedup import reject
from doctune.foundation.records import Chunk, QARecord, RejectedRecord
from doctune.models.base import Message
from doctune.models.client import ModelClient
from doctune.prompts import PromptTemplate, load_prompt

PROMPT = "judge_quality"
# What a rejection keeps of the judge's rationale (a record of why, not part of the verdict).
RATIONALE_LIMIT = 2000
MISSING_SOURCE = "(the source text of this pair is not available)"


class QualityJudgement(BaseModel):
    """What the judge returns. The rationale comes first so the scores follow from it."""

    model_config = ConfigDict(extra="forbid")

    # No length limit: how long the judge explains itself must not decide whether its scores
    # count (long rationales cluster on the hard records). Fractions on the 0-10 scale are fine.
    rationale: str
    clarity: float = Field(ge=0, le=10)
    correctness: float = Field(ge=0, le=10)
    self_contained: float = Field(ge=0, le=10)
    score: float = Field(ge=0, le=10, description="Overall quality as training data.")


def prompt() -> PromptTemplate:
    return load_prompt(PROMPT)


def judge_messages(record: QARecord, chunks: Mapping[str, Chunk]) -> list[Message]:
    sources = [chunks[c].text for c in record.provenance.chunk_ids if c in chunks]
    return prompt().render(
        question=record.question, answer=record.answer, sources=sources or [MISSING_SOURCE]
    )


@dataclass
class JudgeOutcome:
    kept: list[QARecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    # Record id -> why the judge's reply failed validation (those records are kept).
    invalid: dict[str, str] = field(default_factory=dict)


async def judge_records(
    records: Sequence[QARecord],
    chunks: Mapping[str, Chunk],
    client: ModelClient,
    threshold: float,
    *,
    tick: Tick | None = None,
) -> JudgeOutcome:
    """Score every record; keep those at or above `threshold` and those the judge failed on."""

    async def one(record: QARecord) -> tuple[QARecord, QualityJudgement | None, str | None]:
        result = await client.structured(
            judge_messages(record, chunks), QualityJudgement, temperature=0
        )
        if tick is not None:
            tick.advance()
        return record, result.value, result.error

    outcome = JudgeOutcome()
    for record, judgement, error in await gather_all(one(r) for r in records):
        if judgement is None:
            outcome.invalid[record.id] = error or "invalid reply"
            outcome.kept.append(record)
            continue
        outcome.scores[record.id] = judgement.score
        if judgement.score >= threshold:
            outcome.kept.append(record)
        else:
            outcome.rejected.append(reject(record, "judge_score", _detail(judgement, threshold)))
    return outcome


def _detail(judgement: QualityJudgement, threshold: float) -> str:
    return (
        f"score {judgement.score:g} < {threshold:g} (clarity {judgement.clarity:g}, "
        f"correctness {judgement.correctness:g}, self-contained {judgement.self_contained:g}): "
        f"{_clipped(judgement.rationale)}"
    )


def _clipped(text: str) -> str:
    if len(text) <= RATIONALE_LIMIT:
        return text
    return f"{text[:RATIONALE_LIMIT]} [... truncated: {len(text):,} characters in all]"
