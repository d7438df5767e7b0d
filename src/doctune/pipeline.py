"""The stages in order, readable top to bottom.

Each stage declares what it reads, as (kind, stage that wrote it) pairs, and the kinds it writes;
`check_order` refuses a plan in which a stage reads what no earlier stage (or the manifest)
provides, before any model is called, and while a stage runs the run context refuses any read it
did not declare. A stage whose fingerprint (its inputs' hashes, its config sections, its code, its
models) is unchanged and whose outputs are intact is skipped. Its code is every doctune module its
functions import, found from the source (`doctune.foundation.codehash`), with their templates.
A stage whose model calls did not all get an answer (an error after the backend's retries, a
reply still invalid after its re-asks) keeps its outputs but is recorded out of date, so the next
plain run asks those calls again, every answered one coming from the call cache. What a plan
would cost before it runs (`--dry-run`) is `doctune.dry_run`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from doctune import preflight as preflight_checks
from doctune.context import RunContext
from doctune.foundation.aio import long_lived_frozen
from doctune.foundation.codehash import code_version
from doctune.foundation.config import model_settings
from doctune.foundation.errors import ConfigError, StageOrderError
from doctune.foundation.manifest import Read, fingerprint
from doctune.foundation.results import StageFailed, StageResult
from doctune.models.identity import backend_identity


@dataclass(frozen=True)
class Stage:
    name: str
    reads: tuple[Read, ...]
    writes: tuple[str, ...]
    config: tuple[str, ...]
    roles: tuple[str, ...]
    entry: str  # "module:function", an async (ctx) -> StageResult
    estimate: str | None = None  # "module:function", (ctx) -> list[CallEstimate]
    extra_fingerprint: str | None = None  # "module:function", (ctx) -> str
    # Record the fingerprint as it stands after the run, for a stage whose own work changes what
    # its fingerprint looks at (train completes experiments); the others keep the one from before,
    # so an input changed during the run is still noticed next time.
    refingerprint: bool = False

    def load(self, attr: str) -> Callable[..., Any]:
        module, _, name = getattr(self, attr).partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules of the stage's functions: its code is these and all they import. Not
        the estimate's own module: the dry run's arithmetic does not change what a stage writes."""
        refs = (self.entry, self.extra_fingerprint)
        return tuple(sorted({ref.partition(":")[0] for ref in refs if ref}))


# The pipeline of the talk: documents -> chunks -> two datasets -> curated -> splits -> eval sets -> exports.
STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        reads=(),
        writes=("chunks", "stats"),
        config=("ingest", "documents"),
        roles=(),
        entry="doctune.ingest.stage:run",
        extra_fingerprint="doctune.ingest.stage:documents_fingerprint",
    ),
    Stage(
        "synthesize",
        reads=(Read("chunks", "ingest"),),
        writes=("dataset", "rejected"),
        config=("synthesize",),
        roles=("teacher",),
        entry="doctune.synth.stage:run",
        estimate="doctune.synth.stage:estimate",
    ),
    Stage(
        "curate",
        reads=(Read("dataset", "synthesize"), Read("chunks", "ingest")),
        writes=("dataset", "rejected"),
        config=("curate",),
        roles=("judge",),
        entry="doctune.curate.stage:run",
        estimate="doctune.curate.stage:estimate",
    ),
    # Applies the project's reviews (reviews.sqlite, in the fingerprint) before splitting.
    Stage(
        "split",
        reads=(Read("dataset", "curate"), Read("rejected", "curate", optional=True)),
        writes=("dataset", "rejected", "stats"),
        config=("split",),
        roles=(),
        entry="doctune.split.stage:run",
        extra_fingerprint="doctune.split.reviews:fingerprint",
    ),
    Stage(
        "evalsets",
        reads=(Read("dataset", "split"), Read("chunks", "ingest")),
        writes=("rephrased", "quiz", "rejected"),
        config=("evalsets",),
        roles=("teacher",),
        entry="doctune.evalsets.stage:run",
        estimate="doctune.evalsets.stage:estimate",
    ),
    Stage(
        "export",
        reads=(Read("dataset", "split"), Read("stats", "split", optional=True)),
        writes=(
            "sharegpt",
            "dataset_info",
            "openai_jsonl",
            "alpaca",
            "export_file",
            "stats",
            "llamafactory_config",
        ),
        config=("export", "name"),
        roles=(),
        entry="doctune.export.stage:run",
        extra_fingerprint="doctune.export.stage:fingerprint",
    ),
    # Fine-tuning (local TRL + PEFT, hosted jobs); each experiment is skipped on its own
    # when its row in the experiments table is done with the same config.
    Stage(
        "train",
        reads=(Read("openai_jsonl", "export"),),
        writes=("experiments", "adapter", "training_log"),
        config=("train",),
        roles=("student",),
        entry="doctune.train.stage:run",
        estimate="doctune.train.estimate:estimate",
        extra_fingerprint="doctune.train.stage:fingerprint",
        refingerprint=True,
    ),
    # Every model x suite x variant, judged and aggregated with uncertainty.
    Stage(
        "evaluate",
        reads=(
            Read("dataset", "split"),
            Read("rephrased", "evalsets"),
            Read("quiz", "evalsets"),
            Read("chunks", "ingest"),
            Read("experiments", "train", optional=True),
        ),
        writes=("answers", "scores"),
        config=("evaluate",),
        roles=("judge",),
        entry="doctune.evaluate.stage:run",
        estimate="doctune.evaluate.estimate:estimate",
        extra_fingerprint="doctune.evaluate.estimate:fingerprint",
    ),
    Stage(
        "report",
        reads=(
            Read("scores", "evaluate"),
            Read("answers", "evaluate", optional=True),
            Read("stats", "export", optional=True),
            Read("experiments", "train", optional=True),
            Read("training_log", "train", optional=True),
        ),
        writes=("report",),
        config=("report",),
        roles=(),
        entry="doctune.report.stage:run",
        extra_fingerprint="doctune.report.stage:fingerprint",
    ),
)

