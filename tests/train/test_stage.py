"""The train stage: the talk's six experiments, per-experiment bookkeeping (skip what succeeded
with the same config, keep going after a failure, fail at the end), launch overrides, and the
`doctune train` / `doctune experiments` commands end to end on the tiny model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.train.helpers import (
    QA,
    one_torch_thread,  # noqa: F401 (a fixture, used by pytestmark)
    write_chat_jsonl,
)

from doctune import pipeline
from doctune.cli import main
from doctune.context import RunContext
from doctune.foundation.config import DistributedConfig, Hyperparameters, TrainConfig
from doctune.foundation.config.options import TrainOptions
from doctune.foundation.errors import ConfigError, InputError
from doctune.models import grid
from doctune.models.experiments import ExperimentTable
from doctune.train import launch, stage
from doctune.train.local import TrainJob, TrainResult

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The talk's Qwen2.5-7B runs on the knowledge-distillation dataset. Its slides list Exp6 twice,
# once with 1 epoch and once with 3; the results table names epoch 1, batch 1, lr 1.0e-5 as the
# best Qwen run, which only Exp6 with 1 epoch can be.
TALK = [
    ("Exp1", 1, 1, 1.8e-5),
    ("Exp2", 3, 1, 1.8e-5),
    ("Exp3", 5, 1, 1.8e-5),
    ("Exp4", 3, 2, 1.8e-5),
    ("Exp5", 3, 4, 1.8e-5),
    ("Exp6", 1, 1, 1.0e-5),
]


def test_the_talks_six_experiments_as_an_explicit_list() -> None:
    cfg = TrainConfig(
        experiments=[
            Hyperparameters(name=n, epochs=e, batch_size=b, learning_rate=lr)
            for n, e, b, lr in TALK
        ],
        grid={"epochs": [9]},  # unused when the list is given
    )
    exps = grid.expand(cfg, "hf:Qwen/Qwen2.5-7B-Instruct")
    assert [(e.name, e.hp.epochs, e.hp.batch_size, e.hp.learning_rate) for e in exps] == TALK
    assert {e.dataset for e in exps} == {"knowledge_distillation"}
    assert {e.route for e in exps} == {"local"}
    assert exps[0].id == "Qwen2.5-7B-Instruct--knowledge_distillation--Exp1"


def test_command_line_flags_override_the_distributed_section() -> None:
    base = DistributedConfig(mixed_precision="bf16")
    dist = stage.distributed_settings(
        base, {"launcher": "accelerate", "num_processes": 2, "deepspeed": "zero3", "fsdp": None}
    )
    assert (dist.launcher, dist.num_processes, dist.deepspeed, dist.mixed_precision) == (
        "accelerate", 2, "zero3", "bf16",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="DeepSpeed or FSDP"):
        stage.distributed_settings(base, {"deepspeed": "zero2", "fsdp": True})


# -- a project with exported files -------------------------------------------------------------
def make_project(root: Path, student: str, train: dict[str, Any]) -> Path:
    """A project whose manifest already holds the split and export stages' files."""
    root.mkdir(parents=True, exist_ok=True)
    config = {"name": "t", "models": {"student": student}, "train": train}
    (root / "doctune.yaml").write_text(yaml.safe_dump(config))
    ctx = RunContext(root, show_progress=False)
    out = ctx.out_dir
    split = write_chat_jsonl(out / "split" / "kd.jsonl", QA[:2])  # stands in for the dataset
    ctx.manifest.replace_stage(
        "split",
        [ctx.manifest.artifact("split", "dataset", split, recipe="knowledge_distillation")],
        "s",
    )
    exported = []
    for name, pairs in (("train", QA[:8]), ("validation", QA[8:10])):
        path = write_chat_jsonl(
            out / "export" / "openai" / f"knowledge_distillation_{name}.jsonl", pairs
        )
        exported.append(
            ctx.manifest.artifact(
                "export", "openai_jsonl", path, recipe="knowledge_distillation", split=name
            )
        )
    ctx.manifest.replace_stage("export", exported, "e")
    return root


