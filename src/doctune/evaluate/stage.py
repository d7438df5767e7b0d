"""Stage `evaluate`: every model x suite x dataset x variant, answered, scored and aggregated.

Reads the split datasets, rephrased questions, quizzes and chunks; writes
- `evaluate/answers/<model>/<suite>[.<dataset>][.rag].jsonl`: one ItemResult per item (kind
  `answers`, name = the model's row label): question, prompt sent, reference, answer, scores,
  the judge's verdicts and rationale, latency, tokens and cost;
- `evaluate/scores.jsonl`: one SuiteScore per row of the results table (kind `scores`), each
  fine-tuned row paired with its base model on the same items.

Models run one after another (two local 7B models need not share a GPU); within a model every
suite, dataset and variant runs at once, bounded by the model clients' concurrency. Every call
goes through the call cache: rerunning with nothing changed asks no model anything.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from doctune.context import RunContext, Tick
from doctune.evaluate import judge as judge_module
from doctune.evaluate.aggregate import RowKey, Scoring, suite_score, with_paired
from doctune.evaluate.answer import Asker, PerItemSuite
from doctune.evaluate.base import Suite
from doctune.evaluate.plan import (
    SCORES_NAME,
    STAGE,
    Job,
    Plan,
    build_plan,
    make_asker,
    remember_scores,
)
from doctune.evaluate.rag import context_template
from doctune.evaluate.suites import SuiteEnv, suite_kind
from doctune.foundation.aio import gather_all
from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.foundation.results import StageResult
from doctune.foundation.suites import suite_info
from doctune.models.client import ModelClient

__all__ = ["run", "slug"]


def slug(label: str) -> str:
    """A folder name for a model label: readable, and unique through a short hash (two labels
    that differ only in punctuation must not share a folder)."""
    text = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60] or "model"
    return f"{text}-{hashlib.sha256(label.encode()).hexdigest()[:6]}"


def make_suites(
    ctx: RunContext, plan: Plan, asker: Asker, on_item: Callable[[], None]
) -> dict[str, Suite]:
    """The runners of one model; judges and the letter reader are shared among its suites."""
    env = SuiteEnv(ctx, asker, on_item, STAGE)
    return {name: suite_kind(name).runner(env) for name in plan.suites}


async def answer_all(ctx: RunContext, plan: Plan) -> dict[RowKey, list[ItemResult]]:
    """Per row, the model's results. One model at a time, everything of that model at once."""
    asker = make_asker(ctx, plan)
    jobs = plan.jobs()
    results: dict[RowKey, list[ItemResult]] = {}
    for model in plan.models:
        mine = [j for j in jobs if j.model == model]
        if not mine:
            continue
        client = ctx.client_for_spec(model.spec, STAGE)
        total = sum(len(j.items) for j in mine)
        with ctx.progress(f"evaluate {model.label}", total) as tick:
            suites = make_suites(ctx, plan, asker, tick.advance)
            outs = await gather_all(_run_job(suites[j.suite], j, client, tick) for j in mine)
        for job, out in zip(mine, outs, strict=True):
            results[_key(job)] = out
        if model.spec not in plan_judges(ctx):
            # One model in memory at a time: several fine-tuned 7B models would not fit together.
            await ctx.release(model.spec)
    return results


def plan_judges(ctx: RunContext) -> set[str]:
    judges = {ctx.spec("judge")}
    if ctx.config.evaluate.second_judge:
        judges.add(ctx.config.evaluate.second_judge)
    return judges


async def _run_job(suite: Suite, job: Job, client: ModelClient, tick: Tick) -> list[ItemResult]:
    out = await suite.evaluate(job.model, client, job.items, job.variant)
    if not isinstance(suite, PerItemSuite):  # suites that do not tick per item
        tick.advance(len(job.items))
    return out


def _key(job: Job) -> RowKey:
    return RowKey(job.model.label, job.suite, job.dataset, job.variant)


