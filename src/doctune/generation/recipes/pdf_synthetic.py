"""Recipe `pdf_synthetic` (the talk's "PDF-synthetic" dataset): for each chunk, one teacher call
writes exactly N question/answer pairs answerable from that chunk alone."""

from __future__ import annotations

from collections.abc import Sequence

from doctune.foundation.aio import gather_all
from doctune.foundation.config import PdfSyntheticConfig
from doctune.foundation.records import Chunk, QARecord, RejectedRecord, stable_id
from doctune.generation.common import (
    RecipeOutput,
    Teacher,
    chunk_text_layout,
    invalid_output,
    selected_chunks,
)
from doctune.generation.schemas import ANSWER_CHARS, QUESTION_CHARS, qa_pairs_model
from doctune.models.base import Message
from doctune.models.fitting import Layout
from doctune.prompts import load_prompt

RECIPE = "pdf_synthetic"
PROMPT = "pdf_synthetic"
STAGE = "synthesize"


def reply_chars(n: int) -> int:
    return n * (QUESTION_CHARS + ANSWER_CHARS + 40)


def layout_for(chunk: Chunk, n: int) -> Layout:
    """The chunk's prompt; too long for the teacher, the chunk's text loses its start."""
    return chunk_text_layout(
        chunk.text,
        lambda text: load_prompt(PROMPT).render(
            source=chunk.path, section=chunk.section, text=text, n=n
        ),
    )


def messages_for(chunk: Chunk, n: int) -> list[Message]:
    return layout_for(chunk, n).build((), 0)


async def generate(
    chunks: Sequence[Chunk], config: PdfSyntheticConfig, teacher: Teacher
) -> RecipeOutput:
    """One call per chunk, run concurrently; records come out in chunk order."""
    n = config.questions_per_chunk
    chosen = selected_chunks(chunks, config)
    results = await gather_all(_one_chunk(chunk, n, teacher) for chunk in chosen)
    out = RecipeOutput()
    for records, rejected in results:
        out.records.extend(records)
        out.rejected.extend(rejected)
    out.summary = {
        "chunks": len(chosen),
        "records": len(out.records),
        "failed_calls": len(out.rejected),
        **teacher.fitting.summary(),
    }
    return out


async def _one_chunk(
    chunk: Chunk, n: int, teacher: Teacher
) -> tuple[list[QARecord], list[RejectedRecord]]:
    prompt = load_prompt(PROMPT)
    output_type = qa_pairs_model(n)
    fitted = teacher.fit(layout_for(chunk, n), output_type, reply_chars(n))
    result = await teacher.ask(fitted, output_type, reply_chars(n))
    if result.value is None:
        key = (RECIPE, chunk.id, prompt.hash, teacher.spec)
        record = {"recipe": RECIPE, "call": "qa_pairs", "chunk_id": chunk.id, "path": chunk.path}
        return [], [invalid_output(STAGE, key, result, record)]
    provenance = teacher.provenance([chunk], prompt)
    records = [
        QARecord(
            id=stable_id(RECIPE, chunk.id, i, prompt.hash, teacher.spec),
            recipe=RECIPE,
            question=pair.question.strip(),
            answer=pair.answer.strip(),
            provenance=provenance,
        )
        for i, pair in enumerate(result.value.pairs)  # type: ignore[attr-defined]
    ]
    return records, []
