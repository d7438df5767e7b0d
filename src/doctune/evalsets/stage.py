"""Stage `evalsets`: the sets that test generalisation beyond the training questions.

- Rephrased questions (the talk's "language generalisation"): k rewordings of each test and
  train question with the original reference answer. A rewording is only kept when it differs
  from the original (normalised text not equal, word Jaccard below `max_similarity`) and from the
  other rewordings; each that fails is written to the rejected file with its reason.
- Multiple-choice quizzes from the documents (the talk's "knowledge generalisation"), see quiz.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from doctune.context import RunContext
from doctune.evalsets import quiz
from doctune.foundation.aio import gather_all
from doctune.foundation.artifacts import load_chunks
from doctune.foundation.config import RephraseConfig
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl, write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.foundation.recipes import record_type
from doctune.foundation.records import QARecord, RejectedRecord, RephrasedRecord, stable_id
from doctune.foundation.results import CallEstimate, StageResult
from doctune.generation import expected
from doctune.generation.common import (
    FitTally,
    Teacher,
    invalid_output,
    is_cached,
    jaccard,
    make_teacher,
    normalise,
    request_tokens,
)
from doctune.generation.schemas import QUESTION_CHARS, quizzes_model, rephrasings_model
from doctune.models.base import Message
from doctune.prompts import load_prompt

STAGE = "evalsets"
PROMPT = "rephrase"
QUESTION_TOKENS = 30
QUIZ_TOKENS = 450


def rephrase_messages(question: str, k: int) -> list[Message]:
    return load_prompt(PROMPT).render(question=question, k=k)


def check_variant(
    variant: str, original: str, earlier: Sequence[str], max_similarity: float
) -> tuple[str, str] | None:
    """(reason, detail) when a rewording must be rejected, None when it is kept."""
    if normalise(variant) == normalise(original):
        return "unchanged", "the rewording equals the original question"
    similarity = jaccard(variant, original)
    if similarity >= max_similarity:
        return "too_similar", f"word Jaccard {similarity:.2f} >= {max_similarity:.2f}"
    if any(normalise(variant) == normalise(e) for e in earlier):
        return "duplicate_variant", "the same rewording was given twice"
    return None


async def rephrase(
    record: QARecord, split: str, cfg: RephraseConfig, teacher: Teacher
) -> tuple[list[RephrasedRecord], list[RejectedRecord]]:
    """k checked rewordings of one record's question."""
    prompt = load_prompt(PROMPT)
    result = await teacher.ask(
        rephrase_messages(record.question, cfg.k),
        rephrasings_model(cfg.k),
        cfg.k * (QUESTION_CHARS + 10),
    )
    base = {"kind": "rephrase", "source_id": record.id, "recipe": record.recipe, "split": split}
    if result.value is None:
        key = ("rephrase", record.id, prompt.hash, teacher.spec)
        return [], [invalid_output(STAGE, key, result, base)]
    kept: list[RephrasedRecord] = []
    rejected: list[RejectedRecord] = []
    seen: list[str] = []
    for i, raw in enumerate(result.value.questions):  # type: ignore[attr-defined]
        variant = raw.strip()
        key = ("rephrase", record.id, i, prompt.hash, teacher.spec)
        verdict = check_variant(variant, record.question, seen, cfg.max_similarity)
        seen.append(variant)
        if verdict is not None:
            reason, detail = verdict
            rejected.append(
                RejectedRecord(
                    id=stable_id("rejected", STAGE, *key),
                    stage=STAGE,
                    reason=reason,
                    detail=detail,
                    record={**base, "question": variant, "original_question": record.question},
                )
            )
            continue
        provenance = record.provenance.model_copy(
            update={
                "model": teacher.spec,
                "prompt": prompt.label,
                "prompt_hash": prompt.hash,
                "config_hash": teacher.config_hash,
            }
        )
        kept.append(
            RephrasedRecord(
                id=stable_id(*key),
                source_id=record.id,
                recipe=record.recipe,
                split=split,  # type: ignore[arg-type]
                question=variant,
                original_question=record.question,
                answer=record.answer,
                provenance=provenance,
            )
        )
    return kept, rejected


def split_records(ctx: RunContext, splits: Sequence[str]) -> dict[str, list[tuple[str, QARecord]]]:
    """Per recipe (in manifest order), the (split, record) pairs of the configured splits."""
    recipes = list(
        dict.fromkeys(a.recipe for a in ctx.inputs("dataset", stage="split") if a.recipe)
    )
    out: dict[str, list[tuple[str, QARecord]]] = {}
    for recipe in recipes:
        items = out.setdefault(recipe, [])
        for split in splits:
            for artifact in ctx.inputs("dataset", stage="split", recipe=recipe, split=split):
                items.extend(
                    (split, r) for r in read_jsonl(ctx.path(artifact), record_type(recipe))
                )
    return out


