"""Synthesize without phase barriers: the recipes run at once under one call scheduler, and
what they write does not depend on the order their calls were served in."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from doctune.foundation import retrieval
from doctune.foundation.jsonl import dumps
from doctune.generation.common import FitTally, make_teacher
from doctune.generation.scheduler import WAVE, CallScheduler, Priority
from doctune.synth import stage
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import context, make_chunks, make_project, merge, run

CONFIG = {
    "synthesize": {
        "pdf_synthetic": {"questions_per_chunk": 2},
        "knowledge_distillation": {"target_size": 12, "max_topics": 3, "context_chunks": 2},
    }
}
RECIPES = ("pdf_synthetic", "knowledge_distillation")


def test_a_recipes_second_phase_starts_before_the_first_recipe_ends(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    """Seen in the server's log: distillation's question calls arrive while pdf_synthetic's
    calls are still being answered (run one recipe after the other, they could not). At
    concurrency 1 the calls are served one at a time, so the order is the scheduler's alone.
    bm25s is imported first: its 0.2-0.3 s import (the first in a process) outlasts the six
    calls at 10 ms, and the order of calls is what this test is about."""
    retrieval.preload()
    fake_openai.latency_s = 0.01
    project = make_project(tmp_path, merge(CONFIG, {"client": {"concurrency": 1}}))
    run(context(project, make_chunks()), "synthesize")
    timeline = fake_openai.timeline
    pdf = [t for t in timeline if t[2].startswith("QAPairs")]
    topics = [t for t in timeline if t[2] == "TopicOverview"]
    questions = [t for t in timeline if t[2].startswith("FacetQuestions")]
    assert len(pdf) == 6 and len(topics) == 3 and questions
    last_pdf_answered = max(t[1] for t in pdf)
    assert max(t[0] for t in topics) < last_pdf_answered
    assert min(t[0] for t in questions) < last_pdf_answered


def test_outputs_equal_those_of_recipes_run_one_after_the_other(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.latency_s = 0.005
    chunks = make_chunks()
    project = make_project(tmp_path / "together", merge(CONFIG, {"client": {"concurrency": 8}}))
    run(context(project, chunks), "synthesize")
    together = {
        r: (project / "out" / "synthesize" / f"{r}.jsonl").read_text("utf-8") for r in RECIPES
    }

    alone = make_project(tmp_path / "alone", CONFIG)
    ctx = context(alone, chunks)
    cfg = ctx.config.synthesize
    teacher = make_teacher(ctx, "synthesize", "h", cfg.temperature, client=True)
    teacher = dataclasses.replace(teacher, config_hash=ctx.config.section_hash("synthesize"))

    async def one_after_the_other() -> dict[str, str]:
        try:
            texts = {}
            for recipe in RECIPES:  # no scheduler: the old way, one recipe at a time
                own = dataclasses.replace(teacher, fitting=FitTally())
                output = await stage.generate(recipe, chunks, cfg, own)
                texts[recipe] = "".join(dumps(r) + "\n" for r in output.records)
            return texts
        finally:
            await ctx.aclose()

    assert asyncio.run(one_after_the_other()) == together


def test_the_scheduler_serves_priorities_first_then_arrival_order() -> None:
    async def go() -> list[str]:
        scheduler = CallScheduler(1)
        served: list[str] = []
        release = asyncio.Event()

        async def call(name: str, priority: Priority) -> None:
            async with scheduler.slot(priority):
                served.append(name)
                if name == "first":
                    await release.wait()

        first = asyncio.create_task(call("first", Priority.LEAF))
        await asyncio.sleep(0)
        waiting = [
            asyncio.create_task(call(name, priority))
            for name, priority in [
                ("leaf-1", Priority.LEAF),
                ("expand", Priority.EXPAND),
                ("leaf-2", Priority.LEAF),
                ("plan", Priority.PLAN),
            ]
        ]
        await asyncio.sleep(0)
        assert scheduler.waiting == 4 and scheduler.holding == 1
        release.set()
        await asyncio.gather(first, *waiting)
        assert scheduler.holding == 0
        return served

    assert asyncio.run(go()) == ["first", "plan", "expand", "leaf-1", "leaf-2"]


def test_free_slots_go_out_in_waves_best_priority_first() -> None:
    """At a stage's start every call asks in the same turn: the free slots go out a wave per
    turn of the loop (which polls its sockets in between), best priority first, and
    `dispatched` returns once the last wave's calls have run."""

    async def go() -> tuple[list[str], list[int]]:
        scheduler = CallScheduler(64)
        started: list[str] = []
        hold = asyncio.Event()

        async def call(name: str, priority: Priority) -> None:
            async with scheduler.slot(priority):
                started.append(name)
                await hold.wait()

        calls = [(f"leaf-{i}", Priority.LEAF) for i in range(2 * WAVE + 3)]
        calls += [(f"plan-{i}", Priority.PLAN) for i in range(3)]
        tasks = [asyncio.create_task(call(n, p)) for n, p in calls]
        await asyncio.sleep(0)  # every call asks for a slot
        waves = []
        while len(started) < len(calls):
            before = len(started)
            await asyncio.sleep(0)
            waves.append(len(started) - before)
        assert scheduler.holding == len(calls) and scheduler.waiting == 0
        await scheduler.dispatched()  # nothing left to hand out: returns at once
        hold.set()
        await asyncio.gather(*tasks)
        return started, [w for w in waves if w]

    started, waves = asyncio.run(asyncio.wait_for(go(), 5))
    assert started[:3] == ["plan-0", "plan-1", "plan-2"]
    assert started[3:] == [f"leaf-{i}" for i in range(2 * WAVE + 3)]
    assert waves == [WAVE, WAVE, 6]  # 2 * WAVE + 6 calls


def test_dispatched_waits_for_the_waves() -> None:
    async def go() -> tuple[int, int]:
        scheduler = CallScheduler(64)
        hold = asyncio.Event()
        ran = 0

        async def call() -> None:
            nonlocal ran
            async with scheduler.slot():
                ran += 1
                await hold.wait()

        tasks = [asyncio.create_task(call()) for _ in range(3 * WAVE)]
        await asyncio.sleep(0)
        await scheduler.dispatched()
        seen = ran
        hold.set()
        await asyncio.gather(*tasks)
        return seen, scheduler.holding

    assert asyncio.run(asyncio.wait_for(go(), 5)) == (3 * WAVE, 0)


def test_a_cancelled_waiter_gives_its_slot_on() -> None:
    async def go() -> None:
        scheduler = CallScheduler(1)
        hold = asyncio.Event()

        async def call() -> None:
            async with scheduler.slot():
                await hold.wait()

        holder = asyncio.create_task(call())
        await asyncio.sleep(0)
        cancelled, later = asyncio.create_task(call()), asyncio.create_task(call())
        await asyncio.sleep(0)
        cancelled.cancel()
        hold.set()
        await holder
        await later  # would hang if the cancelled waiter had kept the slot
        assert cancelled.cancelled() and scheduler.holding == 0

    asyncio.run(asyncio.wait_for(go(), 5))


def test_a_scheduler_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        CallScheduler(0)
