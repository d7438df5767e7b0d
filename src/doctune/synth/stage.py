"""Stage `synthesize`: chunks -> one dataset per recipe, plus the calls that failed.

Resume is exact by construction: record ids are derived from content, records are ordered by
their inputs (never by completion), each recipe's files are written atomically once it finishes,
and every call is cached. A run killed half-way and started again replays the finished calls
from the cache and ends with the same bytes as a run never interrupted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from statistics import mean

from doctune.context import RunContext
from doctune.foundation.artifacts import load_chunks
from doctune.foundation.config import SynthesizeConfig
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import write_json, write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.foundation.records import Chunk
from doctune.foundation.results import CallEstimate, StageResult
from doctune.generation.common import (
    FitTally,
    RecipeOutput,
    Teacher,
    is_cached,
    make_teacher,
    request_tokens,
    selected_chunks,
)
from doctune.generation.schemas import qa_pairs_model
from doctune.models.tokens import estimate_tokens
from doctune.synth import distillation, pdf_synthetic

STAGE = "synthesize"
# Typical reply sizes in tokens, for estimates only (the limits in schemas.py are far higher).
PAIR_TOKENS = 160
TOPIC_REPLY_TOKENS = 700
QUESTION_TOKENS = 35
ANSWER_TOKENS = 180


async def run(ctx: RunContext) -> StageResult:
    chunks = load_chunks(ctx.manifest)
    cfg = ctx.config.synthesize
    teacher = make_teacher(
        ctx, STAGE, ctx.config.section_hash("synthesize"), cfg.temperature, client=True
    )
    out_dir = ctx.stage_dir(STAGE)
    artifacts: list[Artifact] = []
    summary: dict[str, object] = {"chunks": len(chunks)}
    for recipe in cfg.recipes:
        with ctx.progress(f"synthesize {recipe}", None) as tick:
            recipe_teacher = dataclasses.replace(teacher, tick=tick, fitting=FitTally())
            output = await generate(recipe, chunks, cfg, recipe_teacher)
        dataset = out_dir / f"{recipe}.jsonl"
        rejected = out_dir / f"{recipe}.rejected.jsonl"
        write_jsonl(dataset, output.records)
        write_jsonl(rejected, output.rejected)
        for name, data in output.sidecar.items():  # for people to read; no stage depends on it
            write_json(out_dir / f"{recipe}.{name}.json", data)
        artifacts.append(ctx.manifest.artifact(STAGE, "dataset", dataset, recipe=recipe))
        artifacts.append(ctx.manifest.artifact(STAGE, "rejected", rejected, recipe=recipe))
        summary[f"{recipe}_records"] = len(output.records)
        summary[f"{recipe}_failed_calls"] = len(output.rejected)
        for key, value in recipe_teacher.fitting.summary().items():
            summary[f"{recipe}_{key}"] = value
        summary[recipe] = output.summary
        not_sent = recipe_teacher.fitting.not_sent
        if len(output.rejected) > not_sent:
            ctx.log(
                f"synthesize {recipe}: {len(output.rejected) - not_sent} calls failed validation "
                f"after re-asks; see {rejected.relative_to(ctx.out_dir)}"
            )
        if not_sent:
            ctx.log(
                f"synthesize {recipe}: {not_sent} prompts exceed the teacher's context even "
                f"shortened; not sent, see {rejected.relative_to(ctx.out_dir)}"
            )
    return StageResult(artifacts=artifacts, summary=summary)


async def generate(
    recipe: str, chunks: Sequence[Chunk], cfg: SynthesizeConfig, teacher: Teacher
) -> RecipeOutput:
    """One recipe over the chunks; a notebook can call this without a stage around it."""
    if recipe == pdf_synthetic.RECIPE:
        if teacher.tick is not None:
            teacher.tick.total(len(selected_chunks(chunks, cfg.pdf_synthetic)))
        return await pdf_synthetic.generate(chunks, cfg.pdf_synthetic, teacher)
    if recipe == distillation.RECIPE:
        return await distillation.generate(chunks, cfg.knowledge_distillation, teacher)
    raise ValueError(f"unknown recipe '{recipe}'")


# -- dry run ----------------------------------------------------------------------------------
def estimate(ctx: RunContext) -> list[CallEstimate]:
    cfg = ctx.config.synthesize
    try:
        chunks = load_chunks(ctx.manifest)
    except InputError:
        return [CallEstimate("teacher", 0, 0, 0, exact=False, note="no chunks yet: run ingest")]
    teacher = make_teacher(
        ctx, STAGE, ctx.config.section_hash("synthesize"), cfg.temperature, client=False
    )
    rows = []
    for recipe in cfg.recipes:
        if recipe == pdf_synthetic.RECIPE:
            rows.append(_estimate_pdf(ctx, chunks, cfg, teacher))
        else:
            rows.append(_estimate_distillation(ctx, chunks, cfg, teacher))
    return rows


def _estimate_pdf(
    ctx: RunContext, chunks: Sequence[Chunk], cfg: SynthesizeConfig, teacher: Teacher
) -> CallEstimate:
    """Exact in calls: one per chosen chunk, minus those already in the cache."""
    n = cfg.pdf_synthetic.questions_per_chunk
    calls = prompt = cached = 0
    for chunk in selected_chunks(chunks, cfg.pdf_synthetic):
        request = teacher.request(
            pdf_synthetic.messages_for(chunk, n), qa_pairs_model(n), pdf_synthetic.reply_chars(n)
        )
        if is_cached(ctx, teacher, request):
            cached += 1
            continue
        calls += 1
        prompt += request_tokens(request)
    note = f"pdf_synthetic: {n} pairs per chunk" + (f"; {cached} cached" if cached else "")
    return CallEstimate("teacher", calls, prompt, calls * n * PAIR_TOKENS, exact=True, note=note)


def _estimate_distillation(
    ctx: RunContext, chunks: Sequence[Chunk], cfg: SynthesizeConfig, teacher: Teacher
) -> CallEstimate:
    """Approximate: the topic count is only known once the teacher has listed the topics, so
    every document is assumed to yield its share of `max_topics`."""
    kd = cfg.knowledge_distillation
    docs = distillation.documents(chunks)
    limit = min(distillation.TOPICS_PER_DOCUMENT, kd.max_topics)
    topic_prompt = 0
    for doc in docs:
        messages = distillation.topics_messages(doc, limit)
        topic_prompt += estimate_tokens("".join(m.content for m in messages))
    topics = min(kd.max_topics, len(docs) * limit)
    cells = topics * len(kd.facets)
    answers = min(kd.target_size, cells * kd.max_questions_per_facet)
    question_calls = min(cells, answers)
    chunk_tokens = mean(c.n_tokens or estimate_tokens(c.text) for c in chunks) if chunks else 0
    context = int(kd.context_chunks * chunk_tokens) + 450  # + the instructions
    return CallEstimate(
        "teacher",
        calls=len(docs) + question_calls + answers,
        prompt_tokens=topic_prompt + (question_calls + answers) * context,
        completion_tokens=len(docs) * TOPIC_REPLY_TOKENS
        + answers * (QUESTION_TOKENS + ANSWER_TOKENS),
        exact=False,
        note=f"knowledge_distillation: ~{topics} topics x {len(kd.facets)} facets, "
        f"target {kd.target_size} records",
    )
