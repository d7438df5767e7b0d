"""Hosted fine-tuning: OpenAI's fine-tuning API, or any provider speaking it through base_url.

One experiment is one job. The exported chat JSONL is checked with the cookbook's rules first
(a file that fails is never uploaded), uploaded once per content and endpoint (file ids are kept
by sha256 in `out/train/<experiment id>/hosted_state.json`), a supervised job is created, its id
is recorded in the experiments table before the first poll, and its status and events are
followed until it ends: fine-tuned model id, trained tokens, cost and final losses go into the
row, the loss curve into `out/train/<experiment id>/metrics.csv`.

Restart policy (a job costs money, so doctune never starts a second one by accident). A row's
`config_hash` is the hash of what its job was asked to do (model, file contents,
hyperparameters, suffix, seed):
- same hash, job still active: re-attach to it, whatever ended the last run;
- same hash, job succeeded: nothing to do, and no API call;
- same hash, job failed or cancelled: reported again; a new job only with `retry=True`;
- changed hash: a new job, unless the old one is still active (then an error: cancel it first,
  so two paid jobs never run for one experiment);
- no job id recorded (killed between create and record): a job on the provider carrying this
  experiment's metadata and hash, active or succeeded, is adopted instead of creating another.
Cancelling the asyncio task (Ctrl-C) only detaches; `cancel=True` cancels the job itself.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob
from rich.markup import escape

from doctune.context import RunContext, Tick
from doctune.foundation.errors import ConfigError, ModelError
from doctune.models.experiments import ExperimentRow, ExperimentTable
from doctune.models.grid import Experiment
from doctune.train.hosted_api import STATE_NAME, HostedApi, HostedState, upload
from doctune.train.hosted_metrics import LossTracker, read_result_file, write_metrics_csv
from doctune.train.hosted_request import HostedRequest, prepare_request

__all__ = ["STATE_NAME", "HostedRequest", "prepare_request", "run_hosted"]

# Anything else (validating_files, queued, running, a provider's paused...) is still active.
ENDED = frozenset({"succeeded", "failed", "cancelled"})
ENDED_BADLY = frozenset({"failed", "cancelled"})
META_EXPERIMENT = "doctune_experiment"
META_REQUEST = "doctune_request"
ORPHAN_SEARCH = 100  # recent jobs searched for one this experiment created but never recorded
EVENTS_PAGE = 100


async def run_hosted(
    ctx: RunContext,
    exp: Experiment,
    table: ExperimentTable,
    *,
    cancel: bool = False,
    retry: bool = False,
) -> ExperimentRow:
    """Run (or re-attach to, or cancel) the hosted job of one experiment; returns its row.

    A failed or cancelled job is not an exception: the row says so (with the provider's error)
    and one line is logged, so the other experiments of a grid still run."""
    if exp.route != "hosted":
        raise ConfigError(f"experiment {exp.name}: {exp.student} is not a hosted (openai:) model")
    row = table.get(exp.id)
    if cancel:
        return await _cancel(ctx, exp, table, row)
    request = prepare_request(ctx, exp)  # before anything touches the network
    row = row or ExperimentRow.for_experiment(exp, "hosted", request.fingerprint)
    if _settled(ctx, row, request, retry):
        return row
    api = HostedApi(ctx, exp)
    try:
        job = await _current_job(ctx, api, exp, row, request, retry)
        if job is None:
            job = await _start_job(ctx, api, exp, request)
        row = _record_job(table, exp, row, job, request.fingerprint)
        return await _follow(ctx, api, exp, table, row, job)
    finally:
        await api.client.close()


def _settled(ctx: RunContext, row: ExperimentRow, request: HostedRequest, retry: bool) -> bool:
    """True when the recorded job answers this request and needs no API call."""
    if not row.job_id or row.config_hash != request.fingerprint:
        return False
    if row.status == "succeeded" and row.output:
        ctx.log(f"{row.name}: done (job {row.job_id}, model {row.output})")
        return True
    if row.status in ENDED_BADLY and not retry:
        reason = escape(f": {row.error}") if row.error else ""
        ctx.log(
            f"[red]{row.name}[/]: job {row.job_id} {row.status}{reason} (not restarted: retry to "
            "create a new job)"
        )
        return True
    return False


async def _current_job(
    ctx: RunContext,
    api: HostedApi,
    exp: Experiment,
    row: ExperimentRow,
    request: HostedRequest,
    retry: bool,
) -> FineTuningJob | None:
    """The job to follow, or None when a new one must be created."""
    if not row.job_id:
        return await _find_unrecorded(ctx, api, exp, request.fingerprint)
    job = await api.retrieve(row.job_id)
    same = row.config_hash == request.fingerprint
    if same and not (retry and job.status in ENDED_BADLY):
        if job.status not in ENDED:
            ctx.log(f"{exp.name}: re-attaching to job {job.id} ({job.status})")
        return job
    if job.status not in ENDED:
        raise ConfigError(
            f"experiment {exp.name}: job {job.id} is still {job.status} with the previous "
            "config; cancel it first (cancel) or wait for it to end"
        )
    why = "retrying" if same else "config changed"
    ctx.log(f"{exp.name}: {why} since job {job.id} ({job.status}); creating a new job")
    return None


async def _find_unrecorded(
    ctx: RunContext, api: HostedApi, exp: Experiment, request_hash: str | None
) -> FineTuningJob | None:
    """A job this experiment created but never recorded: with `request_hash`, one for the same
    request that is active or succeeded; without, any active one (for cancel). The state file
    is asked first (it records a job the moment it is created); listing the provider's jobs by
    metadata comes second, for providers that keep no such list or a state file that was lost."""
    saved = [
        j["id"]
        for j in HostedState(ctx, exp).data["jobs"]
        if request_hash is None or j.get("request") == request_hash
    ]
    for job_id in reversed(saved):
        try:
            job = await api.retrieve(job_id)
        except ModelError:
            continue
        if job.status not in ENDED_BADLY and (request_hash or job.status not in ENDED):
            ctx.log(f"{exp.name}: found job {job.id} ({job.status}) in the state file; using it")
            return job
    seen = 0
    try:
        jobs = api.client.fine_tuning.jobs.list(limit=50, metadata={META_EXPERIMENT: exp.id})
        async for job in jobs:
            meta = job.metadata or {}
            matches = meta.get(META_EXPERIMENT) == exp.id and (
                meta.get(META_REQUEST) == request_hash if request_hash else job.status not in ENDED
            )
            if matches and job.status not in ENDED_BADLY:
                ctx.log(f"{exp.name}: found job {job.id} ({job.status}) not yet recorded; using it")
                return job
            seen += 1
            if seen >= ORPHAN_SEARCH:
                break
    except openai.APIError:
        return None  # a provider that cannot list or filter jobs: nothing to adopt
    return None


async def _start_job(
    ctx: RunContext, api: HostedApi, exp: Experiment, request: HostedRequest
) -> FineTuningJob:
    state = HostedState(ctx, exp)
    training_id = await upload(ctx, api, state, request.training)
    params: dict[str, Any] = {
        "model": request.model,
        "training_file": training_id,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": dict(request.hyperparameters)},
        },
        "suffix": request.suffix,
        "seed": request.seed,
        # Lets a later run find this job even if it dies before recording the id.
        "metadata": {META_EXPERIMENT: exp.id, META_REQUEST: request.fingerprint},
    }
    if request.validation is not None:
        params["validation_file"] = await upload(ctx, api, state, request.validation)
    if exp.hp.learning_rate_multiplier is None:
        ctx.log(
            f"{exp.name}: the API takes a learning rate multiplier, not learning_rate "
            f"{exp.hp.learning_rate:g}; sending 'auto' (set learning_rate_multiplier to choose)"
        )
    with api.errors("creating the fine-tuning job"):
        job = await api.client.fine_tuning.jobs.create(**params)
    state.remember_job(job.id, request.fingerprint)
    ctx.log(
        escape(f"{exp.name}: created job {job.id} ({request.model}, {request.hyperparameters})")
    )
    return job


def _iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def _record_job(
    table: ExperimentTable, exp: Experiment, row: ExperimentRow, job: FineTuningJob, hash_: str
) -> ExperimentRow:
    """Record the job id before the first poll: a killed run re-attaches instead of paying twice."""
    if job.id != row.job_id:  # a new job: nothing of the old one's results carries over
        row = ExperimentRow.for_experiment(exp, "hosted", hash_)
    row = row.model_copy(
        update={
            "job_id": job.id,
            "config_hash": hash_,
            "status": "running" if job.status not in ENDED else row.status,
            "started_at": _iso(job.created_at),
        }
    )
    table.upsert(row)
    return row


async def _follow(
    ctx: RunContext,
    api: HostedApi,
    exp: Experiment,
    table: ExperimentTable,
    row: ExperimentRow,
    job: FineTuningJob,
) -> ExperimentRow:
    """Poll the job until it ends, logging status changes and events, showing its steps."""
    tracker = LossTracker()
    status = ""
    try:
        with ctx.progress(f"{exp.name} (hosted)", total=None) as tick:
            while True:
                await _read_events(ctx, api, job.id, tracker, tick)
                if job.status != status:
                    status = job.status
                    ctx.log(f"{exp.name}: job {job.id} {status}")
                if job.status in ENDED:
                    break
                await asyncio.sleep(ctx.config.train.hosted.poll_interval_s)
                job = await api.retrieve(job.id)
    except asyncio.CancelledError:
        ctx.log(
            f"{exp.name}: detached from job {job.id} ({job.status}); it keeps running on the "
            "provider: rerun to re-attach, or cancel it"
        )
        raise
    return await _finish(ctx, api, exp, table, row, job, tracker)


async def _read_events(
    ctx: RunContext, api: HostedApi, job_id: str, tracker: LossTracker, tick: Tick
) -> None:
    with api.errors(f"reading the events of job {job_id}"):
        page = await api.client.fine_tuning.jobs.list_events(job_id, limit=EVENTS_PAGE)
    for event in reversed(page.data):  # the API lists newest first
        if not tracker.is_new(event.id):
            continue
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "metrics" or "step" in data:
            tracker.add(data, tick)
        else:
            ctx.log(escape(f"{api.label}: {api.scrub(event.message)}"))


async def _finish(
    ctx: RunContext,
    api: HostedApi,
    exp: Experiment,
    table: ExperimentTable,
    row: ExperimentRow,
    job: FineTuningJob,
    tracker: LossTracker,
) -> ExperimentRow:
    """Record how the job ended: model id, tokens, cost and losses, or the provider's error."""
    update: dict[str, Any] = {"finished_at": _iso(job.finished_at), "job_id": job.id}
    if job.finished_at and job.created_at:
        update["wall_s"] = float(job.finished_at - job.created_at)
    if job.status == "succeeded":
        result_rows = await read_result_file(api.client, job, log=ctx.log, scrub=api.scrub)
        write_metrics_csv(HostedState(ctx, exp).path.parent, result_rows or tracker.rows)
        train_loss, validation_loss = tracker.final_losses(result_rows)
        price = ctx.config.train.hosted.price_per_mtok_trained
        tokens = job.trained_tokens
        update |= {
            "status": "succeeded",
            "output": job.fine_tuned_model,
            "train_tokens": tokens,
            "cost_usd": tokens * price / 1e6 if tokens is not None and price is not None else None,
            "train_loss": train_loss,
            "validation_loss": validation_loss,
            "steps": tracker.step or None,
            "error": None,
        }
        ctx.log(
            f"[green]{exp.name}[/]: succeeded: {job.fine_tuned_model} ({tokens} trained tokens, "
            f"train loss {train_loss}, validation loss {validation_loss})"
        )
    else:
        error = None
        if job.error is not None:
            error = api.scrub(f"{job.error.code}: {job.error.message}")
        elif job.status == "failed":
            error = "failed (the provider gave no reason)"
        update |= {"status": job.status, "error": error}
        reason = escape(f": {error}") if error else ""
        ctx.log(f"[red]{exp.name}[/]: job {job.id} {job.status}{reason}")
    row = row.model_copy(update=update)
    table.upsert(row)
    return row


async def _cancel(
    ctx: RunContext, exp: Experiment, table: ExperimentTable, row: ExperimentRow | None
) -> ExperimentRow:
    """Cancel the experiment's job; one that already ended is recorded as it ended."""
    api = HostedApi(ctx, exp)
    try:
        job_id = row.job_id if row else None
        if job_id is None:
            found = await _find_unrecorded(ctx, api, exp, None)
            job_id = found.id if found else None
        if job_id is None:
            ctx.log(f"{exp.name}: no hosted job to cancel")
            return row or ExperimentRow.for_experiment(exp, "hosted", "")
        try:
            job = await api.client.fine_tuning.jobs.cancel(job_id)
            ctx.log(f"{exp.name}: cancel requested for job {job_id}")
        except (openai.BadRequestError, openai.ConflictError):
            job = await api.retrieve(job_id)  # it ended before the cancel arrived
            if job.status not in ENDED:
                raise ModelError(
                    f"{exp.name}: the provider refused to cancel job {job_id}"
                ) from None
        except openai.APIError:
            with api.errors(f"cancelling job {job_id}"):
                raise
        base = row if row and row.job_id == job.id else None
        base = base or ExperimentRow.for_experiment(exp, "hosted", _meta_hash(job))
        base = base.model_copy(update={"job_id": job.id, "started_at": _iso(job.created_at)})
        # A provider may take a while to stop a job: follow it until it says it has.
        return await _follow(ctx, api, exp, table, base, job)
    finally:
        await api.client.close()


def _meta_hash(job: FineTuningJob) -> str:
    return str((job.metadata or {}).get(META_REQUEST, ""))