def _ctx(project: Path, **flags: Any) -> RunContext:
    """A context with the `doctune train` flags given (distributed ones go to their field)."""
    distributed = {k: flags.pop(k) for k in list(flags) if k in DistributedConfig.model_fields}
    options = TrainOptions(**flags, distributed=distributed)
    return RunContext(project, show_progress=False, options=options)


class FakeLaunch:
    """Stands in for `launch.run_job`: records jobs, writes an adapter folder, reports back."""

    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.fail = fail
        self.jobs: list[TrainJob] = []

    def __call__(self, job: TrainJob, dist: DistributedConfig, echo: Any = None) -> TrainResult:
        self.jobs.append(job)
        name = job.experiment.rsplit("--", 1)[1]
        if name in self.fail:
            return TrainResult(status="failed", error="RuntimeError: out of memory")
        folder = Path(job.output_dir)
        (folder / "adapter").mkdir(parents=True, exist_ok=True)
        (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"x")
        (folder / "training_log.json").write_text("{}")
        return TrainResult(
            status="succeeded",
            train_loss=0.5,
            validation_loss=job.hp.epochs,
            steps=4,
            output="adapter",
        )

    def names(self) -> list[str]:
        return [j.experiment.rsplit("--", 1)[1] for j in self.jobs]


TWO = {"experiments": [{"name": "A", "epochs": 1}, {"name": "B", "epochs": 2}]}


def test_each_experiment_is_recorded_failures_do_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "p", "hf:/models/tiny", TWO)
    fake = FakeLaunch(fail={"A"})
    monkeypatch.setattr(launch, "run_job", fake)
    ctx = _ctx(project)
    with pytest.raises(stage.TrainingFailed, match=r"1 of 2 experiments failed \(first: .*--A: "):
        asyncio.run(pipeline.run_stage(ctx, pipeline.get_stage("train")))
    assert fake.names() == ["A", "B"]
    table = ExperimentTable(ctx.out_dir)
    a, b = sorted(table.rows.values(), key=lambda r: r.name)
    assert (a.status, a.error) == ("failed", "RuntimeError: out of memory")
    assert (
        b.status == "succeeded" and b.output == f"train/{b.id}/adapter" and b.validation_loss == 2
    )
    # What succeeded is registered; the stage stays out of date so a rerun retries.
    adapters = ctx.manifest.find("adapter")
    assert [x.name for x in adapters] == [b.id]
    assert {x.name for x in ctx.manifest.find("training_log")} == {b.id}
    fp = pipeline.stage_fingerprint(ctx, pipeline.get_stage("train"))
    assert not ctx.manifest.is_up_to_date("train", fp)

    retry = FakeLaunch()
    monkeypatch.setattr(launch, "run_job", retry)
    result = asyncio.run(stage.run(_ctx(project)))
    assert retry.names() == ["A"]  # B succeeded with the same config: skipped
    assert result.summary == {"experiments": 2, "succeeded": 2, "failed": 0}
    assert {x.name for x in result.artifacts if x.kind == "adapter"} == {a.id, b.id}


def test_a_changed_setting_retrains_and_one_experiment_can_be_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "p", "hf:/models/tiny", TWO)
    fake = FakeLaunch()
    monkeypatch.setattr(launch, "run_job", fake)
    asyncio.run(stage.run(_ctx(project)))
    (project / "doctune.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "models": {"student": "hf:/models/tiny"},
                "train": {**TWO, "lora": {"r": 4}},
            }
        )
    )
    result = asyncio.run(stage.run(_ctx(project, experiment="B")))
    assert fake.names() == ["A", "B", "B"]
    # A's adapter from the earlier config stays registered; only B was retrained.
    assert len([x for x in result.artifacts if x.kind == "adapter"]) == 2
    assert fake.jobs[-1].train.lora.r == 4
    with pytest.raises(ConfigError, match="no experiment named 'C'"):
        asyncio.run(stage.run(_ctx(project, experiment="C")))


