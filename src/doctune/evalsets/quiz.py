"""Multiple-choice quizzes from the documents (the talk's "task solving" set).

Each quiz applies one fact of a chunk; its `knowledge` sentence is the hint of the "task +
prompting" evaluation. Numeric quizzes are not trusted: doctune checks that the factor is stated
in the source chunk, that the given quantity is in the question, redoes the arithmetic, and takes
the answer letter from the one option that matches the result. Every quiz that fails a check is
rejected with its reason.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from doctune.foundation.aio import gather_all
from doctune.foundation.records import (
    LETTERS,
    Chunk,
    Letter,
    NumericCheck,
    QuizRecord,
    RejectedRecord,
    stable_id,
)
from doctune.generation.common import Teacher, chunk_text_layout, invalid_output, normalise
from doctune.generation.schemas import NumericDraft, QuizDraft, quizzes_model
from doctune.models.base import Message
from doctune.models.fitting import Layout
from doctune.prompts import load_prompt

PROMPT = "quiz"
STAGE = "evalsets"
QUIZ_REPLY_CHARS = 3200
# A number not glued to a letter ("Br2", "C6H5" are formulas, not amounts), with thousands
# separators and an optional percent sign.
_NUMBER = re.compile(r"(?<![A-Za-z\d.])(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(\s*%)?")


@dataclass(frozen=True)
class Assignment:
    chunk: Chunk
    n: int  # quizzes asked of this chunk
    first: int  # where its requested letters start in the rotation (from its id's hash)


class QuizRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _hash(salt: str, chunk_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}\x1f{chunk_id}".encode()).digest()[:8], "big")


def assign(chunks: Sequence[Chunk], count: int) -> list[Assignment]:
    """`count` quizzes over the chunks, in chunk order: each chunk gets count // len(chunks), and
    the count % len(chunks) left over go to the chunks of lowest hash of their id (with fewer
    quizzes than chunks, those are a seeded sample of distinct chunks). Which chunks get a quiz,
    how many and at which letters depends on each chunk's own id, not on its position, so an edit
    or an added document re-asks the chunks it changed and the few whose rank crossed the edge,
    not every chunk after the change (each re-ask is a new paid call)."""
    if not chunks or count <= 0:
        return []
    base, extra = divmod(count, len(chunks))
    ranked = sorted(range(len(chunks)), key=lambda i: (_hash("quiz-share", chunks[i].id), i))
    bonus = set(ranked[:extra])
    out = []
    for i, chunk in enumerate(chunks):
        n = base + (i in bonus)
        if n:
            out.append(Assignment(chunk, n, _hash("quiz-letters", chunk.id) % len(LETTERS)))
    return out


def layout_for(a: Assignment) -> Layout:
    """The assignment's prompt; too long for the teacher, the chunk's text loses its start."""
    # Asking for the correct option at rotating letters keeps the answer key balanced: models
    # left alone put most correct answers at B or C, and a quiz set whose key is skewed rewards
    # a letter bias instead of knowledge. Each chunk starts the rotation at a letter drawn from
    # its id, so the key is balanced over many chunks (not exactly, in exchange for stability).
    letters = [LETTERS[(a.first + j) % len(LETTERS)] for j in range(a.n)]
    c = a.chunk
    return chunk_text_layout(
        c.text,
        lambda text: load_prompt(PROMPT).render(
            source=c.path, section=c.section, text=text, n=a.n, letters=letters
        ),
    )


def messages_for(a: Assignment) -> list[Message]:
    return layout_for(a).build((), 0)


def reply_chars(a: Assignment) -> int:
    return a.n * QUIZ_REPLY_CHARS


def numbers(text: str) -> list[float]:
    """Amounts written in a text; "5 %" also counts as 0.05."""
    out = []
    for digits, percent in _NUMBER.findall(text):
        value = float(digits.replace(",", ""))
        out.append(value)
        if percent:
            out.append(value / 100)
    return out


def check_numeric(draft: QuizDraft, num: NumericDraft, chunk: Chunk) -> NumericCheck:
    """The arithmetic of a numeric quiz, recomputed once its inputs are verified: the factor is
    quoted from the source chunk and the quantity is the one the question gives. Raises
    QuizRejected when a check fails."""
    if normalise(num.factor_text) not in normalise(chunk.text):
        raise QuizRejected(
            "factor_not_in_source", f"the source chunk does not contain '{num.factor_text}'"
        )
    if not any(math.isclose(num.factor, v, rel_tol=1e-9) for v in numbers(num.factor_text)):
        raise QuizRejected(
            "factor_not_in_source", f"factor {num.factor:g} is not stated in '{num.factor_text}'"
        )
    if not any(math.isclose(num.quantity, v, rel_tol=1e-9) for v in numbers(draft.question)):
        raise QuizRejected(
            "quantity_not_in_question", f"quantity {num.quantity:g} does not occur in the question"
        )
    result = num.quantity * num.factor if num.operation == "multiply" else num.quantity / num.factor
    return NumericCheck(
        quantity=num.quantity,
        factor=num.factor,
        operation=num.operation,
        result=result,
        unit=num.unit,
        factor_text=num.factor_text,
    )


def matching_letter(options: dict[Letter, str], result: float, tolerance: float) -> Letter:
    """The one option whose amount equals `result` within the relative tolerance."""
    hits = [
        letter
        for letter, text in options.items()
        if any(math.isclose(v, result, rel_tol=tolerance) for v in numbers(text))
    ]
    if not hits:
        raise QuizRejected("no_matching_option", f"no option equals the computed {result:g}")
    if len(hits) > 1:
        raise QuizRejected(
            "ambiguous_options", f"options {', '.join(hits)} all equal the computed {result:g}"
        )
    return hits[0]


def to_record(
    draft: QuizDraft, chunk: Chunk, j: int, tolerance: float, teacher: Teacher
) -> QuizRecord:
    """A checked quiz record; raises QuizRejected with the reason when a check fails."""
    options: dict[Letter, str] = {
        letter: getattr(draft.options, letter).strip() for letter in LETTERS
    }
    if len({normalise(t) for t in options.values()}) < len(options):
        raise QuizRejected("duplicate_options", "two or more options are the same")
    answer, numeric = draft.answer, None
    if draft.kind == "numeric" and draft.numeric is not None:
        numeric = check_numeric(draft, draft.numeric, chunk)
        answer = matching_letter(options, numeric.result, tolerance)
        numeric = numeric.model_copy(update={"corrected": answer != draft.answer})
    prompt = load_prompt(PROMPT)
    return QuizRecord(
        id=stable_id("quiz", chunk.id, j, prompt.hash, teacher.spec),
        question=draft.question.strip(),
        options=options,
        answer=answer,
        reasoning=draft.reasoning.strip(),
        knowledge=draft.knowledge.strip(),
        numeric=numeric,
        provenance=teacher.provenance([chunk], prompt),
    )


async def generate(
    chunks: Sequence[Chunk], count: int, tolerance: float, teacher: Teacher
) -> tuple[list[QuizRecord], list[RejectedRecord]]:
    """Quizzes in chunk order, with every rejected one and its reason."""
    results = await gather_all(_one(a, tolerance, teacher) for a in assign(chunks, count))
    quizzes = [q for qs, _ in results for q in qs]
    rejected = [r for _, rs in results for r in rs]
    return quizzes, rejected


async def _one(
    a: Assignment, tolerance: float, teacher: Teacher
) -> tuple[list[QuizRecord], list[RejectedRecord]]:
    prompt = load_prompt(PROMPT)
    fitted = teacher.fit(layout_for(a), quizzes_model(a.n), reply_chars(a))
    result = await teacher.ask(fitted, quizzes_model(a.n), reply_chars(a))
    if result.value is None:
        key = ("quiz", a.chunk.id, prompt.hash, teacher.spec)
        record = {"kind": "quiz", "chunk_id": a.chunk.id, "path": a.chunk.path, "quizzes": a.n}
        return [], [invalid_output(STAGE, key, result, record)]
    quizzes, rejected = [], []
    for j, draft in enumerate(result.value.quizzes):  # type: ignore[attr-defined]
        try:
            quizzes.append(to_record(draft, a.chunk, j, tolerance, teacher))
        except QuizRejected as exc:
            rejected.append(
                RejectedRecord(
                    id=stable_id(
                        "rejected", STAGE, "quiz", a.chunk.id, j, prompt.hash, teacher.spec
                    ),
                    stage=STAGE,
                    reason=exc.reason,
                    detail=exc.detail,
                    record={"kind": "quiz", "chunk_id": a.chunk.id, "quiz": draft.model_dump()},
                )
            )
    return quizzes, rejected
