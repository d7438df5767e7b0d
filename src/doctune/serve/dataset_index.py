"""Every dataset record of a project as one list the Datasets page filters and pages through.

A record's row joins what the stages wrote about it: the synthesized record, the curation
verdict (kept, or the reason from curate's `rejected` artifact), the split it landed in or the
reason split dropped it. Each JSONL file is parsed once per change (keyed by its path, mtime and
size) and the joined list once per change of any of them, so a page over 10,000 records costs a
filter over rows in memory, not a read of the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from doctune.foundation.errors import InputError
from doctune.foundation.manifest import Artifact, Manifest
from doctune.foundation.recipes import known_recipes, record_type
from doctune.foundation.records import QARecord, RejectedRecord

PAGE_SIZE = 50
NOT_CURATED = "not curated"
KEPT = "kept"
PENDING = "pending"
# The order the stages decide in: a later verdict (split's drop) overrides an earlier one.
_STAGES = ("synthesize", "curate", "split")

Stamp = tuple[str, int, int]


@dataclass(frozen=True)
class Row:
    """One record as the list shows it; `haystack` is what the search looks in."""

    id: str
    recipe: str
    record: QARecord
    verdict: str = NOT_CURATED
    split: str | None = None
    haystack: str = ""
    # The record as synthesis wrote it: `record` is the latest stage's copy, and split's copy
    # carries the reviewers' edits once a run applied them.
    written: QARecord | None = None

    @property
    def as_written(self) -> QARecord:
        return self.written or self.record


@dataclass(frozen=True)
class Filters:
    """The list's selection, as the query string carries it (empty means any)."""

    recipe: str = ""
    split: str = ""
    status: str = ""
    verdict: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Filters:
        return cls(**{name: params.get(name, "").strip() for name in cls.__dataclass_fields__})

    def query(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class Selection:
    rows: list[Row]
    total: int


def _stamp(path: Path) -> Stamp | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _record_model(recipe: str) -> type[QARecord]:
    # Records of a recipe no longer registered stay readable as plain QA records.
    return record_type(recipe) if recipe in known_recipes() else QARecord


def _parse_lines(path: Path, parse: Any) -> list[Any]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(parse(line))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "record"
                raise InputError(f"{path}:{lineno}: {where}: {first['msg']}") from None
    return out


@dataclass
class DatasetIndex:
    """The joined rows of one output folder, rebuilt only when one of its files changed."""

    _files: dict[str, tuple[Stamp, list[Any]]] = field(default_factory=dict)
    _key: tuple[Any, ...] | None = None
    _rows: list[Row] = field(default_factory=list)
    _by_id: dict[str, int] = field(default_factory=dict)

    def rows(self, manifest: Manifest) -> list[Row]:
        artifacts = [
            a
            for a in manifest.data.artifacts
            if a.stage in _STAGES and a.kind in ("dataset", "rejected")
        ]
        stamps = tuple(_stamp(manifest.resolve(a)) for a in artifacts)
        key = (tuple(a.path for a in artifacts), stamps)
        if key != self._key:
            self._rows = _join(artifacts, [self._load(manifest, a) for a in artifacts])
            self._by_id = {}
            for i, row in enumerate(self._rows):
                self._by_id.setdefault(row.id, i)
            self._key = key
            # Files no longer in the manifest are not kept alive by the cache.
            live = {str(manifest.resolve(a)) for a in artifacts}
            self._files = {p: v for p, v in self._files.items() if p in live}
        return self._rows

    def get(self, manifest: Manifest, record_id: str) -> Row | None:
        rows = self.rows(manifest)
        i = self._by_id.get(record_id)
        return rows[i] if i is not None else None

    def _load(self, manifest: Manifest, artifact: Artifact) -> list[Any]:
        path = manifest.resolve(artifact)
        stamp = _stamp(path)
        if stamp is None:
            return []  # listed but gone (a run is rewriting it): shown as absent until it lands
        cached = self._files.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if artifact.kind == "rejected":
            parsed = _parse_lines(path, RejectedRecord.model_validate_json)
        else:
            model = _record_model(artifact.recipe or path.stem)
            parsed = _parse_lines(path, model.model_validate_json)
        self._files[str(path)] = (stamp, parsed)
        return parsed


def _join(artifacts: list[Artifact], contents: list[list[Any]]) -> list[Row]:
    """One row per record id, in synthesis order; later stages add their verdicts."""
    rows: dict[str, Row] = {}
    order = sorted(
        range(len(artifacts)), key=lambda i: (_STAGES.index(artifacts[i].stage), artifacts[i].path)
    )
    for i in order:
        artifact, items = artifacts[i], contents[i]
        recipe = artifact.recipe or Path(artifact.path).stem
        for item in items:
            if artifact.kind == "rejected":
                _apply_rejection(rows, artifact, recipe, item)
            else:
                _apply_dataset(rows, artifact, recipe, item)
    return [replace(r, haystack=_haystack(r)) for r in rows.values()]


def _apply_dataset(rows: dict[str, Row], artifact: Artifact, recipe: str, record: Any) -> None:
    row = rows.get(record.id) or Row(id=record.id, recipe=recipe, record=record)
    if artifact.stage == "synthesize":
        row = replace(row, written=record)
    elif artifact.stage == "curate":
        row = replace(row, verdict=KEPT)
    elif artifact.stage == "split":
        row = replace(row, verdict=KEPT, split=artifact.split or record.split, record=record)
    rows[record.id] = row


def _apply_rejection(rows: dict[str, Row], artifact: Artifact, recipe: str, item: Any) -> None:
    if artifact.stage == "synthesize":
        return  # a synthesis reject is a reply that never became a record: nothing to review
    row = rows.get(item.id)
    if row is None:
        try:
            record = _record_model(recipe).model_validate(item.record)
        except ValidationError:
            return
        row = Row(id=item.id, recipe=recipe, record=record)
    rows[item.id] = replace(row, verdict=item.reason, split=None)


def _haystack(row: Row) -> str:
    return " ".join((row.id, row.record.question, row.record.answer)).casefold()


def select(rows: Iterable[Row], filters: Filters, statuses: Mapping[str, str]) -> list[Row]:
    """The rows the filters keep, in list order. `statuses`: record id -> review status."""
    terms = filters.q.casefold().split()
    out = []
    for row in rows:
        if filters.recipe and row.recipe != filters.recipe:
            continue
        if filters.split and (row.split or "none") != filters.split:
            continue
        if filters.verdict and row.verdict != filters.verdict:
            continue
        if filters.status and statuses.get(row.id, PENDING) != filters.status:
            continue
        if terms and not all(t in row.haystack for t in terms):
            continue
        out.append(row)
    return out


def facets(rows: Iterable[Row]) -> dict[str, list[str]]:
    """The values each filter can take, for the filter form's choices."""
    recipes, splits, verdicts = set(), set(), set()
    for row in rows:
        recipes.add(row.recipe)
        splits.add(row.split or "none")
        verdicts.add(row.verdict)
    return {
        "recipe": sorted(recipes),
        "split": sorted(splits),
        "verdict": sorted(verdicts, key=lambda v: (v != KEPT, v)),
    }


def page_of(position: int, page_size: int = PAGE_SIZE) -> int:
    """The 1-based page holding the 1-based `position`."""
    return max(1, (max(position, 1) - 1) // page_size + 1)
