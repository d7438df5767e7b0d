"""The hosted route against a loopback fake of OpenAI's files and fine-tuning endpoints: checks
before upload, a job followed to its model id, the provider's error, re-attaching after a
restart (one job, never two), cancel, hyperparameters as sent, and a key that never leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.train.hosted_helpers import example, experiments, log_text, make_ctx, run

from doctune.foundation.errors import ConfigError, InputError
from doctune.models.experiments import ExperimentTable
from doctune.testing.fake_finetuning import FAIL_MARKER, FakeFineTuningServer


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
