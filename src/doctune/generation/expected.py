"""What each stage will hand the next, for `--dry-run`: record counts per recipe and split.

A count comes from the artifact an earlier stage actually wrote, where that stage will not run
again in the plan being estimated; otherwise from the stage before it, scaled by what this
project's last run kept (the stage summaries in the manifest), or by a default when there is no
last run. Stages call this instead of each other (a stage never imports another stage).

The default keep rate of curation is a guess, not a measurement of any teacher: curate drops exact
and near duplicates and ungrounded answers, and how many depends on the teacher and the corpus
(0.35 with the loopback fake teacher on the example, whose answers repeat the prompt's sentences).
After one run the project's own rate replaces it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from doctune.context import RunContext
from doctune.foundation.records import Chunk
from doctune.foundation.results import CallEstimate
from doctune.generation.recipes import distillation, get_recipe

DEFAULT_KEEP_RATE = 0.5
SPLITS = ("train", "validation", "test")

# The stages of the plan being estimated that will run (not up to date, or downstream of one
# that will): their artifacts on disk are the last run's and are not what the next stage gets.
_RERUNS: ContextVar[frozenset[str]] = ContextVar("reruns", default=frozenset())


@contextmanager
def rerunning(stages: Sequence[str]) -> Iterator[None]:
    """Estimate as if these stages were about to run (the pipeline's dry run sets it)."""
    token = _RERUNS.set(frozenset(stages))
    try:
        yield
    finally:
        _RERUNS.reset(token)


def written(ctx: RunContext, stage: str) -> bool:
    """Whether the stage's artifacts are what the next stage will read."""
    return stage not in _RERUNS.get() and ctx.manifest.stage_state(stage) is not None


def _summary(ctx: RunContext, stage: str) -> dict[str, Any]:
    state = ctx.manifest.stage_state(stage)
    return state.summary if state is not None else {}


def chunk_count(ctx: RunContext) -> int:
    found = ctx.manifest.find("chunks", stage="ingest")
    return sum(a.records or 0 for a in found)


def synthesized(ctx: RunContext, recipe: str) -> int:
    """Records the recipe's synthesis writes: the last run's when synthesize will not rerun."""
    if written(ctx, "synthesize"):
        found = ctx.manifest.find("dataset", stage="synthesize", recipe=recipe)
        if found:
            return sum(a.records or 0 for a in found)
    n_chunks = chunk_count(ctx) or 1
    return get_recipe(recipe).expected_size(n_chunks, ctx.config.synthesize)


def keep_rate(ctx: RunContext, recipe: str) -> tuple[float, str]:
    """The share of a recipe's records curation keeps, and where the figure comes from."""
    counts = _summary(ctx, "curate").get("recipes", {}).get(recipe, {})
    if counts.get("records"):
        return counts.get("kept", 0) / counts["records"], "last run's keep rate"
    return DEFAULT_KEEP_RATE, "default keep rate"


def curated(ctx: RunContext, recipe: str) -> tuple[int, str]:
    """Records curation passes on, and how that was found."""
    if written(ctx, "curate"):
        found = ctx.manifest.find("dataset", stage="curate", recipe=recipe)
        if found:
            return sum(a.records or 0 for a in found), "curated"
    rate, source = keep_rate(ctx, recipe)
    return round(synthesized(ctx, recipe) * rate), f"{source} {rate:.2f}"


def split_sizes(ctx: RunContext, recipe: str) -> tuple[dict[str, int], str]:
    """Records per split of a recipe: the splits written, else the curated records divided as
    the last run's split divided them (it drops records that straddle splits and does not hit
    the targets exactly), else as the configured sizes ask."""
    if written(ctx, "split"):
        found = ctx.manifest.find("dataset", stage="split", recipe=recipe)
        if found:
            return {a.split or "": a.records or 0 for a in found}, "splits"
    kept, source = curated(ctx, recipe)
    last = _summary(ctx, "split").get("recipes", {}).get(recipe, {})
    if last.get("records") and last.get("sizes"):
        return {
            s: round(kept * last["sizes"].get(s, 0) / last["records"]) for s in SPLITS
        }, f"{source}, last run's split shares"
    sizes = ctx.config.split.sizes_for(recipe)
    values = dict(zip(SPLITS, sizes.values, strict=True))
    if sizes.is_count:
        left, out = kept, {}
        for s in SPLITS:  # counts are filled in order until the records run out
            out[s] = int(min(values[s], left))
            left -= out[s]
        return out, source
    return {s: round(kept * values[s]) for s in SPLITS}, source


def quiz_count(ctx: RunContext) -> int:
    """Quizzes evalsets keeps: the written set, else the configured count scaled by the share the
    last run kept (a quiz whose letters or options do not check out is rejected)."""
    if written(ctx, "evalsets"):
        found = ctx.manifest.find("quiz", stage="evalsets")
        if found:
            return sum(a.records or 0 for a in found)
    count = ctx.config.evalsets.quiz.count
    last = _summary(ctx, "evalsets")
    asked = last.get("quizzes", 0) + last.get("quiz_rejected", 0)
    return round(count * last["quizzes"] / asked) if asked else count


def rephrased_count(ctx: RunContext, recipe: str, splits: Sequence[str]) -> int:
    """Rephrased questions of a recipe whose original is in `splits` (k per question of the
    splits evalsets rephrases)."""
    cfg = ctx.config.evalsets.rephrase
    sizes, _ = split_sizes(ctx, recipe)
    return sum(sizes.get(s, 0) for s in cfg.splits if s in splits) * cfg.k


def with_last_run(
    ctx: RunContext, recipe: str, est: CallEstimate, chunks: Sequence[Chunk]
) -> CallEstimate:
    """A recipe's synthesis estimate, corrected by what the teacher did last time where the
    recipe's calls hang on it: distillation's topics per document are only known once the
    teacher has listed them, so the estimate assumes the most it may list; after a run over
    the same number of documents, the topics it found then plan the cells and answers now."""
    last = _summary(ctx, "synthesize").get(recipe, {})
    docs = len(distillation.documents(chunks))
    if recipe != distillation.RECIPE or last.get("documents") != docs or not docs:
        return est
    cfg = ctx.config.synthesize.knowledge_distillation
    topics = min(cfg.max_topics, int(last.get("topics_found", 0)))
    counts = distillation.plan_counts(
        cfg.target_size, topics, len(cfg.facets), cfg.max_questions_per_facet
    )
    cells = sum(1 for row in counts for n in row if n > 0)
    answers = sum(sum(row) for row in counts)
    calls = docs + cells + answers
    scale = calls / est.calls if est.calls else 1.0
    return dataclasses.replace(
        est,
        calls=calls,
        prompt_tokens=round(est.prompt_tokens * scale),
        completion_tokens=round(est.completion_tokens * scale),
        note=f"{recipe}: {topics} topics as the last run found x {len(cfg.facets)} facets, "
        f"{answers} records planned",
    )
