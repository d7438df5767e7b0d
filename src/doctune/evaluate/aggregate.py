"""From per-item results to the cells of the results table (SuiteScore rows).

- Judged QA: the mean judge score (0-10) over the items with a usable verdict, a bootstrap 95 %
  interval, the excluded count, and beside it token F1, ROUGE-L, the per-criterion means and,
  with a second judge, its mean and the agreement of the two.
- Quizzes and MMLU: k/n with a Wilson interval, the chance level and the chance-centred rate,
  and how many replies named no single letter.
- Before/after: every fine-tuned row is paired with its base model's row of the same suite,
  dataset and variant, on the items both have a score for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from doctune.foundation.evalrecords import EvalItem, ItemResult, SuiteScore, Variant
from doctune.foundation.stats import (
    agreement,
    bootstrap_mean,
    chance_centred,
    paired_difference,
    wilson,
)
from doctune.foundation.suites import suite_info
from doctune.models.experiments import ModelRef

# What one item contributes to the row's mean, by metric.
ITEM_SCORE = {"judge": "judge", "success_rate": "correct", "accuracy": "correct"}


def metric_of(suite: str) -> str:
    return suite_info(suite).metric


@dataclass(frozen=True)
class RowKey:
    model: str
    suite: str
    dataset: str | None
    variant: Variant


@dataclass(frozen=True)
class Scoring:
    """What every row records about how it was scored."""

    samples: int
    seed: int
    judge: str | None = None
    second_judge: str | None = None
    judge_prompt_hash: str | None = None
    rubric: dict[str, str] | None = None


# Exclusions under which the model never answered, so there is nothing to compare to the reference.
_NOT_ANSWERED = frozenset({"prompt_exceeds_context", "answer_failed"})


def exclusion_counts(results: Sequence[ItemResult], counted: Mapping[str, float]) -> dict[str, int]:
    """Items left out of the mean, by kind: every item not in `counted` is one of them."""
    out: Counter[str] = Counter()
    for r in results:
        if r.item_id not in counted:
            out[r.exclusion or ("judge_failed" if r.judges else "unscored")] += 1
    return dict(sorted(out.items()))


def item_values(results: Sequence[ItemResult], metric: str) -> dict[str, float]:
    """Item id -> the item's score, for the items that count (not excluded, scored)."""
    name = ITEM_SCORE[metric]
    out: dict[str, float] = {}
    for r in results:
        value = r.scores.get(name)
        if r.excluded is None and value is not None:
            out[r.item_id] = float(value)
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _judge_extra(results: Sequence[ItemResult]) -> dict[str, float | None]:
    # Reference metrics need no judge: they are averaged over every answered item.
    answered = [r for r in results if r.exclusion not in _NOT_ANSWERED]
    extra = {
        "token_f1": _mean([r.scores.get("token_f1") for r in answered]),
        "rouge_l": _mean([r.scores.get("rouge_l") for r in answered]),
        # A cut-off answer is judged as it stands; the count says how many there were.
        "cut_off": float(sum(r.cut_off for r in answered)),
    }
    valid = [r for r in results if r.excluded is None and r.judges]
    for criterion in ("accuracy", "completeness", "clarity"):
        extra[criterion] = _mean([getattr(r.judges[0], criterion) for r in valid])
    if any("judge_2" in r.scores for r in results):
        second = [r.scores.get("judge_2") for r in results]
        extra["judge_2"] = _mean(second)
        extra["judge_2_invalid"] = float(sum(s is None for s in second))
        both = [
            (r.scores["judge"], r.scores["judge_2"])
            for r in results
            if r.scores.get("judge") is not None and r.scores.get("judge_2") is not None
        ]
        extra.update(agreement([a for a, _ in both], [b for _, b in both]))  # type: ignore[misc]
    return extra