def scoring(ctx: RunContext, plan: Plan) -> Scoring:
    cfg = ctx.config.evaluate
    judged = any(suite_info(s).judged for s in plan.suites)
    return Scoring(
        samples=cfg.bootstrap_samples,
        seed=cfg.seed,
        judge=ctx.spec("judge") if judged else None,
        second_judge=cfg.second_judge if judged else None,
        judge_prompt_hash=judge_module.prompt().hash if judged else None,
        rubric=judge_module.rubric() if judged else None,
    )


def score_rows(
    ctx: RunContext, plan: Plan, results: dict[RowKey, list[ItemResult]]
) -> list[SuiteScore]:
    how = scoring(ctx, plan)
    by_label = {m.label: m for m in plan.models}
    rows = []
    for key, out in results.items():
        model = by_label[key.model]
        score = suite_score(model, key, out, plan.items_by_id(key.suite), how)
        score = score.model_copy(update={"answer_prompt": answer_prompt(key.suite, key.variant)})
        rows.append((model, key, score))
    return with_paired(rows, results, plan.models, how)


def answer_prompt(suite: str, variant: str) -> str | None:
    """The templates (name@version#hash) a row's questions were asked with; None for a suite
    whose prompt is written in code (MMLU's is lm-evaluation-harness's)."""
    template = suite_kind(suite).template()
    if template is None:
        return None
    parts = [template, *([context_template()] if variant == "rag" else [])]
    return "+".join(f"{t.label}#{t.hash}" for t in parts)


def write_answers(ctx: RunContext, results: dict[RowKey, list[ItemResult]]) -> list[Artifact]:
    folder = ctx.stage_dir(STAGE) / "answers"
    # Files of models or suites no longer evaluated must not linger beside the new ones.
    shutil.rmtree(folder, ignore_errors=True)
    artifacts = []
    for key, out in results.items():
        name = ".".join(
            p
            for p in (key.suite, key.dataset, None if key.variant == "plain" else key.variant)
            if p
        )
        path = folder / slug(key.model) / f"{name}.jsonl"
        write_jsonl(path, sorted(out, key=lambda r: r.item_id))
        artifacts.append(
            ctx.manifest.artifact(STAGE, "answers", path, recipe=key.dataset, name=key.model)
        )
    return artifacts


def _counts(kinds: Iterable[str]) -> str:
    """ "judge_failed=3, prompt_exceeds_context=1", or "none"."""
    found = Counter(kinds)
    return ", ".join(f"{k}={v}" for k, v in sorted(found.items())) or "none"


def summary(
    plan: Plan, results: dict[RowKey, list[ItemResult]], rows: list[SuiteScore]
) -> dict[str, Any]:
    every = [r for out in results.values() for r in out]
    return {
        "models": len(plan.models),
        "suites": len(plan.suites),
        "rows": len(rows),
        "answers": len(every),
        "excluded": _counts(r.exclusion or "other" for r in every if r.excluded),
        # Answers whose prompt was shortened to fit the model (the rest went as built).
        "fitted": sum(bool(r.fitting) and r.excluded is None for r in every),
        "cut_off": sum(r.cut_off and r.excluded is None for r in every),
        # Every multiple-choice suite (quizzes and MMLU) whose reply named no single letter.
        "no_letter": sum(
            suite_info(r.suite).choice
            and r.extracted is None
            and not r.cut_off
            and r.excluded is None
            for r in every
        ),
        "skipped": "; ".join(plan.notes) or "none",
    }


async def run(ctx: RunContext) -> StageResult:
    plan = build_plan(ctx)
    for note in plan.notes:
        ctx.log(note)
    results = await answer_all(ctx, plan)
    rows = score_rows(ctx, plan, results)
    artifacts = write_answers(ctx, results)
    path: Path = ctx.stage_dir(STAGE) / SCORES_NAME
    write_jsonl(path, rows)
    remember_scores(ctx, rows)
    artifacts.append(ctx.manifest.artifact(STAGE, "scores", path))
    return StageResult(artifacts=artifacts, summary=summary(plan, results, rows))
