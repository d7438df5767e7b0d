"""Human reviews of records, with their audit trail, in one SQLite file of the project.

The file is `<project>/reviews.sqlite`, beside doctune.yaml and documents/, not in the output
folder: a review is an input a person wrote, like a document, so it survives `--force` reruns,
a deleted `out/` and runs with another `--out`, and no stage deletes it. Reviews are keyed by
record id; ids are content-derived, so a record synthesis writes again keeps its review, and a
review whose record is gone is listed as orphaned (`ReviewStore.orphaned`), never dropped.

Every `set` writes an audit row in the same transaction: who, when (UTC), the state before and
the state after. `apply_reviews` is what the split stage does with them.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from doctune.foundation.config import ProjectConfig
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import iter_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import QARecord, RejectedRecord

REVIEWS_NAME = "reviews.sqlite"
Status = Literal["approved", "rejected", "edited", "pending"]
STATUSES: tuple[str, ...] = get_args(Status)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    record_id TEXT PRIMARY KEY, status TEXT NOT NULL, user TEXT NOT NULL, at TEXT NOT NULL,
    reason TEXT, question TEXT, answer TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL, user TEXT NOT NULL,
    at TEXT NOT NULL, before TEXT, after TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_record ON audit (record_id);
"""
_COLUMNS = "record_id, status, user, at, reason, question, answer"


@dataclass(frozen=True)
class Review:
    record_id: str
    status: str
    user: str
    at: str  # ISO 8601, UTC
    reason: str | None = None
    question: str | None = None  # the edited text; None: the record's own
    answer: str | None = None


@dataclass(frozen=True)
class Change:
    """One review to store (see `ReviewStore.set`)."""

    record_id: str
    status: str
    reason: str | None = None
    question: str | None = None
    answer: str | None = None
    before: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditEntry:
    record_id: str
    user: str
    at: str
    before: dict[str, Any] | None
    after: dict[str, Any]


def reviews_path(project_dir: str | Path) -> Path:
    return Path(project_dir) / REVIEWS_NAME


def review_user(config: ProjectConfig) -> str:
    """The name the audit trail records: `review.user`, else the OS user."""
    if config.review.user:
        return config.review.user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ReviewStore:
    """Reads never create the file (the pipeline reads a project that may have no reviews);
    the first `set` does."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection | None]:
        if not write and not self.path.exists():
            yield None
            return
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open the reviews file: {exc}") from None
        try:
            if write:
                conn.executescript(_SCHEMA)
            with conn:  # one transaction: the review and its audit row, or neither
                yield conn
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a readable reviews file: {exc}") from None
        finally:
            conn.close()

    def _select(self, where: str = "", args: Sequence[Any] = ()) -> list[Review]:
        with self._connect() as conn:
            if conn is None or not _has_tables(conn):
                return []
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM reviews {where} ORDER BY record_id", args
            ).fetchall()
        return [Review(*row) for row in rows]

    def get(self, record_id: str) -> Review | None:
        found = self._select("WHERE record_id = ?", (record_id,))
        return found[0] if found else None

    def many(self, ids: Iterable[str]) -> dict[str, Review]:
        wanted = set(ids)
        return {r.record_id: r for r in self.all() if r.record_id in wanted}

    def all(self) -> list[Review]:
        return self._select()

    def set(
        self,
        record_id: str,
        status: str,
        user: str,
        reason: str | None = None,
        question: str | None = None,
        answer: str | None = None,
        before: dict[str, Any] | None = None,
    ) -> Review:
        """Record a review and its audit row. `before` is what the caller saw (the record's
        question and answer); without it the audit keeps the previous review's state.
        Approving an edited record keeps its edit; `pending` clears the review's effect."""
        change = Change(record_id, status, reason, question, answer, before)
        return self.set_many([change], user)[0]

    def set_many(self, changes: Sequence[Change], user: str) -> list[Review]:
        """`set` for many records at once (a bulk review): every change checked first, then
        all stored in one transaction, each with its own audit row; a bad change stores none."""
        ids = [c.record_id for c in changes]
        if not ids:
            return []
        if len(set(ids)) != len(ids):
            raise ValueError("a bulk review names a record more than once")
        priors = self._priors(ids)
        reviews = [
            _new_review(
                priors.get(c.record_id), c.record_id, c.status, user, c.reason, c.question, c.answer
            )
            for c in changes
        ]
        audit_rows = []
        for change, review in zip(changes, reviews, strict=True):
            prior = priors.get(change.record_id)
            before = (
                change.before if change.before is not None else (_state(prior) if prior else None)
            )
            audit_rows.append(
                (
                    review.record_id,
                    user,
                    review.at,
                    None if before is None else json.dumps(before, sort_keys=True),
                    json.dumps(_state(review), sort_keys=True),
                )
            )
        with self._connect(write=True) as conn:
            assert conn is not None  # write=True always opens
            conn.executemany(
                f"INSERT OR REPLACE INTO reviews ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [astuple(r) for r in reviews],
            )
            conn.executemany(
                "INSERT INTO audit (record_id, user, at, before, after) VALUES (?, ?, ?, ?, ?)",
                audit_rows,
            )
        return reviews

    def _priors(self, ids: list[str]) -> dict[str, Review]:
        if len(ids) == 1:
            found = self.get(ids[0])
            return {found.record_id: found} if found else {}
        return self.many(ids)

    def audit(self, record_id: str) -> list[AuditEntry]:
        with self._connect() as conn:
            if conn is None or not _has_tables(conn):
                return []
            rows = conn.execute(
                "SELECT record_id, user, at, before, after FROM audit WHERE record_id = ? "
                "ORDER BY id",
                (record_id,),
            ).fetchall()
        return [
            AuditEntry(rid, user, at, json.loads(b) if b else None, json.loads(a))
            for rid, user, at, b, a in rows
        ]

    def orphaned(self, existing_ids: Iterable[str]) -> list[Review]:
        """Reviews (other than pending) whose record no stage holds any more: kept, listed."""
        existing = set(existing_ids)
        return [r for r in self.all() if r.record_id not in existing and r.status != "pending"]

    def digest(self) -> str:
        """A hash of every review's state (not the audit trail): a stage applying reviews is
        rerun when it changes, and only then."""
        data = json.dumps([asdict(r) for r in self.all()], sort_keys=True)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


