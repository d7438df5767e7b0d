"""What the teacher is asked to return: pydantic models whose JSON schema constrains the reply.

Limits live here, where the client's validation enforces them and a failure is re-asked with the
reason: item counts are exact (min = max = what the prompt asked for), strings have lengths that
fit the records downstream, and answers may not point at "the passage" they were written from
(a fine-tuned model has no passage). Models built per count are cached, so one count always maps
to one schema (and so to one cache key).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

from doctune.foundation.records import Letter

QUESTION_CHARS = 300
ANSWER_CHARS = 1500

# Phrases that tie an answer to the text it was written from. Kept narrow on purpose: "in the
# context of manufacturing" is fine, "according to the text" is not.
SELF_REFERENCES = (
    "according to the text",
    "according to the passage",
    "according to the document",
    "according to the provided",
    "according to the given",
    "the passage",
    "this passage",
    "the excerpt",
    "this excerpt",
    "the provided text",
    "the given text",
    "the text says",
    "the text states",
    "the text mentions",
    "the provided context",
    "the given context",
    "this document",
    "the provided document",
)


def _self_contained(value: str) -> str:
    lowered = value.lower()
    for phrase in SELF_REFERENCES:
        if phrase in lowered:
            raise ValueError(
                f"refers to its source ('{phrase}'); state the facts directly so the text "
                "stands on its own"
            )
    return value


Question = Annotated[str, Field(min_length=8, max_length=QUESTION_CHARS)]
Answer = Annotated[
    str, Field(min_length=20, max_length=ANSWER_CHARS), AfterValidator(_self_contained)
]


class Output(BaseModel):
    """Base of teacher outputs: extra keys are refused (the schema is closed)."""

    model_config = ConfigDict(extra="forbid")


# -- pdf_synthetic ----------------------------------------------------------------------------
class QAPair(Output):
    question: Question
    answer: Answer


@cache
@cache  # one class per n: schema generation and validation caches key on the class
def qa_pairs_model(n: int) -> type[Output]:
    """`{"pairs": [QAPair x n]}`: exactly n pairs."""
    return create_model(
        "QAPairs",
        __base__=Output,
        pairs=(Annotated[list[QAPair], Field(min_length=n, max_length=n)], ...),
    )


# -- knowledge_distillation -------------------------------------------------------------------
TopicCategory = Literal["process", "reaction", "substance", "equipment", "quality", "other"]


class Topic(Output):
    name: str = Field(min_length=2, max_length=150)
    category: TopicCategory
    summary: str = Field(min_length=10, max_length=300)


class TopicOverview(Output):
    """The topics of one document."""

    topics: list[Topic] = Field(min_length=1, max_length=20)


@cache
def facet_questions_model(n: int) -> type[Output]:
    """`{"questions": [str x n]}`: exactly n questions on one topic and facet."""
    return create_model(
        "FacetQuestions",
        __base__=Output,
        questions=(Annotated[list[Question], Field(min_length=n, max_length=n)], ...),
    )


class KDAnswer(Output):
    answer: Answer


# -- eval sets --------------------------------------------------------------------------------
@cache
def rephrasings_model(k: int) -> type[Output]:
    """`{"questions": [str x k]}`: k rewordings of one question."""
    return create_model(
        "Rephrasings",
        __base__=Output,
        questions=(Annotated[list[Question], Field(min_length=k, max_length=k)], ...),
    )


OptionText = Annotated[str, Field(min_length=1, max_length=300)]


class QuizOptions(Output):
    A: OptionText
    B: OptionText
    C: OptionText
    D: OptionText


class NumericDraft(Output):
    """The arithmetic of a numeric quiz as the teacher states it; doctune redoes it."""

    quantity: float = Field(gt=0, description="The amount given in the question.")
    factor: float = Field(gt=0, description="The ratio or amount stated in the source.")
    operation: Literal["multiply", "divide"]
    unit: str | None = Field(None, max_length=100, description="Unit of the result.")
    factor_text: str = Field(
        min_length=3, max_length=300, description="Verbatim words of the source stating the factor."
    )


class QuizDraft(Output):
    kind: Literal["conceptual", "numeric"]
    question: str = Field(min_length=10, max_length=600)
    options: QuizOptions
    answer: Letter
    reasoning: str = Field(min_length=10, max_length=1500)
    knowledge: str = Field(
        min_length=10, max_length=400, pattern=r"^[^\n]+$", description="One sentence."
    )
    numeric: NumericDraft | None = None

    @model_validator(mode="after")
    def _numeric_has_arithmetic(self) -> QuizDraft:
        if self.kind == "numeric" and self.numeric is None:
            raise ValueError("a numeric quiz needs its arithmetic in `numeric`")
        return self


@cache
def quizzes_model(n: int) -> type[Output]:
    """`{"quizzes": [QuizDraft x n]}`: exactly n quizzes about one chunk."""
    return create_model(
        "Quizzes",
        __base__=Output,
        quizzes=(Annotated[list[QuizDraft], Field(min_length=n, max_length=n)], ...),
    )
