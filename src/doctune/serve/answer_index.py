"""Every evaluation item with each model's answer to it, for the Compare page.

The evaluate stage writes one `answers` file per model, suite, dataset and variant, and one
`scores` file whose rows say which model is fine-tuned from which base. Here the answers are
regrouped by item, so one item shows base, fine-tuned and +RAG answers side by side, and each
fine-tuned model's score minus its base's on that item ("where fine-tuning hurt") is at hand.
Files are parsed once per change, like the dataset index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctune.evaluate.aggregate import ITEM_SCORE
from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.suites import find_suite

PAGE_SIZE = 20
DIFF_FILTERS = ("hurt", "helped", "same")


@dataclass(frozen=True)
class ModelRole:
    label: str
    kind: str  # base, finetuned, baseline
    base: str | None = None


@dataclass
class Item:
    """One question of one suite (and dataset) with every model's result, keyed by column."""

    suite: str
    dataset: str | None
    item_id: str
    question: str
    reference: str | None
    results: dict[tuple[str, str], ItemResult] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return "/".join(p for p in (self.suite, self.dataset, self.item_id) if p)


@dataclass
class Answers:
    items: list[Item]
    columns: list[tuple[str, str]]  # (model label, variant), base models first
    roles: dict[str, ModelRole]
    suites: list[str]
    exclusions: list[str]

    def finetuned(self) -> list[str]:
        return [r.label for r in self.roles.values() if r.kind == "finetuned" and r.base]


def item_score(result: ItemResult) -> float | None:
    """The score the suite's mean is made of (judge 0-10, or 1/0 correct); None when the item
    was excluded or not scored."""
    info = find_suite(result.suite)
    name = ITEM_SCORE.get(info.metric, "judge") if info else "judge"
    value = result.scores.get(name)
    return None if result.excluded is not None or value is None else float(value)


def difference(item: Item, model: str, roles: Mapping[str, ModelRole]) -> float | None:
    """`model`'s score minus its base model's on this item (plain answers), when both count."""
    role = roles.get(model)
    if role is None or role.base is None:
        return None
    after, before = item.results.get((model, "plain")), item.results.get((role.base, "plain"))
    if after is None or before is None:
        return None
    a, b = item_score(after), item_score(before)
    return None if a is None or b is None else a - b


@dataclass
class AnswerIndex:
    _key: tuple[Any, ...] | None = None
    _answers: Answers | None = None

    def get(self, manifest: Manifest) -> Answers:
        artifacts = manifest.find("answers") + manifest.find("scores")
        paths = [manifest.resolve(a) for a in artifacts]
        key = tuple((str(p), _stamp(p)) for p in paths)
        if self._answers is None or key != self._key:
            self._answers = _build(manifest)
            self._key = key
        return self._answers


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _roles(manifest: Manifest) -> dict[str, ModelRole]:
    roles: dict[str, ModelRole] = {}
    for artifact in manifest.find("scores"):
        path = manifest.resolve(artifact)
        if not path.is_file():
            continue
        for row in read_jsonl(path, SuiteScore):
            roles.setdefault(row.model, ModelRole(row.model, row.kind, row.base))
    return roles


def _build(manifest: Manifest) -> Answers:
    roles = _roles(manifest)
    items: dict[tuple[str, str | None, str], Item] = {}
    columns: set[tuple[str, str]] = set()
    exclusions: set[str] = set()
    for artifact in manifest.find("answers"):
        path = manifest.resolve(artifact)
        if not path.is_file():
            continue  # a run is rewriting the answers: shown when they land
        for result in read_jsonl(path, ItemResult):
            key = (result.suite, result.dataset, result.item_id)
            item = items.get(key)
            if item is None:
                item = items[key] = Item(*key, result.question, result.reference)
            item.results[(result.model, result.variant)] = result
            columns.add((result.model, result.variant))
            if result.exclusion:
                exclusions.add(result.exclusion)
    order = {"base": 0, "finetuned": 1, "baseline": 2}
    ordered = sorted(
        columns,
        key=lambda c: (order.get(roles[c[0]].kind, 3) if c[0] in roles else 3, c[0], c[1]),
    )
    suites = sorted({k[0] for k in items}, key=_suite_order)
    return Answers(
        items=sorted(
            items.values(), key=lambda i: (_suite_order(i.suite), i.dataset or "", i.item_id)
        ),
        columns=ordered,
        roles=roles,
        suites=suites,
        exclusions=sorted(exclusions),
    )


def _suite_order(name: str) -> tuple[int, str]:
    # The results table's column order for the described suites, then the rest by name.
    order = ("train_qa", "test_qa", "rephrased_qa", "task", "task_prompted", "mmlu")
    return (order.index(name) if name in order else len(order), name)


@dataclass(frozen=True)
class CompareFilters:
    suite: str = ""
    dataset: str = ""
    exclusion: str = ""
    diff: str = ""  # hurt, helped, same
    versus: str = ""  # the fine-tuned model whose difference to its base is used
    sort: str = ""  # "diff": most hurt first; "-diff": most helped first

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> CompareFilters:
        return cls(**{name: params.get(name, "").strip() for name in cls.__dataclass_fields__})

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def select_items(answers: Answers, filters: CompareFilters) -> list[tuple[Item, float | None]]:
    """The items the filters keep, each with its score difference for the chosen model."""
    versus = filters.versus or next(iter(answers.finetuned()), "")
    out = []
    for item in answers.items:
        if filters.suite and item.suite != filters.suite:
            continue
        if filters.dataset and item.dataset != filters.dataset:
            continue
        if filters.exclusion and not any(
            r.exclusion == filters.exclusion for r in item.results.values()
        ):
            continue
        diff = difference(item, versus, answers.roles) if versus else None
        if filters.diff and not _diff_matches(filters.diff, diff):
            continue
        out.append((item, diff))
    if filters.sort in ("diff", "-diff"):
        sign = 1 if filters.sort == "diff" else -1
        # Items without a difference go last either way.
        out.sort(key=lambda pair: (pair[1] is None, sign * (pair[1] or 0.0)))
    return out


def _diff_matches(wanted: str, diff: float | None) -> bool:
    if diff is None:
        return False
    return {"hurt": diff < 0, "helped": diff > 0, "same": diff == 0}.get(wanted, True)
