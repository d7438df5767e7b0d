"""The curate stage: synthesized datasets in, curated datasets and the reason for every drop out.

Per recipe, in this order (cheap checks before the paid one, per-record checks before
comparisons so that of two near-duplicates the grounded one survives):
1. length limits (too_short, too_long),
2. grounding: every number-with-unit of the answer is in its source chunks (ungrounded),
3. exact duplicates (duplicate), then near-duplicate questions (near_duplicate),
4. the optional LLM-judge score (judge_score).
Records are processed in id order: ids are content hashes, while the order of a synthesized file
may depend on which model call finished first, so "the first of two duplicates" is then the same
record in every run. The near-duplicate check keeps its MinHash signatures in curate/minhash.npz,
so a rerun computes them for new questions only; the judge's calls are cached per prompt (the
record and its chunks), so an unchanged record is never judged twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctune.context import RunContext, Tick
from doctune.curate.grounding import GroundingChecker
from doctune.curate.judge_filter import judge_records, prompt
from doctune.foundation.artifacts import load_chunks
from doctune.foundation.config import CurateConfig
from doctune.foundation.dedup import SignatureStore, deduplicate, reject
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl, write_jsonl
from doctune.foundation.recipes import record_type
from doctune.foundation.records import Chunk, QARecord, RejectedRecord
from doctune.foundation.results import CallEstimate, StageResult
from doctune.generation import expected
from doctune.generation.recipes import get_recipe
from doctune.models.client import ModelClient
from doctune.models.tokens import estimate_tokens

STAGE = "curate"
SIGNATURES = "minhash.npz"  # a cache of the near-duplicate check, not an artifact
REASONS = ("too_short", "too_long", "ungrounded", "duplicate", "near_duplicate", "judge_score")
# Dry-run figures for what is not known before synthesis: a question and answer, a judge reply.
_QA_TOKENS = 100
_REPLY_TOKENS = 120


@dataclass
class CurateResult:
    records_in: int
    kept: list[QARecord]
    rejected: list[RejectedRecord]
    judged: int = 0
    judge_invalid: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        by_reason = Counter(r.reason for r in self.rejected)
        return {
            "records": self.records_in,
            "kept": len(self.kept),
            "rejected": len(self.rejected),
            **{reason: by_reason.get(reason, 0) for reason in REASONS},
            "judged": self.judged,
            "judge_invalid": len(self.judge_invalid),
        }


def length_problem(record: QARecord, config: CurateConfig) -> tuple[str, str] | None:
    """(reason, detail) when the question or answer is outside the configured lengths."""
    for part, text, low, high in (
        ("question", record.question, config.min_question_chars, config.max_question_chars),
        ("answer", record.answer, config.min_answer_chars, config.max_answer_chars),
    ):
        size = len(text.strip())
        if size < low:
            return "too_short", f"{part} has {size} characters, fewer than {low}"
        if size > high:
            return "too_long", f"{part} has {size} characters, more than {high}"
    return None


async def curate_records(
    records: Sequence[QARecord],
    chunks: Mapping[str, Chunk],
    config: CurateConfig,
    *,
    judge: ModelClient | None = None,
    tick: Tick | None = None,
    signatures: SignatureStore | None = None,
) -> CurateResult:
    """Curate one dataset; a library function a notebook can call with its own records."""
    rejected: list[RejectedRecord] = []
    survivors: list[QARecord] = []
    checker = GroundingChecker(chunks) if config.grounding else None
    for record in sorted(records, key=lambda r: r.id):
        problem = length_problem(record, config)
        if problem is not None:
            rejected.append(reject(record, *problem))
            continue
        if checker is not None:
            grounding = checker.check(record.answer, record.provenance.chunk_ids)
            if not grounding.ok:
                rejected.append(reject(record, "ungrounded", grounding.detail))
                continue
        survivors.append(record)
    kept, duplicates = deduplicate(
        survivors, config.near_duplicate_threshold, signatures=signatures
    )
    rejected.extend(duplicates)
    result = CurateResult(len(records), kept, rejected)
    if config.judge_filter.enabled:
        if judge is None:
            raise ValueError("the judge filter is enabled but no judge client was given")
        if tick is not None:
            tick.total(len(kept))
        outcome = await judge_records(kept, chunks, judge, config.judge_filter.threshold, tick=tick)
        result.kept = outcome.kept
        result.rejected.extend(outcome.rejected)
        result.judged = len(kept)
        result.judge_invalid = outcome.invalid
    return result


def chunks_by_id(ctx: RunContext) -> dict[str, Chunk]:
    return {c.id: c for c in load_chunks(ctx, needed_for="grounding checks answers against them")}


def _datasets(ctx: RunContext) -> list[Any]:
    found = ctx.inputs("dataset", stage="synthesize")
    if not found:
        raise InputError(
            f"{ctx.manifest.path}: no synthesized datasets to curate (run `doctune synthesize`)"
        )
    return sorted(found, key=lambda a: a.recipe or a.path)


async def run(ctx: RunContext) -> StageResult:
    config = ctx.config.curate
    datasets = _datasets(ctx)
    needs_chunks = config.grounding or config.judge_filter.enabled
    chunks = chunks_by_id(ctx) if needs_chunks else {}
    judge = ctx.client("judge", STAGE) if config.judge_filter.enabled else None
    out_dir = ctx.stage_dir(STAGE)
    signatures = SignatureStore(out_dir / SIGNATURES)
    artifacts, recipes = [], {}
    for dataset in datasets:
        recipe = dataset.recipe or Path(dataset.path).stem
        records = read_jsonl(ctx.path(dataset), record_type(recipe))
        # A progress bar only where a model is called: the other checks take milliseconds.
        bar = ctx.progress(f"curate {recipe}: judge", None) if judge else nullcontext(None)
        with bar as tick:
            result = await curate_records(
                records, chunks, config, judge=judge, tick=tick, signatures=signatures
            )
        kept_path = out_dir / f"{recipe}.jsonl"
        rejected_path = out_dir / f"{recipe}.rejected.jsonl"
        write_jsonl(kept_path, result.kept)
        write_jsonl(rejected_path, result.rejected)
        artifacts.append(ctx.manifest.artifact(STAGE, "dataset", kept_path, recipe=recipe))
        artifacts.append(ctx.manifest.artifact(STAGE, "rejected", rejected_path, recipe=recipe))
        recipes[recipe] = {**result.counts(), "judge_invalid_ids": sorted(result.judge_invalid)}
        _log_recipe(ctx, recipe, result)
    signatures.save()
    summary = _summary(ctx, recipes)
    summary["minhash_computed"] = signatures.computed
    return StageResult(artifacts, summary)


def _log_recipe(ctx: RunContext, recipe: str, result: CurateResult) -> None:
    counts = result.counts()
    drops = ", ".join(f"{r} {counts[r]}" for r in REASONS if counts[r])
    ctx.log(
        f"curate {recipe}: kept {counts['kept']} of {counts['records']} ({drops or 'no drops'})"
    )
    if result.judge_invalid:
        ctx.log(
            f"[yellow]curate {recipe}: {len(result.judge_invalid)} judge replies failed "
            "validation; those records were kept unscored (ids in the manifest summary)[/]"
        )


def _summary(ctx: RunContext, recipes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    for counts in recipes.values():
        totals.update({k: v for k, v in counts.items() if isinstance(v, int)})
    summary: dict[str, Any] = {
        key: totals.get(key, 0)
        for key in ("records", "kept", "rejected", *REASONS, "judged", "judge_invalid")
    }
    summary["recipes"] = recipes
    config = ctx.config.curate
    if config.judge_filter.enabled:
        template = prompt()
        summary["judge"] = {
            "model": ctx.spec("judge"),
            "prompt": template.label,
            "prompt_hash": template.hash,
            "threshold": config.judge_filter.threshold,
        }
    return summary


def estimate(ctx: RunContext) -> list[CallEstimate]:
    """Judge calls for --dry-run: one per record that reaches the judge, so at most one per
    synthesized record; before synthesis, extrapolated from the synthesize settings."""
    config = ctx.config.curate
    if not config.judge_filter.enabled:
        return []
    template = prompt()
    overhead = estimate_tokens(template.system + template.user)
    chunks = chunks_by_id(ctx) if ctx.inputs("chunks") else {}
    # The records on disk are the last run's when synthesize is about to rerun: not these.
    written = expected.written(ctx, "synthesize")
    datasets = ctx.inputs("dataset", stage="synthesize") if written else []
    if datasets:
        records = [
            r
            for a in datasets
            for r in read_jsonl(ctx.path(a), record_type(a.recipe or Path(a.path).stem))
        ]
        prompt_tokens = sum(
            overhead
            + estimate_tokens(r.question + r.answer)
            + sum(estimate_tokens(chunks[c].text) for c in r.provenance.chunk_ids if c in chunks)
            for r in records
        )
        calls, note = len(records), "at most: records dropped by earlier checks are not judged"
    else:
        calls, prompt_tokens = _extrapolate(ctx, chunks, overhead)
        note = "extrapolated from the synthesize settings"
    return [
        CallEstimate(
            role="judge",
            calls=calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=calls * _REPLY_TOKENS,
            exact=False,
            note=note,
        )
    ]


def _extrapolate(ctx: RunContext, chunks: Mapping[str, Chunk], overhead: int) -> tuple[int, int]:
    synth = ctx.config.synthesize
    chunk_tokens = (
        sum(c.n_tokens for c in chunks.values()) // len(chunks)
        if chunks
        else ctx.config.ingest.chunk_tokens
    )
    calls = prompt_tokens = 0
    for name in synth.recipes:
        recipe = get_recipe(name)
        n = expected.synthesized(ctx, name)  # what synthesis will write, as planned
        sources = recipe.sources_per_record(synth)
        calls += n
        prompt_tokens += n * (overhead + _QA_TOKENS + sources * chunk_tokens)
    return calls, prompt_tokens
