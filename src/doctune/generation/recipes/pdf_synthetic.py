"""Recipe `pdf_synthetic` (the talk's "PDF-synthetic" dataset): for each chunk, one teacher call
writes exactly N question/answer pairs answerable from that chunk alone."""

from __future__ import annotations

from collections.abc import Sequence

from doctune.foundation.aio import gather_all
from doctune.foundation.config import PdfSyntheticConfig, SynthesizeConfig
from doctune.foundation.records import Chunk, QARecord, RejectedRecord, stable_id
from doctune.foundation.results import CallEstimate
from doctune.generation.common import (
    RecipeOutput,
    Teacher,
    chunk_text_layout,
    invalid_output,
    request_tokens,
)
from doctune.generation.recipes.base import IsCached, Recipe
from doctune.generation.schemas import ANSWER_CHARS, QUESTION_CHARS, qa_pairs_model
from doctune.models.base import Message
from doctune.models.fitting import Layout
from doctune.prompts import load_prompt

RECIPE = "pdf_synthetic"
PROMPT = "pdf_synthetic"
STAGE = "synthesize"
# A typical pair's size in tokens, for estimates only (the limits in schemas.py are far higher).
PAIR_TOKENS = 160


def selected_chunks(chunks: Sequence[Chunk], config: PdfSyntheticConfig) -> list[Chunk]:
    """The chunks the recipe uses: the first `max_chunks` in chunk order (`expected_size`
    counts the same choice)."""
    return list(chunks[: config.max_chunks] if config.max_chunks else chunks)


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


class PdfSynthetic(Recipe):
    name = RECIPE

    async def generate(
        self, chunks: Sequence[Chunk], config: SynthesizeConfig, teacher: Teacher
    ) -> RecipeOutput:
        if teacher.tick is not None:
            teacher.tick.total(len(selected_chunks(chunks, config.pdf_synthetic)))
        return await generate(chunks, config.pdf_synthetic, teacher)

    def estimate(
        self,
        chunks: Sequence[Chunk],
        config: SynthesizeConfig,
        teacher: Teacher,
        cached: IsCached,
    ) -> CallEstimate:
        """Exact in calls: one per chosen chunk, minus those already in the cache."""
        n = config.pdf_synthetic.questions_per_chunk
        calls = prompt = hits = 0
        for chunk in selected_chunks(chunks, config.pdf_synthetic):
            request = teacher.request(messages_for(chunk, n), qa_pairs_model(n), reply_chars(n))
            if cached(request):
                hits += 1
                continue
            calls += 1
            prompt += request_tokens(request)
        note = f"{RECIPE}: {n} pairs per chunk" + (f"; {hits} cached" if hits else "")
        return CallEstimate(
            "teacher", calls, prompt, calls * n * PAIR_TOKENS, note=note, cached_calls=hits
        )

    def expected_size(self, n_chunks: int, config: SynthesizeConfig) -> int:
        limit = config.pdf_synthetic.max_chunks
        used = min(n_chunks, limit) if limit else n_chunks
        return used * config.pdf_synthetic.questions_per_chunk
