"""The talk's "orthogonal experiment results" table, built from suite scores.

Rows are model x dataset: base models, fine-tuned models (each cell "before > after" against its
base, with the paired difference and its interval), baselines, and every +RAG variant, so the
choice the talk frames (prompting vs retrieval vs fine-tuning) reads off one table. Columns are
the suites (doctune.foundation.suites, in its order). A cell that was not evaluated says so ("—"); nothing is filled in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from doctune.foundation import stats as talk
from doctune.foundation.evalrecords import SuiteScore
from doctune.foundation.suites import all_suites, find_suite
from doctune.report import counts
from doctune.report import formats as fmt
from doctune.report.labels import short_label

_KIND_ORDER = {"base": 0, "finetuned": 1, "baseline": 2}
NOT_EVALUATED = "—"
# Extra statistics shown in a cell (all of them are in results.csv): reference metrics and
# judge agreement as "before > after"; counts of the fine-tuned model's run alone.
EXTRA_LABELS = {
    "token_f1": "F1",
    "rouge_l": "ROUGE-L",
    "judge_2": "2nd judge",
    "agreement_spearman": "judges ρ",
    "agreement_kappa": "judges κ",
}
# Cut-off and no-letter counts have their own line in every cell (report.counts).
COUNT_LABELS = {"judge_2_invalid": "2nd judge unusable"}

Trend = Literal["up", "down", "flat", ""]


@dataclass
class Cell:
    """One suite of one row: a main line in the talk's form and the statistics under it."""

    main: str = NOT_EVALUATED
    details: list[str] = field(default_factory=list)
    summary: str = ""  # the interval and the counts, for the compact Markdown table
    # up/down: the paired interval excludes zero; flat: it does not; "": nothing compared.
    trend: Trend = ""
    score: SuiteScore | None = None
    before: SuiteScore | None = None


@dataclass
class Row:
    model: str
    spec: str
    kind: str
    variant: str
    dataset: str
    base_label: str | None
    cells: dict[str, Cell]

    @property
    def label(self) -> str:
        return f"{self.model} + RAG" if self.variant == "rag" else self.model

    @property
    def short(self) -> str:
        """The label as a row shows it: experiment name or a short spec; the spec on hover."""
        name = short_label(self.model, self.spec)
        return f"{name} + RAG" if self.variant == "rag" else name


@dataclass
class ResultsTable:
    columns: tuple[tuple[str, str], ...]
    rows: list[Row]
    judges: list[tuple[str, str]]  # (judge model, prompt hash) of every judged cell
    second_judges: list[str] = field(default_factory=list)
    rubric: dict[str, str] = field(default_factory=dict)  # criterion -> what the judge checks


def columns() -> tuple[tuple[str, str], ...]:
    """(suite, header) of every described suite, built-in ones first in the talk's order."""
    return tuple((s.name, s.column) for s in all_suites())


def per_dataset(suite: str) -> bool:
    """Whether a suite is scored per QA dataset (rows per dataset); False for a suite no longer
    described (an old scores file), which then fills every row of its model like a quiz."""
    info = find_suite(suite)
    return info is not None and info.per_dataset


class _Index:
    """Scores looked up by (model, variant, suite, dataset)."""

    def __init__(self, scores: list[SuiteScore]) -> None:
        self.scores = scores
        self.by_key: dict[tuple[str, str, str, str | None], SuiteScore] = {}
        for s in scores:
            self.by_key.setdefault((s.model, s.variant, s.suite, s.dataset), s)

    def find(self, model: str, variant: str, suite: str, dataset: str | None) -> SuiteScore | None:
        exact = self.by_key.get((model, variant, suite, dataset))
        if exact is not None or per_dataset(suite):
            return exact
        # Quizzes and MMLU do not depend on a QA dataset: the same score fills every row.
        return self.by_key.get((model, variant, suite, None))

    def base_label(self, row_score: SuiteScore) -> str | None:
        """The label of the base a fine-tuned model is compared with."""
        if row_score.kind != "finetuned":
            return None
        paired = next(
            (s.paired for s in self.scores if s.model == row_score.model and s.paired), None
        )
        if paired is not None:
            return paired.versus
        base = next((s for s in self.scores if s.kind == "base" and s.spec == row_score.base), None)
        return base.model if base is not None else None