class _Text(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    question: str
    answer: str


def written_records(manifest: Manifest) -> dict[str, dict[str, str]]:
    """Every record synthesis wrote (curate keeps a subset of them), by id: its question and
    answer as written, before any review. The records a review can name."""
    found: dict[str, dict[str, str]] = {}
    for artifact in manifest.find("dataset", stage="synthesize"):
        for r in iter_jsonl(manifest.resolve(artifact), _Text):
            found[r.id] = {"question": r.question, "answer": r.answer}
    return found


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='reviews'")
    return row.fetchone() is not None


def _state(review: Review) -> dict[str, Any]:
    state = asdict(review)
    del state["record_id"]
    return state


def _new_review(
    prior: Review | None,
    record_id: str,
    status: str,
    user: str,
    reason: str | None,
    question: str | None,
    answer: str | None,
) -> Review:
    if status not in STATUSES:
        raise ValueError(f"review status '{status}' is not one of {', '.join(STATUSES)}")
    if status == "rejected" and not (reason or "").strip():
        raise ValueError(f"rejecting record {record_id} needs a reason")
    if status == "edited" and question is None and answer is None:
        raise ValueError(f"editing record {record_id} needs a new question or answer")
    for name, text in (("question", question), ("answer", answer)):
        if text is not None and not text.strip():
            raise ValueError(f"the edited {name} of record {record_id} is empty")
    if status in ("approved", "edited") and prior is not None:
        # An edit stays when the edited record is approved, or when only one field is edited next.
        question = question if question is not None else prior.question
        answer = answer if answer is not None else prior.answer
    if status == "approved" and (question is not None or answer is not None):
        status = "edited"  # approving an edit approves the edited text
    if status in ("pending", "rejected"):
        question = answer = None
    return Review(record_id, status, user, _now(), reason, question, answer)


@dataclass
class Applied:
    """What `apply_reviews` did to one dataset."""

    kept: list[QARecord]
    dropped: list[RejectedRecord]
    counts: dict[str, int]


def apply_reviews(
    records: Sequence[QARecord],
    reviews: dict[str, Review],
    *,
    require_approval: bool,
    stage: str,
) -> Applied:
    """Rejected records are dropped (reason `review_rejected`); edited ones carry their new
    text, and their provenance names the editor; with `require_approval`, records no reviewer
    approved or edited are dropped (`not_approved`)."""
    kept: list[QARecord] = []
    dropped: list[RejectedRecord] = []
    counts = dict.fromkeys(("reviewed", "approved", "edited", "rejected", "not_approved"), 0)
    for record in records:
        review = reviews.get(record.id)
        if review is None or review.status == "pending":
            if require_approval:
                counts["not_approved"] += 1
                dropped.append(_reject(record, "not_approved", "no reviewer approved it", stage))
            else:
                kept.append(record)
            continue
        counts["reviewed"] += 1
        if review.status == "rejected":
            counts["rejected"] += 1
            detail = f"rejected by {review.user} at {review.at}: {review.reason}"
            dropped.append(_reject(record, "review_rejected", detail, stage))
            continue
        counts["approved" if review.status == "approved" else "edited"] += 1
        kept.append(_reviewed(record, review))
    return Applied(kept, dropped, counts)


def _reviewed(record: QARecord, review: Review) -> QARecord:
    provenance: dict[str, Any] = {"approved_by": review.user, "approved_at": review.at}
    text: dict[str, Any] = {}
    if review.status == "edited":
        provenance = {"edited_by": review.user, "edited_at": review.at}
        if review.question is not None:
            text["question"] = review.question
        if review.answer is not None:
            text["answer"] = review.answer
    return record.model_copy(
        update={**text, "provenance": record.provenance.model_copy(update=provenance)}
    )


def _reject(record: QARecord, reason: str, detail: str, stage: str) -> RejectedRecord:
    return RejectedRecord(
        id=record.id,
        stage=stage,
        reason=reason,
        detail=detail,
        record=record.model_dump(mode="json"),
    )
