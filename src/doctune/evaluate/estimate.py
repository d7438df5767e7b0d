"""What an evaluation would cost (`--dry-run`) and what decides whether it must rerun.

The estimate walks the same plan the stage runs, builds every answering request and looks it up
in the call cache; for an answer already cached it builds the judge's request too, so a rerun
that only adds a model is priced at that model's calls. No model is loaded for this: the cache key
of an `hf:` model is computed from its weight files, as its backend does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from doctune.context import RunContext
from doctune.evaluate.answer import Asker
from doctune.evaluate.judge import REPLY_TOKENS, judge_request
from doctune.evaluate.mmlu import mmlu_dir
from doctune.evaluate.plan import Job, build_plan, make_asker, selected_suites, students
from doctune.evaluate.suites import suite_kind
from doctune.foundation.config import model_settings
from doctune.foundation.config.options import EvaluateOptions
from doctune.foundation.evalrecords import EvalItem
from doctune.foundation.results import CallEstimate
from doctune.foundation.suites import suite_info
from doctune.generation import expected
from doctune.models.base import ChatRequest, GenerationParams
from doctune.models.cache import request_key
from doctune.models.identity import backend_identity as identity_of
from doctune.models.tokens import estimate_tokens

# A typical answer; the configured maximum would overstate most answers several times.
ANSWER_TOKENS = 200
MMLU_TOKENS = 64


def backend_identity(ctx: RunContext, spec: str) -> str:
    return identity_of(spec, model_settings(ctx.config, spec))


def client_defaults(ctx: RunContext, spec: str) -> GenerationParams:
    """The generation defaults RunContext gives a spec's client (part of every cache key)."""
    cfg = ctx.config.client
    settings = model_settings(ctx.config, spec)
    return GenerationParams(
        temperature=cfg.temperature, max_tokens=settings.max_new_tokens, seed=cfg.seed
    )


def _tokens(request: ChatRequest) -> int:
    text = "".join(m.content for m in request.messages)
    return estimate_tokens(text + (json.dumps(request.json_schema) if request.json_schema else ""))


class _Tally:
    def __init__(self, ctx: RunContext) -> None:
        self.cache = ctx.cache
        self.calls = self.prompt = self.cached = 0

    def lookup(self, identity: str, request: ChatRequest) -> Any:
        """The cached response, or None after counting the call as one to make."""
        hit = self.cache.get(request_key(identity, request)) if self.cache is not None else None
        if hit is not None:
            self.cached += 1
            return hit[0]
        self.calls += 1
        self.prompt += _tokens(request)
        return None


def _answer_request(asker: Asker, job: Job, item: EvalItem, defaults: GenerationParams) -> Any:
    messages = suite_kind(job.suite).messages(asker, item, job.variant)
    # None: the suite builds its own prompts (MMLU, which may not chat at all): counted apart.
    return None if messages is None else asker.request(defaults, messages)


def _inputs_written(ctx: RunContext) -> bool:
    """Whether the plan's items are the ones the run will ask: the splits and eval sets will
    not be rewritten first, nor the fine-tuned models `best` picks from."""
    stages = ("split", "evalsets", *(("train",) if "best" in ctx.config.evaluate.models else ()))
    return bool(ctx.inputs("dataset", stage="split")) and all(
        expected.written(ctx, s) for s in stages
    )


def estimate(ctx: RunContext) -> list[CallEstimate]:
    cfg = ctx.config.evaluate
    plan = build_plan(ctx)
    if not _inputs_written(ctx):
        # The fine-tuned models of the last run are replaced by those about to be trained.
        return _extrapolated(ctx, sum(m.kind != "finetuned" for m in plan.models))
    asker = make_asker(ctx, plan)
    judges = [ctx.spec("judge"), *([cfg.second_judge] if cfg.second_judge else [])]
    judge_ids = [(backend_identity(ctx, j), client_defaults(ctx, j)) for j in judges]
    answers, judged = _Tally(ctx), _Tally(ctx)
    mmlu_calls = 0
    for job in plan.jobs():
        identity = backend_identity(ctx, job.model.spec)
        defaults = client_defaults(ctx, job.model.spec)
        for item in job.items:
            request = _answer_request(asker, job, item, defaults)
            if request is None:
                mmlu_calls += 1
                continue
            hit = answers.lookup(identity, request)
            if not suite_info(job.suite).judged:
                continue
            for judge_identity, judge_defaults in judge_ids:
                if hit is None:  # the judge's request depends on an answer not yet given
                    judged.calls += 1
                    judged.prompt += _tokens(request) + estimate_tokens(item.reference or "")
                    continue
                judged.lookup(
                    judge_identity,
                    judge_request(judge_defaults, item.question, item.reference or "", hit.text),
                )
    notes = [f"answers of {len(plan.models)} model(s)", *plan.notes]
    if answers.cached:
        notes.append(f"{answers.cached} cached")
    if mmlu_calls:
        notes.append(f"mmlu: up to {mmlu_calls} more (none for log-likelihood scoring)")
    judge_note = f"judging {', '.join(judges)}" + (
        f"; {judged.cached} cached" if judged.cached else ""
    )
    if cfg.extraction == "rules+model":
        # Reading letters: the audit sample per multiple-choice row, plus the replies the rules
        # cannot settle, which nobody knows before they are answered (none, if cached).
        audit = sum(
            min(cfg.extraction_audit, len(j.items))
            for j in plan.jobs()
            if suite_info(j.suite).choice
        )
        judge_note += f"; reading letters: up to {audit} audit calls + unsettled replies"
    return [
        CallEstimate(
            "student",
            answers.calls + mmlu_calls,
            answers.prompt,
            answers.calls * min(cfg.answer_max_tokens, ANSWER_TOKENS) + mmlu_calls * MMLU_TOKENS,
            note="; ".join(notes),
        ),
        CallEstimate(
            "judge", judged.calls, judged.prompt, judged.calls * REPLY_TOKENS // 2, note=judge_note
        ),
    ]


