"""What evaluation is made of: items to ask, per-item results, and aggregated scores.

The evaluate stage writes both levels so the report (and a person) can go from a number in the
table down to the answers behind it; the report reads them, so these records sit in the
foundation, where stages meet (the `Suite` interface that produces them is `evaluate/base.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Variant = Literal["plain", "rag"]

# Why an item is left out of a row's mean. An excluded item was not measured (it could not be
# asked, or its judge could not say), so counting it as wrong would blame the model for the
# harness. A reply that was measured and is wrong (no letter, or cut off before its answer) is
# not excluded: it counts as wrong, and the row says how many such replies it holds.
Exclusion = Literal["prompt_exceeds_context", "answer_failed", "judge_failed"]
EXCLUSION_LABELS: dict[str, str] = {
    "prompt_exceeds_context": "prompt exceeds context",
    "answer_failed": "model call failed",
    "judge_failed": "judge failed",
}
# How a multiple-choice reply was read: by the rules, by the judge model (rules+model), or not
# at all because the reply was cut off (finish_reason "length", or stopped mid-sentence).
Extraction = Literal["rules", "model", "cut_off"]


class EvalRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalItem(EvalRecord):
    """One question of a suite, as data: the same items go to every model."""

    id: str
    suite: str
    dataset: str | None = Field(
        None, description="Recipe of a QA suite; None for quizzes and MMLU."
    )
    question: str
    reference: str | None = Field(None, description="Reference answer (QA suites).")
    options: dict[str, str] | None = Field(
        None, description="Letter -> option text (multiple choice)."
    )
    answer: str | None = Field(None, description="The correct letter (multiple choice).")
    knowledge: str | None = Field(None, description="The knowledge statement of a quiz.")
    meta: dict[str, Any] = Field(default_factory=dict)


class JudgeVerdict(EvalRecord):
    """The talk's rubric: factual accuracy, completeness, clarity, each 0-10 (fractions allowed).

    A judge that answered in the rating-line format (doctune.evaluate.ratings) may give one
    overall rating instead of the criteria: then that is the score.
    """

    judge: str
    prompt_hash: str
    accuracy: float | None = None
    completeness: float | None = None
    clarity: float | None = None
    overall: float | None = Field(None, description="An overall 0-10 rating (`Rating: [[8]]`).")
    read_as: Literal["json", "ratings"] | None = Field(
        None, description="How the reply was read: the JSON asked for, or its rating lines."
    )
    rationale: str = ""
    error: str | None = Field(None, description="Why the reply could not be used; then no score.")

    @property
    def score(self) -> float | None:
        parts = (self.accuracy, self.completeness, self.clarity)
        if self.error:
            return None
        if any(p is None for p in parts):
            return self.overall
        return sum(parts) / 3  # type: ignore[arg-type]


class ItemResult(EvalRecord):
    """One model's answer to one item in one suite and variant, with its scores."""

    item_id: str
    suite: str
    dataset: str | None = None
    variant: Variant = "plain"
    model: str = Field(description="The model's row label.")
    spec: str
    question: str
    prompt: str = Field("", description="What was actually sent (knowledge prompt, RAG context).")
    reference: str | None = None
    answer: str
    scores: dict[str, float | None] = Field(
        default_factory=dict,
        description="Named scores: judge (0-10), token_f1, rouge_l; correct (0/1) for quizzes.",
    )
    judges: list[JudgeVerdict] = Field(default_factory=list)
    extracted: str | None = Field(
        None, description="The letter read from a multiple-choice answer."
    )
    excluded: str | None = Field(
        None, description="Why this item is left out of the mean, if it is (one line)."
    )
    exclusion: Exclusion | None = Field(
        None, description="The kind of exclusion (EXCLUSION_LABELS), set whenever `excluded` is."
    )
    cut_off: bool = Field(
        False, description="The reply stopped at the token limit (finish_reason 'length')."
    )
    extraction: Extraction | None = Field(
        None, description="Multiple choice: what decided `extracted` (rules, model, cut_off)."
    )
    audit_choice: str | None = Field(
        None,
        description="rules+model: on a sampled reply the rules settled, the judge model's own "
        "reading (a letter or 'none'), for the agreement of the two readers.",
    )
    fitting: list[str] = Field(
        default_factory=list,
        description="How the prompt was shortened to fit the model's context, step by step.",
    )
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Paired(EvalRecord):
    """After minus before on the items both models answered, with a bootstrap interval."""

    versus: str = Field(description="Label of the model compared against (the base).")
    n: int
    before: float
    after: float
    diff: float
    ci_low: float
    ci_high: float


class SuiteScore(EvalRecord):
    """One cell of the results table: a model on a suite (and dataset, variant)."""

    model: str
    spec: str
    kind: Literal["base", "finetuned", "baseline"]
    base: str | None = None
    experiment: str | None = None
    trained_on: str | None = Field(None, description="Dataset the model was fine-tuned on.")
    suite: str
    dataset: str | None = None
    variant: Variant = "plain"
    metric: str = Field(description="judge (0-10 mean), success_rate or accuracy (0-1).")
    n: int
    excluded: int = 0
    exclusions: dict[str, int] = Field(
        default_factory=dict, description="Excluded items by kind (Exclusion), for the table."
    )
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    successes: int | None = Field(None, description="k of k/n for rates.")
    chance: float | None = Field(None, description="Score of random guessing (0.25 for 4 options).")
    extra: dict[str, float | None] = Field(
        default_factory=dict, description="token_f1, rouge_l, agreement..."
    )
    judge: str | None = None
    second_judge: str | None = Field(None, description="Judge of the agreement statistics.")
    prompt_hash: str | None = None
    rubric: dict[str, str] | None = Field(
        None, description="Judged suites: criterion -> the question the judge answered."
    )
    answer_prompt: str | None = Field(
        None, description="Templates the model was asked with: name@version#hash[+rag_context...]."
    )
    paired: Paired | None = None
