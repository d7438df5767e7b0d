"""The report's other sections, as plain rows a template prints: dataset statistics, the
experiments, the cost of every stage, and sample answers before and after fine-tuning."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.suites import all_suites
from doctune.models.experiments import ExperimentRow
from doctune.report import formats as fmt

SPLITS = ("train", "validation", "test")


def sample_suites() -> list[str]:
    """The suites sample answers come from, best first (their `sample_rank`): unseen questions
    show generalisation, the talk's question; training questions only when nothing else was."""
    ranked = [s for s in all_suites() if s.sample_rank is not None]
    return [s.name for s in sorted(ranked, key=lambda s: s.sample_rank or 0)]


# -- dataset statistics -------------------------------------------------------------------------
def dataset_rows(stats: dict[str, Any] | None) -> list[dict[str, str]]:
    """One row per recipe from export's stats.json: samples per split, tokens, lengths."""
    if not stats:
        return []
    rows = []
    for recipe, entry in stats.get("recipes", {}).items():
        per_split = entry.get("samples_per_split", {})
        example = (entry.get("splits", {}).get("train") or {}).get("tokens", {}).get("example")
        if not example:  # no train split: the first split that has lengths
            example = next(
                (s["tokens"]["example"] for s in entry.get("splits", {}).values() if s["samples"]),
                {},
            )
        rows.append(
            {
                "recipe": recipe,
                **{split: fmt.number(per_split.get(split)) for split in SPLITS},
                "samples": fmt.number(entry.get("samples")),
                "tokens": fmt.number(entry.get("total_tokens")),
                "example_tokens": _spread(example),
                "reviews": _reviews(entry.get("reviews") or {}),
            }
        )
    return rows


def _reviews(counts: dict[str, int]) -> str:
    """Reviewed / edited / rejected (plus those dropped for want of approval), or empty."""
    if not counts.get("reviewed") and not counts.get("not_approved"):
        return ""
    text = f"{counts.get('reviewed', 0)} / {counts.get('edited', 0)} / {counts.get('rejected', 0)}"
    if counts.get("not_approved"):
        text += f" (+{counts['not_approved']} not approved)"
    return text


def _spread(dist: dict[str, Any]) -> str:
    if not dist or dist.get("p50") is None:
        return ""
    return f"{dist['p50']} / {dist['p90']} / {dist['max']}"


