"""A stage that ended with model calls that failed keeps its outputs but stays out of date, so a
plain rerun asks those calls again (and only those); once every call is answered it is up to date.

The synthesize stage (pdf_synthetic, one structured call per chunk, one re-ask) against the
loopback server, whose QAPairs replies are garbled for a fixed share of the chunks' prompts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from doctune.context import RunContext
from doctune.pipeline import (
    UNANSWERED,
    StageResult,
    get_stage,
    is_up_to_date,
    run_stage,
    stage_fingerprint,
)
from doctune.serve.overview import STALE, UP_TO_DATE, stage_rows
from doctune.serve.state import ServeState
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import default_responder, garbled_prompt, garbling
from synth.helpers import TEACHER, context, make_chunks, make_project

RATE = 0.5
CONFIG = {
    "models": {"teacher": TEACHER, "judge": TEACHER},
    "synthesize": {"recipes": ["pdf_synthetic"], "pdf_synthetic": {"questions_per_chunk": 2}},
}


def plain_run(project: Path, name: str) -> StageResult | None:
    """One stage through the pipeline as `doctune run` does it: skipped when up to date."""
    ctx = RunContext(project, show_progress=False)

    async def go() -> StageResult | None:
        try:
            return await run_stage(ctx, get_stage(name))
        finally:
            await ctx.aclose()

    return asyncio.run(go())


def failures(project: Path) -> int:
    ctx = RunContext(project, show_progress=False)
    assert ctx.cache is not None
    try:
        return len(ctx.cache.failures())
    finally:
        ctx.cache.close()


def fingerprint_state(project: Path, name: str) -> tuple[str, bool]:
    ctx = RunContext(project, show_progress=False)
    state = ctx.manifest.stage_state(name)
    assert state is not None
    return state.fingerprint, is_up_to_date(ctx, get_stage(name))


def dataset_bytes(project: Path) -> bytes:
    ctx = RunContext(project, show_progress=False)
    return ctx.path(ctx.manifest.one("dataset", stage="synthesize")).read_bytes()


def overview_state(project: Path, name: str) -> str:
    rows = stage_rows(ServeState.load(project))
    return next(row.state for row in rows if row.name == name)


def garbled_prompts(server: FakeOpenAIServer) -> int:
    """The distinct prompts the garbling server answered with prose (on every attempt)."""
    users = {
        next(m["content"] for m in body["messages"] if m["role"] == "user")
        for body in server.bodies
    }
    return sum(garbled_prompt(user, RATE) for user in users)


def test_failed_calls_leave_the_stage_stale_until_a_plain_rerun_answers_them(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    chunks = make_chunks()
    project = make_project(tmp_path / "p", CONFIG)
    context(project, chunks)
    fake_openai.responders["QAPairs"] = garbling(default_responder, RATE)

    first = plain_run(project, "synthesize")
    assert first is not None
    n = first.summary[UNANSWERED]
    assert 0 < n < len(chunks) and n == garbled_prompts(fake_openai)
    assert failures(project) == n
    assert fake_openai.completions == len(chunks) + n  # each garbled prompt re-asked once
    fp, fresh = fingerprint_state(project, "synthesize")
    assert fp == "" and not fresh
    assert overview_state(project, "synthesize") == STALE
    garbled_output = dataset_bytes(project)
    curate_fp = _curate_fingerprint(project)

    # Still garbling: the stage runs again, asks only the failed chains (twice each: the ask and
    # its re-ask), writes the same output, so what reads it downstream is not redone.
    before = fake_openai.completions
    again = plain_run(project, "synthesize")
    assert again is not None and again.summary[UNANSWERED] == n
    assert fake_openai.completions - before == 2 * n
    assert dataset_bytes(project) == garbled_output
    assert _curate_fingerprint(project) == curate_fp

    # The endpoint recovered: a plain rerun asks the n failed calls, and nothing else.
    fake_openai.responders["QAPairs"] = default_responder
    before = fake_openai.completions
    healed = plain_run(project, "synthesize")
    assert healed is not None and UNANSWERED not in healed.summary
    assert fake_openai.completions - before == n
    assert failures(project) == 0
    fp, fresh = fingerprint_state(project, "synthesize")
    assert fp != "" and fresh
    assert overview_state(project, "synthesize") == UP_TO_DATE
    records = RunContext(project, show_progress=False).manifest.one("dataset", stage="synthesize")
    assert records.records == 2 * len(chunks)
    assert _curate_fingerprint(project) != curate_fp  # new records: curation is redone

    # A third run: up to date, no call.
    before = fake_openai.completions
    assert plain_run(project, "synthesize") is None
    assert fake_openai.completions == before


def _curate_fingerprint(project: Path) -> str:
    return stage_fingerprint(RunContext(project, show_progress=False), get_stage("curate"))