def build_results_table(scores: list[SuiteScore]) -> ResultsTable:
    index = _Index(scores)
    header = columns()
    rows: list[Row] = []
    for first in _model_variants(scores):
        base_label = index.base_label(first)
        for dataset in _row_datasets(scores, first):
            cells = {
                suite: _cell(index, first.model, first.variant, suite, dataset, base_label)
                for suite, _ in header
            }
            rows.append(
                Row(
                    model=first.model,
                    spec=first.spec,
                    kind=first.kind,
                    variant=first.variant,
                    dataset=_dataset_label(first, dataset),
                    base_label=base_label,
                    cells=cells,
                )
            )
    judges = sorted({(s.judge, s.prompt_hash or "") for s in scores if s.judge})
    second = sorted({s.second_judge for s in scores if s.second_judge})
    rubric = next((s.rubric for s in scores if s.rubric), None) or {}
    return ResultsTable(
        columns=header, rows=rows, judges=judges, second_judges=second, rubric=rubric
    )


def _model_variants(scores: list[SuiteScore]) -> list[SuiteScore]:
    """One score per (model, variant), ordered: each student's base, then its fine-tuned models,
    then baselines (as in the talk); plain before +RAG; otherwise in order of appearance."""
    firsts: dict[tuple[str, str], SuiteScore] = {}
    for s in scores:
        firsts.setdefault((s.model, s.variant), s)
    students: dict[str, int] = {}
    models: dict[str, int] = {}
    for s in firsts.values():
        students.setdefault(_student(s), len(students))
        models.setdefault(s.model, len(models))

    def key(s: SuiteScore) -> tuple[int, int, int, int]:
        group = len(students) if s.kind == "baseline" else students[_student(s)]
        return (group, _KIND_ORDER[s.kind], models[s.model], s.variant == "rag")

    return sorted(firsts.values(), key=key)


def _student(s: SuiteScore) -> str:
    return s.base or s.spec


def _row_datasets(scores: list[SuiteScore], first: SuiteScore) -> list[str | None]:
    """The QA datasets a model was scored on, its training dataset first; one row without a
    dataset when it has no QA score at all."""
    found: list[str | None] = []
    for s in scores:
        if (
            s.model == first.model
            and s.variant == first.variant
            and per_dataset(s.suite)
            and s.dataset not in found
        ):
            found.append(s.dataset)
    if first.trained_on in found:
        found.remove(first.trained_on)
        found.insert(0, first.trained_on)
    return found or [first.trained_on]


def _dataset_label(first: SuiteScore, dataset: str | None) -> str:
    if dataset is None:
        return first.trained_on or NOT_EVALUATED
    if first.kind == "finetuned" and first.trained_on and dataset != first.trained_on:
        return f"{dataset} (trained on {first.trained_on})"
    return dataset


def _cell(
    index: _Index,
    model: str,
    variant: str,
    suite: str,
    dataset: str | None,
    base_label: str | None,
) -> Cell:
    score = index.find(model, variant, suite, dataset)
    if score is None:
        return Cell()
    before = index.find(base_label, variant, suite, dataset) if base_label else None
    if before is None and score.paired is None:
        return _single_cell(score)
    return _paired_cell(score, before)


def _single_cell(s: SuiteScore) -> Cell:
    if s.metric == fmt.JUDGE:
        main = fmt.value(s.metric, s.mean)
    elif s.metric == "success_rate":
        main = f"Success Rate: {fmt.count(s.successes, s.n, s.mean)}"
    else:
        main = fmt.value(s.metric, s.mean)
    details = _score_details(s)
    ci = fmt.interval(s.metric, s.ci_low, s.ci_high)
    summary = "; ".join(
        [*([f"95 % CI {ci}"] if ci else []), *counts.cell_lines(s), fmt.chance(s.metric, s.chance)]
    ).rstrip("; ")
    return Cell(main=main, details=details, summary=summary, score=s)