def _extraction_fields(answered: Sequence[ItemResult]) -> dict[str, float | None]:
    """How the row's replies were read (rules or judge model) and, on the audited sample the
    rules settled, how often the judge model read them the same way."""
    if all(r.extraction is None for r in answered):  # log-likelihood MMLU reads no text
        return {}
    audited = [r for r in answered if r.audit_choice is not None]
    agreeing = sum(r.audit_choice == (r.extracted or "none") for r in audited)
    return {
        "by_rules": float(sum(r.extraction == "rules" for r in answered)),
        "by_model": float(sum(r.extraction == "model" for r in answered)),
        "extraction_audited": float(len(audited)),
        "extraction_agreement": agreeing / len(audited) if audited else None,
    }


def _rate_fields(
    results: Sequence[ItemResult], items: Mapping[str, EvalItem], values: dict[str, float]
) -> dict[str, object]:
    k, n = int(sum(values.values())), len(values)
    interval = wilson(k, n)
    options = [len(items[i].options or {}) for i in values if i in items]
    chance = float(np.mean([1 / o for o in options if o])) if any(options) else None
    rate = k / n if n else None
    answered = [r for r in results if r.excluded is None]
    extra: dict[str, float | None] = {
        # Both count as wrong answers (the model was asked and did not commit in time or at
        # all); they are told apart so a too-small token budget is not read as a weak model.
        "cut_off": float(sum(r.cut_off for r in answered)),
        "no_letter": float(sum(r.extracted is None and not r.cut_off for r in answered)),
        "chance_centred": chance_centred(rate, chance) if rate is not None and chance else None,
        **_extraction_fields(answered),
    }
    return {
        "mean": rate,
        "ci_low": interval[0] if interval else None,
        "ci_high": interval[1] if interval else None,
        "successes": k,
        "chance": chance,
        "extra": extra,
    }


def suite_score(
    model: ModelRef,
    key: RowKey,
    results: Sequence[ItemResult],
    items: Mapping[str, EvalItem],
    scoring: Scoring,
) -> SuiteScore:
    metric = metric_of(key.suite)
    values = item_values(results, metric)
    fields: dict[str, object]
    if metric == "judge":
        interval = bootstrap_mean(list(values.values()), scoring.samples, scoring.seed)
        fields = {
            "mean": interval.mean if interval else None,
            "ci_low": interval.low if interval else None,
            "ci_high": interval.high if interval else None,
            "extra": _judge_extra(results),
            "judge": scoring.judge,
            "second_judge": scoring.second_judge,
            "prompt_hash": scoring.judge_prompt_hash,
            "rubric": scoring.rubric,
        }
    else:
        fields = _rate_fields(results, items, values)
    return SuiteScore(
        model=model.label,
        spec=model.spec,
        kind=model.kind,
        base=model.base,
        experiment=model.experiment,
        trained_on=model.dataset,
        suite=key.suite,
        dataset=key.dataset,
        variant=key.variant,
        metric=metric,
        n=len(values),
        excluded=len(results) - len(values),
        exclusions=exclusion_counts(results, values),
        **fields,  # type: ignore[arg-type]
    )


def base_of(model: ModelRef, models: Sequence[ModelRef]) -> ModelRef | None:
    """The base-model row a fine-tuned model is compared against (same student spec)."""
    if model.kind != "finetuned":
        return None
    return next((m for m in models if m.kind == "base" and m.spec == model.base), None)


def with_paired(
    rows: list[tuple[ModelRef, RowKey, SuiteScore]],
    results: Mapping[RowKey, Sequence[ItemResult]],
    models: Sequence[ModelRef],
    scoring: Scoring,
) -> list[SuiteScore]:
    """The rows, each fine-tuned one with its paired difference against its base model."""
    out: list[SuiteScore] = []
    for model, key, score in rows:
        base = base_of(model, models)
        base_key = RowKey(base.label, key.suite, key.dataset, key.variant) if base else None
        if base is None or base_key not in results:
            out.append(score)
            continue
        metric = score.metric
        paired = paired_difference(
            item_values(results[base_key], metric),
            item_values(results[key], metric),
            versus=base.label,
            samples=scoring.samples,
            seed=scoring.seed,
        )
        out.append(score.model_copy(update={"paired": paired}))
    return out
