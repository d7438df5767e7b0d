"""The synthesize stage as a whole: resume exactness, reruns from the cache, dry-run estimates."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import pytest

from doctune.pipeline import get_stage, run_stage
from doctune.synth import stage
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import context, make_chunks, make_project, run

CONFIG = {
    "synthesize": {
        "pdf_synthetic": {"questions_per_chunk": 2},
        "knowledge_distillation": {"target_size": 20, "max_topics": 4, "context_chunks": 2},
    }
}
FILES = (
    "pdf_synthetic.jsonl",
    "pdf_synthetic.rejected.jsonl",
    "knowledge_distillation.jsonl",
    "knowledge_distillation.rejected.jsonl",
    "knowledge_distillation.topics.json",
)


def outputs(project: Path) -> dict[str, bytes]:
    return {name: (project / "out" / "synthesize" / name).read_bytes() for name in FILES}


def test_rerun_after_deleting_outputs_is_identical_and_free(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    project = make_project(tmp_path / "p", CONFIG)
    result = run(context(project, make_chunks()), "synthesize")
    assert result.summary["pdf_synthetic_records"] == 12
    assert result.summary["knowledge_distillation_records"] == 20
    first = outputs(project)
    paid = fake_openai.completions

    shutil.rmtree(project / "out" / "synthesize")
    run(context(project), "synthesize")
    assert outputs(project) == first
    assert fake_openai.completions == paid  # every call came from the cache


def test_killed_run_resumes_to_the_same_records(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    """A run cancelled half-way (what SIGKILL does to the in-flight calls) and run again ends with
    exactly the bytes of a run never interrupted, repeating only calls that never finished."""
    reference = make_project(tmp_path / "reference", CONFIG)
    run(context(reference, make_chunks()), "synthesize")
    total = fake_openai.completions

    fake_openai.latency_s = 0.02
    project = make_project(tmp_path / "killed", CONFIG)
    ctx = context(project, make_chunks())

    async def interrupted() -> None:
        task = asyncio.ensure_future(run_stage(ctx, get_stage("synthesize"), force=True))
        while fake_openai.completions < total + 12 and not task.done():
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ctx.aclose()

    asyncio.run(interrupted())
    before_resume = fake_openai.completions
    assert before_resume - total >= 12
    assert not (project / "out" / "synthesize" / "knowledge_distillation.jsonl").exists()

    fake_openai.latency_s = 0.0
    run(context(project), "synthesize")
    resumed = fake_openai.completions - before_resume
    assert 0 < resumed < total
    assert outputs(project) == outputs(reference)


def test_failed_endpoint_stops_the_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from doctune.foundation.errors import ModelError
    from doctune.testing.fake_openai import Faults

    with FakeOpenAIServer(faults=Faults(rate_500=1.0)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        project = make_project(tmp_path, CONFIG)
        with pytest.raises(ModelError):
            run(context(project, make_chunks()), "synthesize")
    assert not (project / "out" / "synthesize" / "pdf_synthetic.jsonl").exists()


def test_estimate_counts_calls_and_skips_cached(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    chunks = make_chunks()
    cfg = {
        "synthesize": {
            **CONFIG["synthesize"],
            "pdf_synthetic": {"questions_per_chunk": 2, "max_chunks": 4},
        }
    }
    project = make_project(tmp_path, cfg)
    pdf, kd = stage.estimate(context(project, chunks))
    assert (pdf.calls, pdf.exact) == (4, True)
    assert pdf.prompt_tokens > sum(len(c.text) for c in chunks[:4]) // 4
    assert pdf.completion_tokens > 0
    assert kd.exact is False
    assert kd.calls == 3 + min(4 * 5, 20) + 20  # documents + topic x facet cells + answers
    assert fake_openai.completions == 0  # estimating calls no model

    run(context(project), "synthesize")
    pdf, _ = stage.estimate(context(project))
    assert (pdf.calls, pdf.prompt_tokens) == (0, 0)
    assert "4 cached" in pdf.note


def test_estimate_without_chunks(tmp_path: Path) -> None:
    ctx = context(make_project(tmp_path, CONFIG))
    [row] = stage.estimate(ctx)
    assert row.calls == 0 and "ingest" in row.note
