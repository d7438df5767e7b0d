"""The hosted route over restarts and changes: re-attaching to a running job (one job, never two),
adopting one created but never recorded, cancel, a changed config, the state file, and a key that
never leaks; the fake's payloads checked against the SDK's types."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from tests.train.hosted_helpers import (
    KEY,
    STUDENT,
    experiments,
    log_text,
    make_ctx,
    restarted,
    run,
    start_and_detach,
)

from doctune.foundation.errors import ConfigError, ModelError
from doctune.models.experiments import ExperimentTable
from doctune.testing.fake_finetuning import FakeFineTuningServer
from doctune.train.hosted import STATE_NAME, prepare_request, run_hosted


def test_a_restart_reattaches_to_the_running_job(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    def still_running(job_id: str) -> None:
        assert server.jobs[job_id].status == "running"  # detaching does not cancel the job

    job_id, row = restarted(ctx, server, exp, still_running)
    assert server.counts["create"] == 1 and server.counts["upload"] == 2
    assert row.job_id == job_id and row.status == "succeeded"
    assert "detached from job" in log_text(ctx) and "re-attaching to job" in log_text(ctx)


def test_a_job_created_but_never_recorded_is_adopted(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    def unrecorded(job_id: str) -> None:
        (ctx.out_dir / "train" / "experiments.jsonl").unlink()  # as if killed before recording

    job_id, row = restarted(ctx, server, exp, unrecorded)
    assert server.counts["create"] == 1
    assert row.job_id == job_id and row.status == "succeeded"


def test_unrecorded_job_is_found_in_the_state_file_when_the_provider_cannot_list(
    tmp_path: Path, server: FakeFineTuningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between creating the job and recording it, on a provider with no job listing:
    the job id saved in the state file at creation still prevents a second paid job."""
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    def no_listing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the provider's job list must not be needed")

    def unrecorded_and_unlisted(job_id: str) -> None:
        (ctx.out_dir / "train" / "experiments.jsonl").unlink()
        monkeypatch.setattr(openai.resources.fine_tuning.jobs.AsyncJobs, "list", no_listing)

    job_id, row = restarted(ctx, server, exp, unrecorded_and_unlisted)
    assert server.counts["create"] == 1
    assert row.job_id == job_id and row.status == "succeeded"
    assert "in the state file" in log_text(ctx)


def test_cancel(tmp_path: Path, server: FakeFineTuningServer) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    async def scenario() -> Any:
        job_id = await start_and_detach(ctx, server, exp)
        return job_id, await run_hosted(ctx, exp, ExperimentTable(ctx.out_dir), cancel=True)

    job_id, row = asyncio.run(scenario())
    assert server.jobs[job_id].status == "cancelled" and server.counts["cancel"] == 1
    assert row.status == "cancelled" and row.job_id == job_id
    assert ExperimentTable(ctx.out_dir).get(exp.id).status == "cancelled"  # type: ignore[union-attr]
    # A rerun reports it and starts nothing.
    assert run(ctx).status == "cancelled" and server.counts["create"] == 1


def test_cancel_of_a_finished_or_missing_job(tmp_path: Path, server: FakeFineTuningServer) -> None:
    ctx = make_ctx(tmp_path)
    assert run(ctx, cancel=True).status == "pending"
    assert "no hosted job to cancel" in log_text(ctx)
    done = run(ctx)
    after = run(ctx, cancel=True)
    assert after.status == "succeeded" and after.output == done.output
    assert server.counts["cancel"] == 0


def test_a_changed_config_makes_a_new_job_but_never_beside_a_running_one(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]
    first = run(ctx, exp)
    changed = make_ctx(tmp_path, train={"seed": 1})
    second = run(changed, exp)
    assert server.counts["create"] == 2 and second.job_id != first.job_id
    assert second.status == "succeeded" and second.config_hash != first.config_hash

    async def running_then_changed() -> None:
        await start_and_detach(make_ctx(tmp_path, train={"seed": 2}), server, exp)

    asyncio.run(running_then_changed())
    with pytest.raises(ConfigError, match="still running with the previous config"):
        run(make_ctx(tmp_path, train={"seed": 3}), exp)
    assert server.counts["create"] == 3


def test_the_key_never_reaches_an_error_a_log_or_a_file(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    server.echo_auth_in_errors = True
    server.unavailable_models.add("gpt-4o-mini")
    ctx = make_ctx(tmp_path)
    with pytest.raises(ModelError) as info:
        run(ctx)
    message = str(info.value)
    assert "not available for fine-tuning" in message and "HTTP 400" in message
    assert KEY not in message and "***" in message
    assert server.auth_headers[-1] == f"Bearer {KEY}"  # the key was sent, and echoed back
    server.unavailable_models.clear()
    assert run(ctx).status == "succeeded"
    written = [p for p in ctx.out_dir.rglob("*") if p.is_file()]
    assert any(p.name == STATE_NAME for p in written)
    for path in written:
        assert KEY not in path.read_text(encoding="utf-8", errors="replace"), path
    assert KEY not in log_text(ctx)


def test_state_file_remembers_uploads_by_content(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    row = run(ctx)
    state = json.loads((ctx.out_dir / "train" / row.id / STATE_NAME).read_text())
    assert sorted(state["files"].values()) == sorted(
        f.id for f in server.files.values() if f.purpose == "fine-tune"
    )
    assert [j["id"] for j in state["jobs"]] == [row.job_id]
    assert prepare_request(ctx, experiments(ctx)[0]).fingerprint == row.config_hash
    # A new job (changed seed) reuses the uploads; a file deleted on the provider since is
    # uploaded again rather than referenced.
    run(make_ctx(tmp_path, train={"seed": 1}))
    assert server.counts["upload"] == 2
    server.files.clear()
    run(make_ctx(tmp_path, train={"seed": 2}))
    assert server.counts["upload"] == 4


def test_fake_payloads_match_the_sdk_types(tmp_path: Path, server: FakeFineTuningServer) -> None:
    ctx = make_ctx(tmp_path)
    run(ctx)
    for job in server.jobs.values():
        FineTuningJob.model_validate(job.payload())
        for event in job.events:
            FineTuningJobEvent.model_validate(event)
    for file in server.files.values():
        FileObject.model_validate(file.payload())


def test_any_provider_through_per_model_settings(
    tmp_path: Path, server: FakeFineTuningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("PROVIDER_KEY", "sk-provider-key")
    settings = {STUDENT: {"base_url": server.base_url, "api_key": "${PROVIDER_KEY}"}}
    ctx = make_ctx(tmp_path, settings=settings)
    assert run(ctx).status == "succeeded"
    assert set(server.auth_headers) == {"Bearer sk-provider-key"}
    for path in ctx.out_dir.rglob("*"):
        if path.is_file():
            assert "sk-provider-key" not in path.read_text(errors="replace"), path


def test_no_endpoint_is_one_line_after_the_checks(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    with pytest.raises(ModelError, match="no endpoint: set OPENAI_API_KEY"):
        run(ctx)