def test_a_student_flag_replaces_the_configured_students(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p", "hf:/models/tiny", {**TWO, "students": ["hf:/a", "hf:/b"]}
    )
    ctx = RunContext(project, overrides={"student": "hf:/c"}, show_progress=False)
    assert {e.student for e in stage.experiments_of(ctx)} == {"hf:/c"}
    assert {e.student for e in stage.experiments_of(_ctx(project))} == {"hf:/a", "hf:/b"}


def test_missing_exports_and_launch_problems_fail_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(
        tmp_path / "p", "hf:/models/tiny", {**TWO, "datasets": ["pdf_synthetic"]}
    )
    fake = FakeLaunch()
    monkeypatch.setattr(launch, "run_job", fake)
    with pytest.raises(InputError, match="no exported train split of 'pdf_synthetic'"):
        asyncio.run(stage.run(_ctx(project)))
    project = make_project(tmp_path / "q", "hf:/models/tiny", TWO)
    with pytest.raises(ConfigError, match="need launcher 'accelerate'"):
        asyncio.run(stage.run(_ctx(project, num_processes=2)))
    with pytest.raises(ConfigError, match="qlora needs a CUDA GPU"):
        (project / "doctune.yaml").write_text(
            yaml.safe_dump({"models": {"student": "hf:/m"}, "train": {**TWO, "method": "qlora"}})
        )
        asyncio.run(stage.run(_ctx(project)))
    assert fake.jobs == []


