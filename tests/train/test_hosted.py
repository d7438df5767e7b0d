"""The hosted route against a loopback fake of OpenAI's files and fine-tuning endpoints: checks
before upload, a job followed to its model id, the provider's error, re-attaching after a
restart (one job, never two), cancel, hyperparameters as sent, and a key that never leaks."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from rich.console import Console

from doctune.context import RunContext
from doctune.foundation.errors import ConfigError, InputError, ModelError
from doctune.foundation.jsonl import write_jsonl
from doctune.models.experiments import ExperimentTable
from doctune.models.grid import Experiment, expand
from doctune.testing.fake_finetuning import FAIL_MARKER, FakeFineTuningServer
from doctune.train.hosted import STATE_NAME, prepare_request, run_hosted

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


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFineTuningServer]:
    with FakeFineTuningServer() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield fake


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


def test_a_file_that_fails_the_checks_is_never_uploaded(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    bad = [example(i) for i in range(12)]
    bad[2]["messages"] = bad[2]["messages"][:2]  # line 3: no assistant message
    ctx = make_ctx(tmp_path, rows={"train": bad, "validation": [example(1)]})
    with pytest.raises(InputError) as info:
        run(ctx)
    message = str(info.value)
    assert "knowledge_distillation_train.jsonl:3: example_missing_assistant_message" in message
    assert "\n" not in message
    assert server.auth_headers == []  # not one request reached the provider
    assert not server.files and not server.jobs


def test_a_bad_validation_file_is_caught_too(tmp_path: Path, server: FakeFineTuningServer) -> None:
    ctx = make_ctx(
        tmp_path,
        rows={"train": [example(i) for i in range(12)], "validation": [{"messages": []}]},
    )
    with pytest.raises(InputError, match=r"validation\.jsonl:1: missing_messages_list"):
        run(ctx)
    assert server.auth_headers == []


def test_a_job_is_followed_to_its_model_and_recorded(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(
        tmp_path, train={"hosted": {"poll_interval_s": 0.001, "price_per_mtok_trained": 3.0}}
    )
    row = run(ctx)

    assert server.counts["create"] == 1 and server.counts["upload"] == 2
    (job_id,) = server.jobs
    job = server.jobs[job_id]
    assert row.status == "succeeded"
    assert row.job_id == job_id
    assert row.output == f"ft:gpt-4o-mini:doctune:{job_id.rsplit('-', 1)[-1]}"
    assert row.route == "hosted" and row.method == "hosted"
    assert row.train_tokens == job.trained_tokens > 0
    assert row.cost_usd == pytest.approx(job.trained_tokens * 3.0 / 1e6)
    # The fake's last step (3 of 3): train loss 2/(1+3), full validation loss 0.5 + 0.05.
    assert row.train_loss == pytest.approx(0.5)
    assert row.validation_loss == pytest.approx(0.55)
    assert row.steps == 3 and row.error is None and row.finished_at
    # The table on disk says the same (a fresh reader, as `doctune experiments` would be).
    on_disk = ExperimentTable(ctx.out_dir).get(row.id)
    assert on_disk == row
    assert ExperimentTable(ctx.out_dir).spec(on_disk) == f"openai:{row.output}"
    metrics = (ctx.out_dir / "train" / row.id / "metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("step,train_loss,valid_loss")
    assert len(metrics) == 4 and metrics[-1].startswith("3,0.5,0.6")
    log = log_text(ctx)
    assert f"created job {job_id}" in log and "succeeded" in log


def test_hyperparameters_reach_the_server_as_sent(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(
        tmp_path,
        train={
            "seed": 7,
            "hosted": {"poll_interval_s": 0.001, "suffix": "ibu"},
            "experiments": [
                {"name": "auto", "epochs": 1, "batch_size": 1, "learning_rate": 1.8e-5},
                {"name": "lrm", "epochs": 5, "batch_size": 4, "learning_rate_multiplier": 0.5},
            ],
        },
    )
    for exp in experiments(ctx):
        assert run(ctx, exp).status == "succeeded"
    first, second = server.job_requests
    uploads = {f.filename: f.id for f in server.files.values() if f.purpose == "fine-tune"}
    assert first["model"] == "gpt-4o-mini"
    assert first["training_file"] == uploads["knowledge_distillation_train.jsonl"]
    assert first["validation_file"] == uploads["knowledge_distillation_validation.jsonl"]
    assert first["suffix"] == "ibu" and first["seed"] == 7
    assert first["method"] == {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": "auto"}
        },
    }
    assert second["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 5,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert "hyperparameters" not in first  # the deprecated top-level field is not sent
    assert first["metadata"]["doctune_experiment"] == experiments(ctx)[0].id
    # Two experiments, one training file: uploaded once, reused by the second.
    assert server.counts["upload"] == 2


def test_hosted_jobs_refuse_what_the_api_cannot_express(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path, train={"experiments": [{"name": "half", "epochs": 1.5}]})
    with pytest.raises(ConfigError, match=r"whole epochs, got 1\.5"):
        run(ctx)
    ctx = make_ctx(
        tmp_path, train={"experiments": [{"name": "ga", "gradient_accumulation_steps": 2}]}
    )
    with pytest.raises(ConfigError, match="no gradient accumulation"):
        run(ctx)
    assert server.auth_headers == []


def test_no_validation_file_when_switched_off(tmp_path: Path, server: FakeFineTuningServer) -> None:
    ctx = make_ctx(
        tmp_path, train={"hosted": {"poll_interval_s": 0.001, "upload_validation": False}}
    )
    row = run(ctx)
    assert "validation_file" not in server.job_requests[0]
    assert server.counts["upload"] == 1
    assert row.status == "succeeded" and row.validation_loss is None


def test_a_finished_experiment_costs_no_call_on_rerun(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    first = run(ctx)
    requests = len(server.auth_headers)
    again = run(ctx)
    assert again == first
    assert len(server.auth_headers) == requests


def test_a_failed_job_reports_the_providers_error(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    lines = [example(i) for i in range(12)]
    lines[5] = example(5, answer=f"A5 {FAIL_MARKER}")  # valid JSONL the provider rejects
    ctx = make_ctx(tmp_path, rows={"train": lines, "validation": [example(99)]})
    row = run(ctx)
    assert row.status == "failed"
    assert row.error == (
        "invalid_training_file: The job failed due to an invalid training file. Example 6: "
        "[/messages] is not a valid chat example."
    )
    assert row.output is None
    failure_lines = [line for line in log_text(ctx).splitlines() if "failed:" in line]
    assert len(failure_lines) == 1 and f"failed: {row.error}" in failure_lines[0]
    # Rerun: reported again, no second job; `retry` asks for one.
    assert run(ctx).status == "failed"
    assert server.counts["create"] == 1
    assert "not restarted" in log_text(ctx)
    retried = run(ctx, retry=True)
    assert server.counts["create"] == 2 and retried.job_id != row.job_id


async def _start_and_detach(ctx: RunContext, server: FakeFineTuningServer, exp: Experiment) -> str:
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


def test_a_restart_reattaches_to_the_running_job(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    async def scenario() -> Any:
        job_id = await _start_and_detach(ctx, server, exp)
        assert server.jobs[job_id].status == "running"  # detaching does not cancel the job
        server.hold = False
        # A new process: new table object, new client.
        return job_id, await run_hosted(ctx, exp, ExperimentTable(ctx.out_dir))

    job_id, row = asyncio.run(scenario())
    assert server.counts["create"] == 1 and server.counts["upload"] == 2
    assert row.job_id == job_id and row.status == "succeeded"
    assert "detached from job" in log_text(ctx) and "re-attaching to job" in log_text(ctx)


def test_a_job_created_but_never_recorded_is_adopted(
    tmp_path: Path, server: FakeFineTuningServer
) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    async def scenario() -> Any:
        job_id = await _start_and_detach(ctx, server, exp)
        (ctx.out_dir / "train" / "experiments.jsonl").unlink()  # as if killed before recording
        server.hold = False
        return job_id, await run_hosted(ctx, exp, ExperimentTable(ctx.out_dir))

    job_id, row = asyncio.run(scenario())
    assert server.counts["create"] == 1
    assert row.job_id == job_id and row.status == "succeeded"


def test_unrecorded_job_is_found_in_the_state_file_when_the_provider_cannot_list(
    tmp_path: Path, server: FakeFineTuningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between creating the job and recording it, on a provider with no job listing:
    the job id saved in the state file at creation still prevents a second paid job."""
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    async def scenario() -> Any:
        job_id = await _start_and_detach(ctx, server, exp)
        (ctx.out_dir / "train" / "experiments.jsonl").unlink()
        server.hold = False

        def no_listing(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the provider's job list must not be needed")

        monkeypatch.setattr(openai.resources.fine_tuning.jobs.AsyncJobs, "list", no_listing)
        return job_id, await run_hosted(ctx, exp, ExperimentTable(ctx.out_dir))

    job_id, row = asyncio.run(scenario())
    assert server.counts["create"] == 1
    assert row.job_id == job_id and row.status == "succeeded"
    assert "in the state file" in log_text(ctx)


def test_cancel(tmp_path: Path, server: FakeFineTuningServer) -> None:
    ctx = make_ctx(tmp_path)
    exp = experiments(ctx)[0]

    async def scenario() -> Any:
        job_id = await _start_and_detach(ctx, server, exp)
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
        await _start_and_detach(make_ctx(tmp_path, train={"seed": 2}), server, exp)

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
