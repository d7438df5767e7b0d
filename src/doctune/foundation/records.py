"""The records every stage reads and writes. Each carries its provenance and is validated by
pydantic when written and when read, so a malformed line is found where it is, not three stages
later."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# A record names the recipe that wrote it; the config checks the names (foundation/recipes.py),
# and records of a recipe no longer registered stay readable.
Recipe = str
SplitName = Literal["train", "validation", "test"]
Letter = Literal["A", "B", "C", "D"]
SPLITS: tuple[SplitName, ...] = ("train", "validation", "test")
LETTERS: tuple[Letter, ...] = ("A", "B", "C", "D")


def stable_id(*parts: object, length: int = 16) -> str:
    """A content-derived id: the same inputs give the same id in every run (resume relies on it)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return digest.hexdigest()[:length]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Record(BaseModel):
    """Base: unknown fields are refused so a typo in a producer fails loudly."""

    model_config = ConfigDict(extra="forbid")


class Provenance(Record):
    """Where a record comes from: documents, chunks, pages, the model and prompt that wrote it."""

    doc_ids: list[str] = Field(default_factory=list)
    chunk_ids: list[str] = Field(default_factory=list)
    sources: list[str] = Field(
        default_factory=list, description="Document paths, relative to documents/."
    )
    pages: list[int] = Field(default_factory=list)
    model: str | None = Field(None, description="Spec of the model that wrote the record.")
    prompt: str | None = Field(None, description="Template name and version.")
    prompt_hash: str | None = None
    config_hash: str | None = None
    # Set by split from the project's reviews (foundation/reviews.py); absent in older files.
    edited_by: str | None = Field(None, description="Reviewer who edited the question or answer.")
    edited_at: str | None = Field(None, description="When it was edited (ISO 8601, UTC).")
    approved_by: str | None = Field(None, description="Reviewer who approved the record.")
    approved_at: str | None = None


class Chunk(Record):
    id: str = Field(
        description="Hash of the document id, the chunk's text and which repeat of that text in "
        "the document it is: an edit changes the ids of the chunks it touches only."
    )
    doc_id: str = Field(
        description="Hash of the document's path relative to documents/ (and record part, '#3')."
    )
    path: str = Field(description="Document path relative to documents/.")
    index: int = Field(ge=0, description="Position of the chunk within its document.")
    text: str
    pages: list[int] = Field(default_factory=list)
    section: str | None = Field(None, description="Heading path, ' > ' separated.")
    start: int = Field(ge=0, description="Character offset in the document's extracted text.")
    end: int = Field(ge=0)
    n_tokens: int = Field(ge=0)
    sha256: str


class QARecord(Record):
    id: str
    recipe: Recipe
    question: str
    answer: str
    topic: str | None = None
    facet: str | None = None
    split: SplitName | None = None
    provenance: Provenance


class RejectedRecord(Record):
    """A record a stage dropped, with the reason: nothing is dropped silently."""

    id: str
    stage: str
    reason: str = Field(description="Short code: duplicate, near_duplicate, ungrounded, leak, ...")
    detail: str = ""
    record: dict[str, Any]


class RephrasedRecord(Record):
    id: str
    source_id: str = Field(description="Id of the QA record whose question was rephrased.")
    recipe: Recipe
    split: SplitName
    question: str
    original_question: str
    answer: str = Field(description="The reference answer of the original record.")
    provenance: Provenance


class NumericCheck(Record):
    """The arithmetic behind a numeric quiz, recomputed by doctune rather than trusted."""

    quantity: float
    factor: float
    operation: Literal["multiply", "divide"]
    result: float
    unit: str | None = None
    factor_text: str = Field(description="Where the source states the ratio or amount.")
    corrected: bool = Field(
        False, description="The teacher's letter disagreed with the computation."
    )


class QuizRecord(Record):
    id: str
    question: str
    options: dict[Letter, str]
    answer: Letter
    reasoning: str
    knowledge: str = Field(
        description="One sentence of knowledge the quiz applies (the talk's knowledge prompt)."
    )
    numeric: NumericCheck | None = None
    provenance: Provenance