async def run(ctx: RunContext) -> StageResult:
    cfg = ctx.config.evalsets
    teacher = make_teacher(ctx, STAGE, ctx.config.section_hash("evalsets"), None, client=True)
    out_dir = ctx.stage_dir(STAGE)
    artifacts: list[Artifact] = []
    rejected: list[RejectedRecord] = []
    summary: dict[str, object] = {}
    rephrasing = FitTally()
    for recipe, items in split_records(ctx, cfg.rephrase.splits).items():
        with ctx.progress(f"rephrase {recipe}", len(items)) as tick:
            t = dataclasses.replace(teacher, tick=tick, fitting=rephrasing)
            results = await gather_all(rephrase(r, s, cfg.rephrase, t) for s, r in items)
        kept = [v for vs, _ in results for v in vs]
        rejected.extend(x for _, xs in results for x in xs)
        path = out_dir / f"{recipe}.rephrased.jsonl"
        write_jsonl(path, kept)
        artifacts.append(ctx.manifest.artifact(STAGE, "rephrased", path, recipe=recipe))
        summary[f"{recipe}_rephrased"] = len(kept)
    summary["rephrase_rejected"] = len(rejected)
    summary.update({f"rephrase_{k}": v for k, v in rephrasing.summary().items()})

    chunks = load_chunks(ctx)
    assignments = quiz.assign(chunks, cfg.quiz.count)
    quizzing = FitTally()
    with ctx.progress("quizzes", len(assignments)) as tick:
        t = dataclasses.replace(teacher, tick=tick, fitting=quizzing)
        quizzes, quiz_rejected = await quiz.generate(
            chunks, cfg.quiz.count, cfg.quiz.numeric_tolerance, t
        )
    rejected.extend(quiz_rejected)
    write_jsonl(out_dir / "quiz.jsonl", quizzes)
    write_jsonl(out_dir / "rejected.jsonl", rejected)
    artifacts.append(ctx.manifest.artifact(STAGE, "quiz", out_dir / "quiz.jsonl"))
    artifacts.append(ctx.manifest.artifact(STAGE, "rejected", out_dir / "rejected.jsonl"))
    numeric = [q for q in quizzes if q.numeric is not None]
    summary.update(
        quizzes=len(quizzes),
        numeric_quizzes=len(numeric),
        corrected_letters=sum(q.numeric.corrected for q in numeric if q.numeric),
        quiz_rejected=len(quiz_rejected),
        **{f"quiz_{k}": v for k, v in quizzing.summary().items()},
    )
    return StageResult(artifacts=artifacts, summary=summary)


# -- dry run ----------------------------------------------------------------------------------
def estimate(ctx: RunContext) -> list[CallEstimate]:
    cfg = ctx.config.evalsets
    teacher = make_teacher(ctx, STAGE, ctx.config.section_hash("evalsets"), None, client=False)
    return [_estimate_rephrase(ctx, cfg.rephrase, teacher), _estimate_quiz(ctx, teacher)]


def _estimate_rephrase(ctx: RunContext, cfg: RephraseConfig, teacher: Teacher) -> CallEstimate:
    """Exact when the splits exist; before that, from the datasets the earlier stages plan."""
    by_recipe = split_records(ctx, cfg.splits) if expected.written(ctx, "split") else {}
    if not by_recipe:
        questions = _planned_split_questions(ctx, cfg.splits)
        return CallEstimate(
            "teacher",
            questions,
            questions * 250,
            questions * cfg.k * QUESTION_TOKENS,
            exact=False,
            note=f"rephrase: ~{questions} questions x {cfg.k} (splits not written yet)",
        )
    calls = prompt = cached = 0
    for items in by_recipe.values():
        for _, record in items:
            request = teacher.request(
                rephrase_messages(record.question, cfg.k),
                rephrasings_model(cfg.k),
                cfg.k * (QUESTION_CHARS + 10),
            )
            if is_cached(ctx, teacher, request):
                cached += 1
                continue
            calls += 1
            prompt += request_tokens(request)
    note = f"rephrase: {cfg.k} per question" + (f"; {cached} cached" if cached else "")
    return CallEstimate("teacher", calls, prompt, calls * cfg.k * QUESTION_TOKENS, note=note)


def _planned_split_questions(ctx: RunContext, splits: Sequence[str]) -> int:
    """Questions the configured splits will hold, expected after curation (generation.expected)."""
    return sum(
        sum(expected.split_sizes(ctx, recipe)[0].get(s, 0) for s in splits)
        for recipe in ctx.config.synthesize.recipes
    )


def _estimate_quiz(ctx: RunContext, teacher: Teacher) -> CallEstimate:
    cfg = ctx.config.evalsets.quiz
    try:
        chunks = load_chunks(ctx)
    except InputError:
        return CallEstimate("teacher", 0, 0, 0, exact=False, note="quiz: no chunks yet")
    calls = prompt = completion = cached = 0
    for a in quiz.assign(chunks, cfg.count):
        request = teacher.request(quiz.messages_for(a), quizzes_model(a.n), quiz.reply_chars(a))
        if is_cached(ctx, teacher, request):
            cached += 1
            continue
        calls += 1
        prompt += request_tokens(request)
        completion += a.n * QUIZ_TOKENS
    note = f"quiz: {cfg.count} quizzes" + (f"; {cached} calls cached" if cached else "")
    return CallEstimate("teacher", calls, prompt, completion, note=note)
