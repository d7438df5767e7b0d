"""The stages in order, readable top to bottom.

Each stage declares the artifact kinds it reads and writes; `check_order` refuses a plan in which
a stage reads what no earlier stage (or the manifest) provides, before any model is called. A stage
whose fingerprint (its inputs' hashes, its config sections, its code, its models) is unchanged and
whose outputs are intact is skipped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from doctune import preflight as preflight_checks
from doctune.context import RunContext
from doctune.foundation.config import model_settings
from doctune.foundation.errors import ConfigError, StageOrderError
from doctune.foundation.manifest import code_version, fingerprint
from doctune.foundation.results import CallEstimate, StageResult
from doctune.models.identity import backend_identity


@dataclass(frozen=True)
class Stage:
    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    config: tuple[str, ...]
    code: tuple[str, ...]
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


# The pipeline of the talk: documents -> chunks -> two datasets -> curated -> splits -> eval sets -> exports.
STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        reads=(),
        writes=("chunks", "stats"),
        config=("ingest", "documents"),
        code=("ingest", "foundation.records", "foundation.jsonl"),
        roles=(),
        entry="doctune.ingest.stage:run",
        extra_fingerprint="doctune.ingest.stage:documents_fingerprint",
    ),
    Stage(
        "synthesize",
        reads=("chunks",),
        writes=("dataset", "rejected"),
        config=("synthesize",),
        code=("synth", "generation", "foundation.retrieval", "prompts", "models.structured"),
        roles=("teacher",),
        entry="doctune.synth.stage:run",
        estimate="doctune.synth.stage:estimate",
    ),
    Stage(
        "curate",
        reads=("dataset", "chunks"),
        writes=("dataset", "rejected"),
        config=("curate",),
        code=("curate", "foundation.dedup", "prompts"),
        roles=("judge",),
        entry="doctune.curate.stage:run",
        estimate="doctune.curate.stage:estimate",
    ),
    Stage(
        "split",
        reads=("dataset",),
        writes=("dataset", "rejected", "stats"),
        config=("split",),
        code=("split", "foundation.dedup"),
        roles=(),
        entry="doctune.split.stage:run",
    ),
    Stage(
        "evalsets",
        reads=("dataset", "chunks"),
        writes=("rephrased", "quiz", "rejected"),
        config=("evalsets",),
        code=("evalsets", "generation", "foundation.retrieval", "prompts"),
        roles=("teacher",),
        entry="doctune.evalsets.stage:run",
        estimate="doctune.evalsets.stage:estimate",
    ),
    Stage(
        "export",
        reads=("dataset",),
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
        code=("export",),
        roles=(),
        entry="doctune.export.stage:run",
        extra_fingerprint="doctune.export.stage:fingerprint",
    ),
    # Fine-tuning (local TRL + PEFT, hosted jobs); each experiment is skipped on its own
    # when its row in the experiments table is done with the same config.
    Stage(
        "train",
        reads=("dataset", "openai_jsonl"),
        writes=("experiments", "adapter", "training_log"),
        config=("train",),
        code=("train", "models.experiments", "models.grid"),
        roles=("student",),
        entry="doctune.train.stage:run",
        extra_fingerprint="doctune.train.stage:fingerprint",
        refingerprint=True,
    ),
    # Every model x suite x variant, judged and aggregated with uncertainty.
    Stage(
        "evaluate",
        reads=("dataset", "rephrased", "quiz", "chunks"),
        writes=("answers", "scores"),
        config=("evaluate",),
        code=(
            "evaluate",
            "foundation.evalrecords",
            "foundation.stats",
            "prompts",
            "foundation.retrieval",
        ),
        roles=("judge",),
        entry="doctune.evaluate.stage:run",
        estimate="doctune.evaluate.estimate:estimate",
        extra_fingerprint="doctune.evaluate.estimate:fingerprint",
    ),
    Stage(
        "report",
        reads=("scores",),
        writes=("report",),
        config=("report",),
        code=("report",),
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
    available = {a.kind for a in ctx.manifest.data.artifacts}
    for stage in stages:
        missing = [k for k in stage.reads if k not in available]
        if missing:
            raise StageOrderError(
                f"stage '{stage.name}' reads {', '.join(missing)}, which no earlier stage has written "
                f"in {ctx.out_dir} (run the earlier stages first)"
            )
        available.update(stage.writes)


def stage_fingerprint(ctx: RunContext, stage: Stage) -> str:
    # Inputs are the artifacts of the kinds read that earlier stages wrote (not the stage's own).
    order = STAGE_NAMES.index(stage.name)
    earlier = set(STAGE_NAMES[:order])
    inputs = sorted(
        (a.stage, a.kind, a.recipe or "", a.split or "", a.sha256)
        for a in ctx.manifest.data.artifacts
        if a.kind in stage.reads and a.stage in earlier
    )
    extra = stage.load("extra_fingerprint")(ctx) if stage.extra_fingerprint else ""
    return fingerprint(
        stage=stage.name,
        inputs=inputs,
        config=ctx.config.section_hash(
            *[c for c in stage.config if c != "documents" and c != "name"]
        ),
        scalars={c: getattr(ctx.config, c) for c in stage.config if c in ("documents", "name")},
        code=code_version(*stage.code),
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


async def run_stage(ctx: RunContext, stage: Stage, *, force: bool = False) -> StageResult | None:
    """Run one stage unless it is up to date; returns None when skipped."""
    print_name = f"[bold cyan]{stage.name}[/]"
    fp = stage_fingerprint(ctx, stage)
    if not force and ctx.manifest.is_up_to_date(stage.name, fp):
        ctx.log(f"{print_name}: up to date")
        return None
    result: StageResult = await stage.load("entry")(ctx)
    unexpected = {a.kind for a in result.artifacts} - set(stage.writes)
    if unexpected:  # a programming error, caught before the manifest records it
        raise RuntimeError(f"stage {stage.name} wrote undeclared kinds {sorted(unexpected)}")
    if stage.refingerprint:
        fp = stage_fingerprint(ctx, stage)
    ctx.manifest.replace_stage(stage.name, result.artifacts, fp, result.summary)
    ctx.save_usage(stage.name)
    ctx.log(f"{print_name}: {_summary_line(result.summary)}")
    return result


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


def estimate(ctx: RunContext, stages: list[Stage]) -> list[tuple[Stage, CallEstimate]]:
    """Expected model calls per stage for --dry-run. Stages that call no model are run for real
    when their inputs exist (ingest is free), so later estimates can count real chunks."""
    rows: list[tuple[Stage, CallEstimate]] = []
    for stage in stages:
        if stage.estimate is None:
            continue
        if ctx.manifest.is_up_to_date(stage.name, stage_fingerprint(ctx, stage)):
            rows.extend(
                (
                    stage,
                    CallEstimate(
                        role=r, calls=0, prompt_tokens=0, completion_tokens=0, note="up to date"
                    ),
                )
                for r in stage.roles
            )
            continue
        rows.extend((stage, est) for est in stage.load("estimate")(ctx))
    return rows


def run_free_stages_for_estimate(ctx: RunContext, stages: list[Stage]) -> list[Stage]:
    """The leading stages that call no model, run before a dry-run estimate so that it counts
    real chunks; none when no stage of the plan estimates anything (`split --dry-run` writes
    nothing)."""
    if not any(stage.estimate for stage in stages):
        return []
    free = []
    for stage in stages:
        if stage.roles:
            break
        free.append(stage)
    return free