STAGE_NAMES = tuple(s.name for s in STAGES)


def get_stage(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ConfigError(f"unknown stage '{name}' (stages: {', '.join(STAGE_NAMES)})")


def plan(
    until: str | None = None, only: str | None = None, start: str | None = None
) -> list[Stage]:
    """The stages to run: one (`only`), or a range of the pipeline (`start` .. `until`)."""
    if only:
        return [get_stage(only)]
    names = list(STAGE_NAMES)
    first = names.index(get_stage(start).name) if start else 0
    last = names.index(get_stage(until).name) if until else len(names) - 1
    if first > last:
        raise ConfigError(f"stage '{start}' comes after '{until}'")
    return list(STAGES[first : last + 1])


def check_order(stages: list[Stage], ctx: RunContext) -> None:
    """Every kind a stage reads comes from an earlier stage of the plan or the manifest."""
    available = {(a.kind, a.stage) for a in ctx.manifest.data.artifacts}
    for stage in stages:
        missing = [f"{r.kind} of {r.stage}" for r in stage.reads if _missing(r, available)]
        if missing:
            raise StageOrderError(
                f"stage '{stage.name}' reads {', '.join(missing)}, which no earlier stage has written "
                f"in {ctx.out_dir} (run the earlier stages first)"
            )
        available.update((kind, stage.name) for kind in stage.writes)


def _missing(read: Read, available: set[tuple[str, str]]) -> bool:
    return not read.optional and (read.kind, read.stage) not in available


def stage_fingerprint(ctx: RunContext, stage: Stage) -> str:
    # Inputs are the artifacts of the kinds read that earlier stages wrote (not the stage's own).
    order = STAGE_NAMES.index(stage.name)
    earlier = set(STAGE_NAMES[:order])
    declared = {(r.kind, r.stage) for r in stage.reads}
    inputs = sorted(
        (a.stage, a.kind, a.recipe or "", a.split or "", a.name or "", a.sha256)
        for a in ctx.manifest.data.artifacts
        if (a.kind, a.stage) in declared and a.stage in earlier
    )
    with ctx.reading(stage.name, stage.reads):
        extra = stage.load("extra_fingerprint")(ctx) if stage.extra_fingerprint else ""
    return fingerprint(
        stage=stage.name,
        inputs=inputs,
        config=ctx.config.section_hash(
            *[c for c in stage.config if c != "documents" and c != "name"]
        ),
        scalars={c: getattr(ctx.config, c) for c in stage.config if c in ("documents", "name")},
        code=code_version(*stage.modules),
        models=[_model_fingerprint(ctx, ctx.spec(role)) for role in stage.roles],
        extra=extra,
    )


def _model_fingerprint(ctx: RunContext, spec: str) -> dict[str, Any]:
    """What decides a role's replies besides the prompts: the model (local weights included),
    its request settings, and the client's sampling defaults. Not endpoints, prices or keys."""
    settings = model_settings(ctx.config, spec)
    client = ctx.config.client
    return {
        "identity": backend_identity(spec, settings),
        "settings": settings.model_dump(
            mode="json", include={"max_new_tokens", "structured_output", "dtype"}
        ),
        "client": client.model_dump(
            mode="json", include={"temperature", "seed", "structured_retries"}
        ),
    }


# The summary key of a stage left out of date by model calls that failed (and the count), and
# the fingerprint it would have had: the dry run tells a stage stale only for those calls by it.
UNANSWERED = "unanswered_calls"
ONCE_ANSWERED = "once_answered"


async def run_stage(ctx: RunContext, stage: Stage, *, force: bool = False) -> StageResult | None:
    """Run one stage unless it is up to date; returns None when skipped."""
    print_name = f"[bold cyan]{stage.name}[/]"
    fp = stage_fingerprint(ctx, stage)
    if not force and ctx.manifest.is_up_to_date(stage.name, fp):
        ctx.log(f"{print_name}: up to date")
        return None
    failed_before = _failed_calls(ctx, stage)
    try:
        with ctx.reading(stage.name, stage.reads), long_lived_frozen():
            result: StageResult = await stage.load("entry")(ctx)
    except StageFailed as exc:
        # Keep what the stage finished findable, and leave it out of date so a rerun retries.
        _check_writes(stage, exc.partial)
        ctx.manifest.replace_stage(stage.name, exc.partial.artifacts, "", exc.partial.summary)
        ctx.save_usage(stage.name)
        raise
    _check_writes(stage, result)
    if stage.refingerprint:
        fp = stage_fingerprint(ctx, stage)
    failed = _failed_calls(ctx, stage) - failed_before
    if failed:
        # Kept like a partial result, but out of date: the next plain run asks these calls
        # again (every answered one comes from the cache), so a recovered endpoint completes it.
        result.summary[UNANSWERED] = failed
        result.summary[ONCE_ANSWERED] = {"fingerprint": fp}  # not a value logs list
        fp = ""
    ctx.manifest.replace_stage(stage.name, result.artifacts, fp, result.summary)
    ctx.save_usage(stage.name)
    ctx.log(f"{print_name}: {_summary_line(result.summary)}")
    if failed:
        ctx.log(f"{print_name}: {_unanswered_line(ctx, failed)}")
    return result


def _failed_calls(ctx: RunContext, stage: Stage) -> int:
    """The stage's model calls booked as failed so far in this context: errors after the
    backend's retries, and structured replies still invalid after their re-asks."""
    row = ctx.ledger.totals(stage.name)
    return row.failed_calls + row.failed_structured


def _unanswered_line(ctx: RunContext, failed: int) -> str:
    calls = f"{failed} call{'s' if failed != 1 else ''} failed"
    where = "reasons in the call cache" if ctx.config.client.cache else "no call cache"
    return f"{calls} ({where}); the stage stays out of date: a rerun asks them again"


def _check_writes(stage: Stage, result: StageResult) -> None:
    unexpected = {a.kind for a in result.artifacts} - set(stage.writes)
    if unexpected:  # a programming error, caught before the manifest records it
        raise RuntimeError(f"stage {stage.name} wrote undeclared kinds {sorted(unexpected)}")


def _summary_line(summary: dict[str, Any]) -> str:
    flat = [f"{k}={v}" for k, v in summary.items() if isinstance(v, (int, float, str))]
    return ", ".join(flat) if flat else "done"


def preflight(ctx: RunContext, stages: list[Stage]) -> None:
    """Every model spec, local model folder and endpoint URL the plan needs, checked before
    anything runs (see `doctune.preflight`)."""
    preflight_checks.check(ctx, [stage.name for stage in stages])


def is_up_to_date(ctx: RunContext, stage: Stage) -> bool:
    return ctx.manifest.is_up_to_date(stage.name, stage_fingerprint(ctx, stage))


async def run_pipeline(
    ctx: RunContext, stages: list[Stage], *, force: bool = False
) -> list[StageResult | None]:
    preflight(ctx, stages)
    check_order(stages, ctx)
    results = []
    try:
        for stage in stages:
            results.append(await run_stage(ctx, stage, force=force))
    finally:
        await ctx.aclose()
    return results