def test_up_to_date_after_a_run_and_not_after_a_partial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`doctune run` twice repeats nothing; `--experiment A` then the whole grid trains B."""
    import shutil

    from doctune.pipeline import get_stage, run_stage

    project = make_project(tmp_path / "p", "hf:/models/tiny", TWO)
    fake = FakeLaunch()
    monkeypatch.setattr(launch, "run_job", fake)
    train = get_stage("train")
    assert asyncio.run(run_stage(_ctx(project, experiment="A"), train)) is not None
    assert [j.experiment.rsplit("--", 1)[-1] for j in fake.jobs] == ["A"]
    # The whole grid is not up to date after a partial run: B is left to do.
    assert asyncio.run(run_stage(_ctx(project), train)) is not None
    assert [j.experiment.rsplit("--", 1)[-1] for j in fake.jobs] == ["A", "B"]
    # Now it is, and a third run neither enters the stage nor trains.
    assert asyncio.run(run_stage(_ctx(project), train)) is None
    assert len(fake.jobs) == 2
    # A deleted adapter brings its experiment back.
    row = ExperimentTable(project / "out").find("A")[0]
    shutil.rmtree(project / "out" / str(row.output))
    assert asyncio.run(run_stage(_ctx(project), train)) is not None
    assert len(fake.jobs) == 3


# -- the commands, for real --------------------------------------------------------------------
@pytest.mark.slow
def test_doctune_train_then_experiments_on_the_tiny_model(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    train = {
        "grid": {"epochs": [1, 2], "batch_size": [4], "learning_rate": [5e-3]},
        "lora": {"r": 8, "alpha": 16, "train_embeddings_and_norms": True},
        "max_length": 128,
        "warmup_ratio": 0.0,
    }
    project = make_project(tmp_path / "p", f"hf:{tiny_model_dir}", train)
    runner = CliRunner()
    first = runner.invoke(main, ["train", str(project), "--no-progress"])
    assert first.exit_code == 0, first.output
    table = ExperimentTable(project / "out")
    rows = sorted(table.rows.values(), key=lambda r: r.epochs)
    assert [r.status for r in rows] == ["succeeded", "succeeded"]
    assert [r.steps for r in rows] == [2, 4]
    for row in rows:
        assert row.train_loss and row.validation_loss and row.tokens_per_s and row.wall_s
        assert (project / "out" / str(row.output) / "adapter_model.safetensors").is_file()
        assert table.spec(row).startswith(f"hf:{tiny_model_dir}+")
    logs = sorted((project / "out" / "train").glob("*/worker.log"))
    stamps = [p.stat().st_mtime_ns for p in logs]

    again = runner.invoke(main, ["train", str(project), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "train: up to date" in again.output
    assert [p.stat().st_mtime_ns for p in logs] == stamps  # nothing was launched

    shown = runner.invoke(main, ["experiments", str(project)])
    assert shown.exit_code == 0, shown.output
    best = table.best(rows[0].student, "knowledge_distillation")
    assert best is not None
    best_line = next(line for line in shown.output.splitlines() if f" {best.name} " in line)
    assert best_line.lstrip("│ ").startswith("*")
    assert shown.output.count("succeeded") == 2


def test_same_experiment_name_on_two_students_gets_two_labels(tmp_path: Path) -> None:
    """Labels key the results: two models under one label would overwrite each other."""
    from doctune.models.experiments import ExperimentRow, ExperimentTable, resolve_models

    table = ExperimentTable(tmp_path)
    for student in ("hf:org/alpha", "hf:org/beta"):
        row = ExperimentRow(
            id=f"{student}-e",
            name="e3",
            student=student,
            dataset="kd",
            route="local",
            method="lora",
            epochs=3,
            batch_size=1,
            learning_rate=1e-4,
            status="succeeded",
            output=f"train/{student[-4:]}",
            validation_loss=1.0,
        )
        table.upsert(row)
    refs = resolve_models(["base", "best"], table, ["hf:org/alpha", "hf:org/beta"], ["kd"])
    labels = [r.label for r in refs]
    assert len(labels) == len(set(labels)) == 4
    assert "alpha e3 (kd)" in labels and "beta e3 (kd)" in labels


def test_hosted_experiments_that_would_be_one_job_are_refused() -> None:
    """OpenAI takes a learning-rate multiplier, not a rate: a grid over learning_rate alone
    would pay twice for the same job."""
    from doctune.foundation.config import TrainConfig
    from doctune.foundation.errors import ConfigError
    from doctune.models.grid import expand

    cfg = TrainConfig.model_validate(
        {"students": ["openai:gpt-4o-mini"], "grid": {"learning_rate": [1.8e-5, 1e-5]}}
    )
    with pytest.raises(ConfigError, match="same hosted job"):
        expand(cfg, "hf:x")
    local = TrainConfig.model_validate(
        {"students": ["hf:x"], "grid": {"learning_rate": [1.8e-5, 1e-5]}}
    )
    assert len(expand(local, "hf:x")) == 2


def test_cancel_starts_no_local_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p", "hf:/models/tiny", TWO)
    fake = FakeLaunch()
    monkeypatch.setattr(launch, "run_job", fake)
    asyncio.run(stage.run(_ctx(project, cancel=True)))
    assert fake.jobs == []


def test_a_student_flag_means_the_same_to_train_and_evaluate(tmp_path: Path) -> None:
    """The talk's grid names its students; --student tries it on another model, in both stages."""
    from doctune.evaluate.plan import students

    project = make_project(
        tmp_path / "p",
        "hf:/models/tiny",
        {
            "students": ["hf:Qwen/Qwen2.5-7B-Instruct"],
            "experiments": [
                {"name": "exp1", "epochs": 1, "students": ["hf:Qwen/Qwen2.5-7B-Instruct"]}
            ],
        },
    )
    ctx = RunContext(project, show_progress=False, overrides={"student": "hf:/models/other"})
    assert [e.student for e in stage.experiments_of(ctx)] == ["hf:/models/other"]
    assert students(ctx) == ["hf:/models/other"]
