"""The `train` stage: every experiment of the config, local ones trained in their own processes
(`doctune.train.launch`), hosted ones through the provider's fine-tuning API.

Each experiment is its own unit of work: its row in `out/train/experiments.jsonl` goes to
`running` before it starts and to `succeeded`/`failed` after, so a killed run keeps every finished
experiment, and one that already succeeded with the same config hash is skipped. A failed
experiment does not stop the others; the stage fails at the end, naming them.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from doctune.context import RunContext
from doctune.foundation.config import DistributedConfig, TrainConfig
from doctune.foundation.config.options import TrainOptions
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.manifest import Artifact
from doctune.foundation.manifest import fingerprint as hash_parts
from doctune.foundation.results import StageFailed, StageResult
from doctune.models import grid
from doctune.models.experiments import ExperimentRow, ExperimentTable
from doctune.models.spec import parse_spec
from doctune.train import launch
from doctune.train.local import TrainJob, TrainResult, check_method
from doctune.train.logs import CURVE_NAME, LOG_NAME

STAGE = "train"
#: The parts of `train` that change what a local run produces (the grid picks the runs).
_HASHED_FIELDS = {
    "method", "lora", "max_length", "packing", "seed", "lr_scheduler", "warmup_ratio",
    "weight_decay", "save_merged",
}  # fmt: skip
#: What a worker's result contributes to its experiment's row as it is.
_RESULT_COPIED = {
    "train_loss", "validation_loss", "steps", "wall_s", "train_tokens", "tokens_per_s",
    "peak_memory_mb", "error",
}  # fmt: skip


class TrainingFailed(StageFailed):
    """One or more experiments failed; the others were trained and recorded."""

    exit_code = 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def distributed_settings(cfg: DistributedConfig, flags: dict[str, Any]) -> DistributedConfig:
    """`train.distributed` with the command-line flags applied (and validated again)."""
    overrides = {k: v for k, v in flags.items() if v is not None}
    try:
        return DistributedConfig.model_validate({**cfg.model_dump(), **overrides})
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"train.distributed: {message}") from None


def experiments_of(ctx: RunContext) -> list[grid.Experiment]:
    """Every experiment of the config; a student given by flag or env replaces `train.students`."""
    return grid.expand(ctx.config.train, ctx.spec("student"), student_override(ctx))


def student_override(ctx: RunContext) -> str | None:
    """A student named by `--student` or DOCTUNE_STUDENT (it replaces train.students)."""
    return ctx.overrides.get("student") or os.environ.get("DOCTUNE_STUDENT") or None


def data_files(ctx: RunContext, dataset: str) -> tuple[Artifact, Artifact | None]:
    """The exported OpenAI chat files (train, validation) of a dataset."""
    train = ctx.inputs("openai_jsonl", stage="export", recipe=dataset, split="train")
    if not train:
        raise InputError(
            f"train.datasets: no exported train split of '{dataset}' in {ctx.out_dir} "
            "(run `doctune export` with the openai format)"
        )
    validation = ctx.inputs("openai_jsonl", stage="export", recipe=dataset, split="validation")
    return train[0], (validation[0] if validation else None)


def config_hash(
    exp: grid.Experiment,
    cfg: TrainConfig,
    dist: DistributedConfig,
    files: tuple[Artifact, Artifact | None],
) -> str:
    """What decides a local run's result: data, student, hyperparameters, method settings and
    the number of processes (it multiplies the effective batch size); not the launcher."""
    return hash_parts(
        student=exp.student,
        dataset=exp.dataset,
        hp=exp.hp.model_dump(mode="json", exclude={"name"}),
        train=cfg.model_dump(mode="json", include=_HASHED_FIELDS),
        world_size=dist.num_processes,
        data=[files[0].sha256, files[1].sha256 if files[1] else ""],
    )


def fingerprint(ctx: RunContext) -> str:
    """What a rerun must notice beyond the config, the inputs and the code: the experiments of
    the config not done yet (after `--experiment`, a deleted adapter), the selection asked for,
    and a request to cancel or retry (always acted on). Not the experiments table itself: the
    stage writes it, and hashing its own output would make every second run re-enter."""
    options = ctx.stage_options(TrainOptions)
    if options.cancel or options.retry:
        return f"act-{_now()}"
    table = ExperimentTable(ctx.out_dir)
    todo = [e.id for e in experiments_of(ctx) if not _succeeded(table.get(e.id), ctx.out_dir)]
    return hash_parts(todo=todo, selected=options.experiment)


def _succeeded(row: ExperimentRow | None, out_dir: Path) -> bool:
    if row is None or row.status != "succeeded" or not row.output:
        return False
    return row.route == "hosted" or (out_dir / row.output).exists()


# -- one experiment ----------------------------------------------------------------------------
def _done(row: ExperimentRow | None, config: str, out_dir: Path) -> bool:
    return (
        row is not None
        and row.status == "succeeded"
        and row.config_hash == config
        and bool(row.output)
        and (out_dir / str(row.output)).exists()
    )


def _fresh_folder(folder: Path, config: str) -> None:
    """Keep a folder made under the same config (its checkpoints resume); clear any other."""
    job = folder / "job.json"
    # Read loosely: a job file from another doctune version must not stop the run.
    if job.is_file() and json.loads(job.read_text()).get("config_hash") != config:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def _finished(row: ExperimentRow, result: TrainResult, rel: str) -> ExperimentRow:
    values = result.model_dump(include=_RESULT_COPIED)
    return row.model_copy(
        update={
            **values,
            "status": result.status,
            "output": f"{rel}/{result.output}" if result.output else None,
            "merged": f"{rel}/{result.merged}" if result.merged else None,
            "finished_at": _now(),
        }
    )


def run_local(
    ctx: RunContext,
    exp: grid.Experiment,
    table: ExperimentTable,
    dist: DistributedConfig,
    files: tuple[Artifact, Artifact | None],
) -> ExperimentRow:
    """Train one local experiment unless it already succeeded with the same config."""
    cfg = ctx.config.train
    config = config_hash(exp, cfg, dist, files)
    existing = table.get(exp.id)
    if _done(existing, config, ctx.out_dir):
        ctx.log(f"train {exp.id}: already trained with this config, skipped")
        assert existing is not None
        return existing
    base = parse_spec(exp.student)
    folder = ctx.stage_dir(STAGE) / exp.id
    _fresh_folder(folder, config)
    row = ExperimentRow.for_experiment(exp, cfg.method, config)
    row = row.model_copy(update={"status": "running", "started_at": _now()})
    table.upsert(row)
    job = TrainJob(
        experiment=exp.id,
        model=base.model,
        train_file=str(ctx.path(files[0])),
        validation_file=str(ctx.path(files[1])) if files[1] else None,
        output_dir=str(folder),
        hp=exp.hp,
        train=cfg.model_copy(update={"distributed": dist}),
        config_hash=config,
        show_progress=ctx.show_progress,
    )
    ctx.log(f"train {exp.id}: {dist.launcher} launcher, log in {folder / launch.LOG_NAME}")
    try:
        result = launch.run_job(job, dist, echo=sys.stderr if ctx.show_progress else None)
    except BaseException as exc:  # Ctrl-C or a launch that could not start: say so in the row
        table.upsert(
            row.model_copy(update={"status": "failed", "error": str(exc) or "interrupted"})
        )
        raise
    row = _finished(row, result, folder.relative_to(ctx.out_dir).as_posix())
    table.upsert(row)
    ctx.log(f"train {exp.id}: {_outcome(row)}")
    return row


def _outcome(row: ExperimentRow) -> str:
    if row.status != "succeeded":
        return f"{row.status}: {row.error}" if row.error else row.status
    parts = [f"train loss {row.train_loss:.4f}" if row.train_loss is not None else ""]
    parts.append(
        f"validation loss {row.validation_loss:.4f}" if row.validation_loss is not None else ""
    )
    parts.append(f"{row.wall_s:.1f} s" if row.wall_s is not None else "")
    return "succeeded (" + ", ".join(p for p in parts if p) + ")"


async def run_hosted(
    ctx: RunContext, exp: grid.Experiment, table: ExperimentTable
) -> ExperimentRow:
    """The hosted route (`doctune.train.hosted`, imported only when a grid has one)."""
    try:
        from doctune.train.hosted import run_hosted as hosted
    except ImportError:
        raise ConfigError(
            f"student '{exp.student}': hosted fine-tuning is not available in this installation"
        ) from None
    options = ctx.stage_options(TrainOptions)
    row = hosted(ctx, exp, table, cancel=options.cancel, retry=options.retry)
    if inspect.isawaitable(row):
        row = await row
    return row


# -- the stage ---------------------------------------------------------------------------------
def _preflight(
    ctx: RunContext, local: list[grid.Experiment], dist: DistributedConfig
) -> dict[str, tuple[Artifact, Artifact | None]]:
    """Everything a local run could trip on, checked before the first one starts: the exported
    files of each dataset, the students, the method and the launch settings."""
    files = {e.dataset: data_files(ctx, e.dataset) for e in local}
    for exp in local:
        if parse_spec(exp.student).adapter:
            raise ConfigError(
                f"student '{exp.student}': train from a base or merged model, not +adapter"
            )
    if local:
        import torch

        check_method(ctx.config.train.method, torch.cuda.is_available())
        launch.check_distributed(dist, torch.cuda.is_available())
    return files


async def run(ctx: RunContext) -> StageResult:
    cfg = ctx.config.train
    everything = experiments_of(ctx)
    options = ctx.stage_options(TrainOptions)
    chosen = grid.select(everything, options.experiment)
    if options.cancel:  # cancelling hosted jobs must not start any local training
        chosen = [e for e in chosen if e.route == "hosted"]
    dist = distributed_settings(cfg.distributed, options.distributed)
    local = [e for e in chosen if e.route == "local"]
    files = _preflight(ctx, local, dist)
    table = ExperimentTable(ctx.out_dir)
    rows: list[ExperimentRow] = []
    # No progress bar of our own: a local worker draws the trainer's, and two bars interleave.
    for n, exp in enumerate(chosen, 1):
        ctx.log(f"train [{n}/{len(chosen)}] {exp.id}")
        if exp.route == "local":
            rows.append(run_local(ctx, exp, table, dist, files[exp.dataset]))
        else:
            rows.append(await run_hosted(ctx, exp, table))  # logs its own outcome
    table.save()
    artifacts = _artifacts(ctx, table, everything)
    failed = [r for r in rows if r.status == "failed"]
    summary = {
        "experiments": len(chosen),
        "succeeded": sum(r.status == "succeeded" for r in rows),
        "failed": len(failed),
    }
    result = StageResult(artifacts=artifacts, summary=summary)
    if failed:  # what succeeded goes into the manifest all the same (the pipeline records it)
        first = failed[0]
        raise TrainingFailed(
            f"{len(failed)} of {len(chosen)} experiments failed (first: {first.id}: {first.error}); "
            f"see {table.path}",
            result,
        )
    return result


def _artifacts(
    ctx: RunContext, table: ExperimentTable, experiments: list[grid.Experiment]
) -> list[Artifact]:
    """The table, and for every succeeded local experiment of the config (not only those run
    now, so `--experiment` keeps the others registered) its adapter and training log."""
    out = [ctx.manifest.artifact(STAGE, "experiments", table.path, records=len(table.rows))]
    for exp in experiments:
        row = table.get(exp.id)
        if row is None or row.status != "succeeded" or row.route != "local" or not row.output:
            continue
        adapter = ctx.out_dir / row.output
        if adapter.exists():
            out.append(ctx.manifest.artifact(STAGE, "adapter", adapter, name=exp.id))
        for log_name in (LOG_NAME, CURVE_NAME):
            log = adapter.parent / log_name
            if log.is_file():
                out.append(ctx.manifest.artifact(STAGE, "training_log", log, name=exp.id))
    return out
