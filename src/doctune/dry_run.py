"""`--dry-run`: what a plan of the pipeline's stages would cost before anything is spent.

The stages that call no model run for real first (`run_free_stages_for_estimate`), so the
estimates count real chunks; then each stage that will run gives its estimate, in order, told
which stages are about to run (`doctune.generation.expected`). Which stages run is the
pipeline's own test (`doctune.pipeline.stage_fingerprint`), and a stage left out of date only by
unanswered calls (`pipeline.UNANSWERED`) is priced at those calls.
"""

from __future__ import annotations

from collections.abc import Collection

from doctune.context import RunContext
from doctune.foundation.results import CallEstimate
from doctune.generation import expected
from doctune.pipeline import ONCE_ANSWERED, UNANSWERED, Stage, stage_fingerprint


def estimate(ctx: RunContext, stages: list[Stage]) -> list[tuple[Stage, CallEstimate]]:
    """Expected model calls per stage for --dry-run. Stages that call no model are run for real
    when their inputs exist (ingest is free), so later estimates can count real chunks. A stage
    that will run makes every later stage that reads from it run too (its fingerprint still
    looks at the old artifacts), and those estimate from what it is expected to write. A stage
    out of date only because some of its calls went unanswered asks just those again (the cache
    has the rest) and writes what it wrote plus their records: it is estimated, but what it
    wrote stands for its output and the stages reading it are not taken to rerun."""
    rows: list[tuple[Stage, CallEstimate]] = []
    partial = _unanswered_only(ctx, stages)
    reruns = _reruns(ctx, stages, partial)
    behind = {name: {name} for name in partial}  # stage -> the partial ones it reads from
    with expected.rerunning([name for name in reruns if name not in partial]):
        for stage in stages:
            after = set().union(*(behind.get(r.stage, set()) for r in stage.reads))
            if after and stage.name not in partial:
                behind[stage.name] = after
            if stage.estimate is None:
                continue
            if stage.name not in reruns:
                note = "up to date" + (
                    f" (new records only, once {', '.join(sorted(after))} gets its unanswered "
                    "calls)"
                    if after
                    else ""
                )
                rows.extend((stage, _up_to_date(role, note)) for role in stage.roles)
                continue
            with ctx.reading(stage.name, stage.reads):
                rows.extend((stage, est) for est in stage.load("estimate")(ctx))
    return rows


def _up_to_date(role: str, note: str = "up to date") -> CallEstimate:
    return CallEstimate(role=role, calls=0, prompt_tokens=0, completion_tokens=0, note=note)


def _unanswered_only(ctx: RunContext, stages: list[Stage]) -> set[str]:
    """The stages left out of date by unanswered calls alone: nothing they read or are
    configured with changed since (their fingerprint is the one they would have had)."""
    out: set[str] = set()
    for stage in stages:
        state = ctx.manifest.stage_state(stage.name)
        summary = state.summary if state is not None else {}
        once = summary.get(ONCE_ANSWERED) or {}
        if (
            summary.get(UNANSWERED)
            and once.get("fingerprint") == stage_fingerprint(ctx, stage)
            and ctx.manifest.is_up_to_date(stage.name, "")
        ):
            out.add(stage.name)
    return out


def _reruns(ctx: RunContext, stages: list[Stage], partial: Collection[str] = ()) -> list[str]:
    """The stages of the plan that will run: out of date, or reading from one that will (one in
    `partial` keeps what it wrote, so it does not make its readers run)."""
    names: list[str] = []
    for stage in stages:
        upstream = any(r.stage in names and r.stage not in partial for r in stage.reads)
        if upstream or not ctx.manifest.is_up_to_date(stage.name, stage_fingerprint(ctx, stage)):
            names.append(stage.name)
    return names


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
