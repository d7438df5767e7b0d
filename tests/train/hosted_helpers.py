"""A project whose export is done, a run of the hosted route on it, and a run killed while its
job runs: for test_hosted.py and test_hosted_resume.py."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from doctune.context import RunContext
from doctune.foundation.jsonl import write_jsonl
from doctune.models.experiments import ExperimentTable
from doctune.models.grid import Experiment, expand
from doctune.testing.fake_finetuning import FakeFineTuningServer
from doctune.train.hosted import run_hosted

KEY = "sk-test-secret-value"
STUDENT = "openai:gpt-4o-mini"


def example(i: int, answer: str | None = None) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are an expert assistant."},
            {"role": "user", "content": f"Q{i}: at what temperature is the ketone hydrogenated?"},
            {"role": "assistant", "content": answer or f"A{i}: over Raney nickel at {70 + i} °C."},
        ]
    }


def make_ctx(
    tmp_path: Path,
    train: dict[str, Any] | None = None,
    rows: dict[str, list[dict[str, Any]]] | None = None,
    settings: dict[str, Any] | None = None,
) -> RunContext:
    """A project whose export stage is done: OpenAI JSONL files in the manifest."""
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    train_cfg = {
        "students": [STUDENT],
        "experiments": [{"name": "exp1", "epochs": 3, "batch_size": 2, "learning_rate": 1.8e-5}],
        "hosted": {"poll_interval_s": 0.001},
        **(train or {}),
    }
    models = {"student": STUDENT, "settings": settings or {}}
    config = {"name": "ibuprofen", "models": models, "train": train_cfg}
    (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    console = Console(file=io.StringIO(), width=400)
    ctx = RunContext(project, show_progress=False, console=console)
    if rows is None:
        rows = {
            "train": [example(i) for i in range(12)],
            "validation": [example(100 + i) for i in range(3)],
        }
    artifacts = []
    for split, lines in rows.items():
        path = ctx.out_dir / "export" / "openai" / f"knowledge_distillation_{split}.jsonl"
        write_jsonl(path, lines)
        artifacts.append(
            ctx.manifest.artifact(
                "export",
                "openai_jsonl",
                path,
                recipe="knowledge_distillation",
                split=split,
                format="openai",
            )
        )
    ctx.manifest.replace_stage("export", artifacts, "export-fingerprint")
    return ctx


def log_text(ctx: RunContext) -> str:
    return ctx.console.file.getvalue()  # type: ignore[attr-defined]


def experiments(ctx: RunContext) -> list[Experiment]:
    return expand(ctx.config.train, STUDENT)


def run(ctx: RunContext, exp: Experiment | None = None, **kwargs: Any) -> Any:
    table = ExperimentTable(ctx.out_dir)
    return asyncio.run(run_hosted(ctx, exp or experiments(ctx)[0], table, **kwargs))


async def start_and_detach(ctx: RunContext, server: FakeFineTuningServer, exp: Experiment) -> str:
    """Start a run, wait until its job is running, and cancel the task (a killed doctune)."""
    server.hold = True
    task = asyncio.create_task(run_hosted(ctx, exp, ExperimentTable(ctx.out_dir)))
    before = set(server.jobs)
    new: list[str] = []
    for _ in range(2000):
        await asyncio.sleep(0.005)
        new = [i for i, job in server.jobs.items() if i not in before and job.status == "running"]
        if new:
            break
    (job_id,) = new
    # The id was recorded before polling: a fresh reader of the table sees the running job.
    recorded = ExperimentTable(ctx.out_dir).get(exp.id)
    assert recorded is not None and recorded.job_id == job_id and recorded.status == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return job_id


def restarted(
    ctx: RunContext,
    server: FakeFineTuningServer,
    exp: Experiment,
    meanwhile: Callable[[str], None] = lambda job_id: None,
) -> tuple[str, Any]:
    """A run killed while its job runs, `meanwhile(job_id)` done to what it left, then the job
    let finish and a new run started (as a new process would: a new table, a new client)."""

    async def scenario() -> tuple[str, Any]:
        job_id = await start_and_detach(ctx, server, exp)
        meanwhile(job_id)
        server.hold = False
        return job_id, await run_hosted(ctx, exp, ExperimentTable(ctx.out_dir))

    return asyncio.run(scenario())
