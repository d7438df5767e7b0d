"""What each stage will hand the next, for `--dry-run`: record counts per recipe and split.

A count comes from the artifact an earlier stage actually wrote, where that stage will not run
again in the plan being estimated; otherwise from the stage before it, scaled by what this
project's last run kept (the stage summaries in the manifest), or by a default when there is no
last run. Stages call this instead of each other (a stage never imports another stage).

Where only the teacher can tell (a first run, or one over other documents than the last), the
defaults of the FIRST_RUN block below stand in; each is replaced by the project's own figure
once there is a last run to go by.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from doctune.context import RunContext
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk
from doctune.foundation.results import CallEstimate
from doctune.generation.recipes import distillation, get_recipe


# -- FIRST_RUN: what a first dry run goes by where only the teacher can tell ---------------------
# Calibrated on examples/ibuprofen with the loopback fake teacher (benchmarks/dry_run_accuracy.py,
# 4 documents, 77 chunks, seed 0), the only teacher every project can run; a real teacher lists more
# topics, repeats itself less and writes longer answers, so against one these run low. Each is
# replaced by the project's own figure after one run.
#
# Share of a recipe's records curation keeps (duplicates, near duplicates, ungrounded answers), as
# `kept = share x records + common x units`: records about a chunk's own material are distinct
# (`share` of all), while those about what many prompts share (for the fake, the instructions it
# quotes; for a real teacher, the domain's generic questions) repeat, and curation keeps each once
# however many prompts ask it: at most about `common` per unit, the recipe (pdf_synthetic: every
# prompt has the same instructions) or a planned cell (distillation: a cell's questions prompt
# states its topic and facet). So the keep rate falls toward `share` as the corpus grows; the
# signal is the planned record count, known before any call. Calibrated on the example's records
# by where their question came from: pdf_synthetic 45 of 231 its chunk's and all kept, 32 others
# kept (77 of 231); distillation (context from each topic's home document, 4a79c32) 65 of 320
# kept about the material, 42 others over its 40 cells (107 of 320). The 1 MB corpus then gets
# 0.21 (its run: 0.24) and 0.52 (0.57).
@dataclasses.dataclass(frozen=True)
class FirstRunKeep:
    share: float  # of the records, kept as distinct
    common: float  # records kept per unit beyond those


FIRST_RUN_KEEP = {
    "pdf_synthetic": FirstRunKeep(share=0.195, common=32.0),
    "knowledge_distillation": FirstRunKeep(share=0.203, common=1.05),
}
DEFAULT_KEEP_RATE = 0.40  # another recipe: the example's overall 219 of 551

# Topics the teacher lists per document in distillation's first call (the fake: 8 for the
# example's 4 documents, 46 for the 1 MB corpus's 24); the recipe asks for up to 20.
FIRST_RUN_TOPICS_PER_DOCUMENT = 2
# Tokens of a training record before export has counted any, the system prompt aside: the fake's
# answers are one sentence of the context (the example's export: 16,841 tokens over 155 records,
# 17 of each the system prompt).
FIRST_RUN_RECORD_TOKENS = 90

SPLITS = ("train", "validation", "test")

# The stages of the plan being estimated that will run (not up to date, or downstream of one
# that will): their artifacts on disk are the last run's and are not what the next stage gets.
_RERUNS: ContextVar[frozenset[str]] = ContextVar("reruns", default=frozenset())
# Per recipe, the share of its synthesis calls the call cache will answer, as synthesize's
# estimate found it in this dry run (`with_last_run` records it; `split_sizes` reads it).
_CARRIED: ContextVar[dict[str, float] | None] = ContextVar("carried", default=None)


@contextmanager
def rerunning(stages: Sequence[str]) -> Iterator[None]:
    """Estimate as if these stages were about to run (the pipeline's dry run sets it)."""
    token = _RERUNS.set(frozenset(stages))
    carried = _CARRIED.set({})
    try:
        yield
    finally:
        _CARRIED.reset(carried)
        _RERUNS.reset(token)


def carried_over(ctx: RunContext, recipe: str) -> float:
    """The share of a recipe's records split will get again from the last run: all of them
    when synthesize will not rerun; when it will, the share of its calls the cache answers
    (the same request gets the same reply, so the same records), as synthesize's estimate found
    it. pdf_synthetic's estimate checks each chunk's request; distillation's checks each
    document's topics request, whose cached reply brings back the same topics and so the same
    questions and answers requests. 1 where synthesize's estimate has not run in this dry run."""
    if written(ctx, "synthesize"):
        return 1.0
    found = _CARRIED.get()
    return found.get(recipe, 1.0) if found is not None else 1.0


def _record_carried(recipe: str, est: CallEstimate) -> None:
    found = _CARRIED.get()
    total = est.calls + est.cached_calls
    if found is not None and total:
        found[recipe] = est.cached_calls / total


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
    if recipe == distillation.RECIPE:
        planned = distillation_plan(ctx, _document_count(ctx))
        if planned is not None:
            return planned.answers
    n_chunks = chunk_count(ctx) or 1
    return get_recipe(recipe).expected_size(n_chunks, ctx.config.synthesize)


def _document_count(ctx: RunContext) -> int:
    """Documents as distillation groups the chunks ingest wrote (read once per file version)."""
    files = []
    for artifact in ctx.manifest.find("chunks", stage="ingest"):
        path = ctx.manifest.resolve(artifact)
        if path.is_file():
            files.append((str(path), path.stat().st_mtime_ns, path.stat().st_size))
    return _documents_in(tuple(files))


@lru_cache(maxsize=8)
def _documents_in(files: tuple[tuple[str, int, int], ...]) -> int:
    chunks: Iterable[Chunk] = (c for f in files for c in read_jsonl(Path(f[0]), Chunk))
    return len(distillation.documents(list(chunks)))


def first_run_keep_rate(recipe: str, records: int, units: int = 1) -> float:
    """The share of `records` curation keeps on a first run (see FIRST_RUN_KEEP); `units` is
    the recipe's (1) or distillation's planned cells."""
    model = FIRST_RUN_KEEP.get(recipe)
    if model is None:
        return DEFAULT_KEEP_RATE
    if records <= 0:
        return 1.0
    return min(1.0, model.share + model.common * units / records)


def keep_rate(ctx: RunContext, recipe: str) -> tuple[float, str]:
    """The share of a recipe's records curation keeps, and where the figure comes from.

    The last run's rate stands even when every record will be new (split's shares are blended
    by `carried_over`, this is not): it is a property of the corpus and the teacher rather than
    of one draw, and the first-run model has no better figure for a rerun over the same corpus
    (on the example both give 107 of 320 distillation records, where a rerun with the client's
    seed changed kept 123, benchmarks/dry_run_accuracy.py)."""
    counts = _summary(ctx, "curate").get("recipes", {}).get(recipe, {})
    if counts.get("records"):
        return counts.get("kept", 0) / counts["records"], "last run's keep rate"
    units = 1
    if recipe == distillation.RECIPE:
        planned = distillation_plan(ctx, _document_count(ctx))
        units = planned.cells if planned is not None else 1
    rate = first_run_keep_rate(recipe, synthesized(ctx, recipe), units)
    return rate, "first-run keep rate"


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
    the configured sizes ask, blended with the shares of the last run's split by the share of
    the records that carry over from it (`carried_over`).

    Split places whole groups of related records by hash, so with few groups its shares are far
    from the targets (the example's distillation: 6 groups, train 57 of 107 where 0.7 asks 75).
    For the same records it draws the same again: the last run's shares are then the figure
    (they also count the records dropped as straddling splits). New records are a new draw,
    whose expected shares are the configured ones (a rerun with a new seed: train 88 of 123)."""
    if written(ctx, "split"):
        found = ctx.manifest.find("dataset", stage="split", recipe=recipe)
        if found:
            return {a.split or "": a.records or 0 for a in found}, "splits"
    kept, source = curated(ctx, recipe)
    configured = _configured_split(ctx, recipe, kept)
    last = _summary(ctx, "split").get("recipes", {}).get(recipe, {})
    if not (last.get("records") and last.get("sizes")):
        return configured, source
    weight = carried_over(ctx, recipe)
    if weight <= 0.0:
        return configured, f"{source}, configured split shares (no record carries over)"
    realised = {s: kept * last["sizes"].get(s, 0) / last["records"] for s in SPLITS}
    blend = {s: round(weight * realised[s] + (1 - weight) * configured[s]) for s in SPLITS}
    if weight >= 1.0:
        return blend, f"{source}, last run's split shares"
    return blend, f"{source}, split shares {weight:.0%} the last run's"


def _configured_split(ctx: RunContext, recipe: str, kept: int) -> dict[str, int]:
    """`kept` records divided as the configured split sizes ask."""
    sizes = ctx.config.split.sizes_for(recipe)
    values = dict(zip(SPLITS, sizes.values, strict=True))
    if sizes.is_count:
        left, out = kept, {}
        for s in SPLITS:  # counts are filled in order until the records run out
            out[s] = int(min(values[s], left))
            left -= out[s]
        return out
    return {s: round(kept * values[s]) for s in SPLITS}


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


@dataclasses.dataclass(frozen=True)
class DistillationPlan:
    documents: int
    topics: int
    cells: int
    answers: int
    source: str

    @property
    def calls(self) -> int:
        """One topics call per document, one questions call per cell, one per answer."""
        return self.documents + self.cells + self.answers


def distillation_plan(ctx: RunContext, docs: int) -> DistillationPlan | None:
    """What distillation will ask for, planned by the recipe's own functions: the topics per
    document of the last run (the teacher lists them; none is known before), else the first-run
    default, capped as the recipe caps them, then the recipe's cells and answers for them."""
    if not docs:
        return None
    cfg = ctx.config.synthesize.knowledge_distillation
    last = _summary(ctx, "synthesize").get(distillation.RECIPE, {})
    per_doc, source = float(FIRST_RUN_TOPICS_PER_DOCUMENT), "first-run topics per document"
    if last.get("documents") and "topics_found" in last:
        per_doc, source = last["topics_found"] / last["documents"], "topics as the last run found"
    limit = min(distillation.TOPICS_PER_DOCUMENT, cfg.max_topics)
    topics = min(cfg.max_topics, round(docs * min(per_doc, limit)))
    counts = distillation.plan_counts(
        cfg.target_size, topics, len(cfg.facets), cfg.max_questions_per_facet
    )
    cells = sum(1 for row in counts for n in row if n > 0)
    return DistillationPlan(docs, topics, cells, sum(map(sum, counts)), source)


def with_last_run(
    ctx: RunContext, recipe: str, est: CallEstimate, chunks: Sequence[Chunk]
) -> CallEstimate:
    """A recipe's synthesis estimate, corrected where the recipe's calls hang on the teacher:
    distillation's questions and answers are planned from the topics it lists, which the
    recipe's own estimate takes at the most it may list; `distillation_plan` plans them from
    the topics the last run found per document, or the first-run default."""
    _record_carried(recipe, est)
    if recipe != distillation.RECIPE:
        return est
    planned = distillation_plan(ctx, len(distillation.documents(chunks)))
    if planned is None:
        return est
    # The recipe's estimate left out the documents whose topics are cached, with their
    # questions and answers: the planned calls are cut by the same share.
    total = est.calls + est.cached_calls
    calls = round(planned.calls * est.calls / total) if total else planned.calls
    scale = calls / est.calls if est.calls else 1.0
    cached = f"; {planned.calls - calls} cached" if calls < planned.calls else ""
    return dataclasses.replace(
        est,
        calls=calls,
        prompt_tokens=round(est.prompt_tokens * scale),
        completion_tokens=round(est.completion_tokens * scale),
        cached_calls=planned.calls - calls,
        note=f"{recipe}: {planned.topics} topics ({planned.source}) x "
        f"{len(ctx.config.synthesize.knowledge_distillation.facets)} facets, "
        f"{planned.answers} records planned{cached}",
    )