def _extrapolated(ctx: RunContext, known_models: int) -> list[CallEstimate]:
    """Before the splits and eval sets exist (a dry run of the whole pipeline): each suite's
    items from the expected split sizes after curation and the quizzes expected to pass (at most
    max_items each), times the variants, for the models known now plus one fine-tuned model per
    student and dataset when `best` is asked for (its runs do not exist yet)."""
    cfg = ctx.config.evaluate
    per = cfg.max_items or 10**9
    recipes = cfg.datasets or ctx.config.synthesize.recipes
    variants = len(dict.fromkeys(cfg.variants))
    qa: dict[str, int] = {}  # answers of one model on one dataset's QA suites
    shared = 0  # answers of one model on the suites every model answers
    for suite in selected_suites(ctx):
        info = suite_info(suite)
        times = 1 if info.plain_only else variants
        if info.per_dataset:
            for recipe in recipes:
                qa[recipe] = qa.get(recipe, 0) + times * min(per, _qa_items(ctx, suite, recipe))
        elif info.source == "quizzes":
            shared += times * min(per, expected.quiz_count(ctx))
        else:
            found = suite_kind(suite).items(ctx)
            if not isinstance(found, str):  # MMLU without its folder asks nothing
                shared += times * sum(len(items) for items in found.values())
    all_qa = sum(qa.values())
    # A fine-tuned model answers the QA suites of its own dataset only (none when that dataset
    # is not evaluated) and every shared suite.
    tuned = list(ctx.config.train.datasets) if "best" in cfg.models else []
    tuned_qa = sum(qa.get(r, 0) for r in tuned)
    per_student = tuned_qa + len(tuned) * shared
    answers = known_models * (all_qa + shared) + len(students(ctx)) * per_student
    judged = (known_models * all_qa + len(students(ctx)) * tuned_qa) * (
        2 if cfg.second_judge else 1
    )
    models = known_models + len(students(ctx)) * len(tuned)
    if expected.chunk_count(ctx) and recipes:
        source = expected.split_sizes(ctx, recipes[0])[1]
        note = f"~{models} models x the expected splits ({source}) and quizzes (no splits yet)"
    else:
        note = f"~{models} models x up to {cfg.max_items or 100} items per suite (no splits yet)"
    return [
        CallEstimate(
            "student", answers, answers * 150, answers * ANSWER_TOKENS, exact=False, note=note
        ),
        CallEstimate(
            "judge", judged, judged * 450, judged * REPLY_TOKENS // 2, exact=False, note=note
        ),
    ]


def _qa_items(ctx: RunContext, suite: str, recipe: str) -> int:
    if not expected.chunk_count(ctx):  # nothing ingested to size the splits by: the cap
        return ctx.config.evaluate.max_items or 100
    if suite == "rephrased_qa":
        return expected.rephrased_count(ctx, recipe, ctx.config.evaluate.rephrased_from)
    sizes, _ = expected.split_sizes(ctx, recipe)
    return sizes.get("train" if suite == "train_qa" else "test", 0)


def fingerprint(ctx: RunContext) -> str:
    """What decides the results beyond the evaluate config, the inputs (the experiments table
    among them) and the code: the command-line selection, the system prompt the models are
    asked with, the base models' weights and the MMLU files."""
    cfg = ctx.config.evaluate
    specs = [*students(ctx), *(b for b in cfg.baselines if ":" in b)]
    parts = {
        # An option not given hashes as before typed options: None, not an empty list.
        "options": {k: v or None for k, v in ctx.stage_options(EvaluateOptions)},
        "system_prompt": ctx.config.export.system_prompt,
        "models": [backend_identity(ctx, s) for s in specs],
        "mmlu": _mmlu_listing(ctx),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _mmlu_listing(ctx: RunContext) -> list[str] | None:
    folder = mmlu_dir(ctx.config.evaluate.mmlu)
    if folder is None or not folder.is_dir():
        return None if folder is None else [str(folder)]
    return [
        f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(folder.rglob("*.csv"))
    ]