def token_note(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    if stats.get("token_counts") == "estimate":
        return "Token counts are estimates (~4 characters per token; no tokenizer was available)."
    return f"Token counts from the tokenizer {stats.get('tokenizer')}."


# -- experiments --------------------------------------------------------------------------------
def experiment_rows(rows: list[ExperimentRow]) -> list[dict[str, str]]:
    out = []
    for r in rows:
        lr = fmt.number(r.learning_rate)
        if r.learning_rate_multiplier is not None:
            lr = f"x{fmt.number(r.learning_rate_multiplier)} (hosted)"
        out.append(
            {
                "name": r.name,
                "student": r.student,
                "dataset": r.dataset,
                "route": r.route if r.method in (r.route, "hosted") else f"{r.route} / {r.method}",
                "epochs": fmt.number(r.epochs),
                "batch": f"{r.batch_size} x {r.gradient_accumulation_steps}",
                "lr": lr,
                "status": r.status + (f": {r.error}" if r.error else ""),
                "train_loss": fmt.number(r.train_loss),
                "validation_loss": fmt.number(r.validation_loss),
                "steps": fmt.number(r.steps),
                "time": fmt.seconds(r.wall_s),
                "cost": fmt.money(r.cost_usd),
            }
        )
    return out


# -- cost ---------------------------------------------------------------------------------------
@dataclass
class CostRow:
    stage: str
    model: str
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    new_cost_usd: float = 0.0
    job: bool = False  # a fine-tuning job's bill, not model calls


@dataclass
class Costs:
    rows: list[CostRow] = field(default_factory=list)
    stages: list[CostRow] = field(default_factory=list)  # one subtotal per stage
    total: CostRow = field(default_factory=lambda: CostRow(stage="total", model=""))


def costs(usage: dict[str, Any] | None, experiments: list[ExperimentRow]) -> Costs:
    """Model calls per stage and model from usage.json, plus what fine-tuning jobs cost.

    `cost_usd` is what producing the outputs cost (calls answered from the cache included, at the
    price they were paid); `new_cost_usd` is what the latest run of each stage paid.
    """
    result = Costs()
    for stage, per_model in (usage or {}).items():
        subtotal = CostRow(stage=stage, model="all models")
        for model, raw in sorted(per_model.items()):
            row = CostRow(stage=stage, model=model, **{k: raw.get(k, 0) for k in _SUMMED})
            result.rows.append(row)
            _add(subtotal, row)
        result.stages.append(subtotal)
    jobs = [r for r in experiments if r.cost_usd]
    if jobs:
        subtotal = CostRow(stage="train", model="fine-tuning jobs")
        for r in jobs:
            # A job is paid once, when it runs: its cost is never "new" on a later run, but
            # the table has no per-run record of jobs, so the column stays empty for them.
            row = CostRow(stage="train", model=r.name, cost_usd=r.cost_usd or 0.0, job=True)
            result.rows.append(row)
            _add(subtotal, row)
        result.stages.append(subtotal)
    for subtotal in result.stages:
        _add(result.total, subtotal)
    return result


_SUMMED = (
    "calls",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "new_cost_usd",
)


def _add(into: CostRow, row: CostRow) -> None:
    for key in _SUMMED:
        setattr(into, key, getattr(into, key) + getattr(row, key))


# -- sample answers -----------------------------------------------------------------------------
@dataclass
class Answer:
    model: str
    text: str
    score: float | None
    rationale: str
    excluded: str | None
    cut_off: bool = False


@dataclass
class Sample:
    item_id: str
    question: str
    reference: str | None
    before: Answer
    after: Answer


@dataclass
class SampleGroup:
    model: str
    base: str
    dataset: str | None
    suite: str
    samples: list[Sample]


def sample_groups(
    scores: list[SuiteScore], answers: list[ItemResult], per_dataset: int
) -> list[SampleGroup]:
    """For each fine-tuned model and QA dataset, `per_dataset` items answered by it and its base.

    Items are picked by a hash of their id, not by score: a fixed, unselected sample, the same on
    every run, never the fine-tuned model's best answers.
    """
    if per_dataset <= 0:
        return []
    by_key: dict[tuple[str, str, str | None], dict[str, ItemResult]] = {}
    for a in answers:
        if a.variant == "plain":
            by_key.setdefault((a.model, a.suite, a.dataset), {})[a.item_id] = a
    groups = []
    for model, base, dataset in _finetuned_pairs(scores):
        for suite in sample_suites():
            after = by_key.get((model, suite, dataset), {})
            before = by_key.get((base, suite, dataset), {})
            common = sorted(set(after) & set(before), key=_stable_order)
            if common:
                samples = [_sample(before[i], after[i]) for i in common[:per_dataset]]
                groups.append(SampleGroup(model, base, dataset, suite, samples))
                break
    return groups


def _finetuned_pairs(scores: list[SuiteScore]) -> list[tuple[str, str, str | None]]:
    """(fine-tuned label, base label, QA dataset) for every fine-tuned model's plain QA scores."""
    base_of_spec = {s.spec: s.model for s in scores if s.kind == "base"}
    pairs: list[tuple[str, str, str | None]] = []
    for s in scores:
        if s.kind != "finetuned" or s.variant != "plain" or s.suite not in sample_suites():
            continue
        base = s.paired.versus if s.paired else base_of_spec.get(s.base or "")
        if base is not None and (s.model, base, s.dataset) not in pairs:
            pairs.append((s.model, base, s.dataset))
    return pairs


def _stable_order(item_id: str) -> str:
    return hashlib.sha256(item_id.encode()).hexdigest()


def _sample(before: ItemResult, after: ItemResult) -> Sample:
    return Sample(
        item_id=after.item_id,
        question=after.question,
        reference=after.reference,
        before=_answer(before),
        after=_answer(after),
    )


def _answer(r: ItemResult) -> Answer:
    rationale = next((j.rationale for j in r.judges if j.rationale), "")
    return Answer(
        model=r.model,
        text=r.answer,
        score=r.scores.get("judge"),
        rationale=rationale,
        excluded=r.excluded,
        cut_off=r.cut_off,
    )
