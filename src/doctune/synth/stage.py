"""Stage `synthesize`: chunks -> one dataset per recipe, plus the calls that failed.

Resume is exact by construction: record ids are derived from content, records are ordered by
their inputs (never by completion), each recipe's files are written atomically once it finishes,
and every call is cached. A run killed half-way and started again replays the finished calls
from the cache and ends with the same bytes as a run never interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from doctune.context import RunContext
from doctune.foundation.aio import gather_all
from doctune.foundation.artifacts import load_chunks
from doctune.foundation.config import SynthesizeConfig
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import write_json, write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.foundation.records import Chunk
from doctune.foundation.results import CallEstimate, StageResult
from doctune.generation import expected
from doctune.generation.common import (
    FitTally,
    RecipeOutput,
    Teacher,
    call_limit,
    is_cached,
    make_teacher,
)
from doctune.generation.recipes import get_recipe
from doctune.generation.scheduler import CallScheduler, slots_over

STAGE = "synthesize"


async def run(ctx: RunContext) -> StageResult:
    """Every recipe at once, their calls under one limit (see generation.scheduler): no recipe
    waits for another to finish, and the endpoint stays busy through each one's phases."""
    chunks = load_chunks(ctx)
    cfg = ctx.config.synthesize
    teacher = make_teacher(
        ctx, STAGE, ctx.config.section_hash("synthesize"), cfg.temperature, client=True
    )
    assert teacher.client is not None
    limit = call_limit(teacher.client, ctx.config.client.concurrency)
    scheduler = CallScheduler(slots_over(limit))
    out_dir = ctx.stage_dir(STAGE)
    with contextlib.ExitStack() as bars:  # entered and left in order: rich nests them
        teachers = [
            dataclasses.replace(
                teacher,
                tick=bars.enter_context(ctx.progress(f"synthesize {recipe}", None)),
                fitting=FitTally(),
                scheduler=scheduler,
            )
            for recipe in cfg.recipes
        ]
        outputs = await gather_all(
            _generate_and_write(recipe, chunks, cfg, recipe_teacher, out_dir)
            for recipe, recipe_teacher in zip(cfg.recipes, teachers, strict=True)
        )
    artifacts: list[Artifact] = []
    summary: dict[str, object] = {"chunks": len(chunks)}
    for recipe, recipe_teacher, output in zip(cfg.recipes, teachers, outputs, strict=True):
        dataset = out_dir / f"{recipe}.jsonl"
        rejected = out_dir / f"{recipe}.rejected.jsonl"
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


async def _generate_and_write(
    recipe: str, chunks: Sequence[Chunk], cfg: SynthesizeConfig, teacher: Teacher, out_dir: Path
) -> RecipeOutput:
    """One recipe, its files written (each atomically) as soon as it is done; in a thread,
    so the other recipes' calls go on meanwhile."""
    output = await generate(recipe, chunks, cfg, teacher)
    await asyncio.to_thread(_write, recipe, output, out_dir)
    return output


def _write(recipe: str, output: RecipeOutput, out_dir: Path) -> None:
    write_jsonl(out_dir / f"{recipe}.jsonl", output.records)
    write_jsonl(out_dir / f"{recipe}.rejected.jsonl", output.rejected)
    for name, data in output.sidecar.items():  # for people to read; no stage depends on it
        write_json(out_dir / f"{recipe}.{name}.json", data)


async def generate(
    recipe: str, chunks: Sequence[Chunk], cfg: SynthesizeConfig, teacher: Teacher
) -> RecipeOutput:
    """One recipe over the chunks; a notebook can call this without a stage around it."""
    return await get_recipe(recipe).generate(chunks, cfg, teacher)


# -- dry run ----------------------------------------------------------------------------------
def estimate(ctx: RunContext) -> list[CallEstimate]:
    cfg = ctx.config.synthesize
    try:
        chunks = load_chunks(ctx)
    except InputError:
        return [CallEstimate("teacher", 0, 0, 0, exact=False, note="no chunks yet: run ingest")]
    teacher = make_teacher(
        ctx, STAGE, ctx.config.section_hash("synthesize"), cfg.temperature, client=False
    )
    return [
        expected.with_last_run(
            ctx,
            name,
            get_recipe(name).estimate(chunks, cfg, teacher, lambda r: is_cached(ctx, teacher, r)),
            chunks,
        )
        for name in cfg.recipes
    ]