def _paired_cell(after: SuiteScore, before: SuiteScore | None) -> Cell:
    metric, p = after.metric, after.paired
    b_mean = p.before if p else (before.mean if before else None)
    a_mean = p.after if p else after.mean
    diff = p.diff if p else (None if b_mean is None or a_mean is None else a_mean - b_mean)
    main = _talk_form(after, before, b_mean, a_mean, diff)
    details: list[str] = []
    trend: Trend = ""
    if p is not None:
        summary = f"Δ 95 % CI {fmt.change_interval(metric, p.ci_low, p.ci_high)}, paired n={p.n}"
        details.append(summary)
        trend = "up" if p.ci_low > 0 else "down" if p.ci_high < 0 else "flat"
    else:
        summary = f"unpaired, n={after.n}"
        details.append("unpaired (before and after on different items)")
    summary = "; ".join([summary, *counts.cell_lines(after)])
    if after.chance is not None:
        summary += f"; {fmt.chance(metric, after.chance)}"
    details.append("after: " + "; ".join(_score_details(after, chance=False, extra=False)))
    if before is not None:
        details.append("before: " + "; ".join(_score_details(before, chance=False, extra=False)))
    extras = _extras(after, before)
    if extras:
        details.append(extras)
    if after.chance is not None:
        details.append(fmt.chance(metric, after.chance))
    return Cell(
        main=main, details=details, summary=summary, trend=trend, score=after, before=before
    )


def _talk_form(
    after: SuiteScore,
    before: SuiteScore | None,
    b_mean: float | None,
    a_mean: float | None,
    diff: float | None,
) -> str:
    """The talk's "5.86 > 7.29 +14.3 %", "Success Rate: 58/87 > 50/87 -9.2 %", "56.0 > 51.8 -4.2 %"."""
    main = talk.talk_form(before, after, (b_mean, a_mean))
    if after.metric != "success_rate" or main == "n/a":
        return main
    if before is None:  # only the paired means are known: rates, not made-up counts
        return f"Success Rate: {main}"
    return f"Success Rate: {main} {fmt.change(after.metric, diff)}"


def _extras(after: SuiteScore, before: SuiteScore | None) -> str:
    """Reference metrics and judge agreement (before > after where both have them)."""
    parts = []
    for key, label in EXTRA_LABELS.items():
        value = after.extra.get(key)
        if value is None:
            continue
        prior = before.extra.get(key) if before is not None else None
        parts.append(
            f"{label} {prior:.2f} > {value:.2f}" if prior is not None else f"{label} {value:.2f}"
        )
    for key, label in COUNT_LABELS.items():
        value = after.extra.get(key)
        if value:
            parts.append(f"{label}: {value:.0f}")
    return " · ".join(parts)


def _score_details(s: SuiteScore, *, chance: bool = True, extra: bool = True) -> list[str]:
    out = []
    ci = fmt.interval(s.metric, s.ci_low, s.ci_high)
    if ci:
        out.append(f"95 % CI {ci}")
    out += counts.cell_lines(s)
    if chance and s.chance is not None:
        out.append(fmt.chance(s.metric, s.chance))
    if extra and _extras(s, None):
        out.append(_extras(s, None))
    return out


# -- CSV ----------------------------------------------------------------------------------------
_CSV_FIELDS = (
    "model",
    "label",
    "spec",
    "kind",
    "base",
    "experiment",
    "trained_on",
    "suite",
    "dataset",
    "variant",
    "metric",
    "n",
    "excluded",
    "mean",
    "ci_low",
    "ci_high",
    "successes",
    "chance",
    "judge",
    "second_judge",
    "prompt_hash",
)
_PAIRED_FIELDS = ("versus", "n", "before", "after", "diff", "ci_low", "ci_high")


def results_csv(scores: Iterable[SuiteScore], *, smoke: bool = False) -> str:
    """Every score as one row (long format, numbers unformatted), for spreadsheets and scripts.

    `smoke` is a column, true on every row of a smoke run, rather than a comment line: every
    CSV reader keeps working and a row copied elsewhere still says where it came from. `label`
    is the short name the report shows, `spec` the full model spec.
    """
    scores = list(scores)
    extra_keys = sorted({k for s in scores for k in s.extra})
    excluded_keys = counts.csv_fields(scores)
    header = [
        "smoke",
        *_CSV_FIELDS,
        *excluded_keys,
        *(f"paired_{f}" for f in _PAIRED_FIELDS),
        *extra_keys,
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for s in scores:
        row: list[object] = ["true" if smoke else "false"]
        row += [
            short_label(s.model, s.spec) if f == "label" else getattr(s, f) for f in _CSV_FIELDS
        ]
        row += [s.exclusions.get(k.removeprefix("excluded_"), 0) for k in excluded_keys]
        row += [getattr(s.paired, f) if s.paired else None for f in _PAIRED_FIELDS]
        row += [s.extra.get(k) for k in extra_keys]
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()
