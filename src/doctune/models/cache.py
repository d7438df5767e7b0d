"""A persistent call cache and log in SQLite, keyed by model + messages + parameters.

A rerun, or a run resumed after a crash, repeats no call that already succeeded: each answer is
committed the moment it is known to be one. The `calls` table doubles as the call log (like
`llm logs`): every record can be traced to the request that produced it through its key.

Only answers are stored in `calls`: a reply that failed validation, or a call that failed after
the backend's retries, goes to `failures` (key, spec, reason, time) instead and is never served,
so a later run asks again (a transient fault must not become a permanent verdict). A failure row
is removed when its key is answered. No API key or base URL is stored in either table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from doctune.models.base import ChatRequest, ChatResponse

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    created TEXT NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    reason TEXT NOT NULL,
    created TEXT NOT NULL
)
""",
)
# A failure reason is one line for a person; a provider's error body can be long.
REASON_LIMIT = 300


@dataclass(frozen=True)
class Stored:
    """One answer to store: the request, its reply and what the reply cost."""

    key: str
    request: ChatRequest
    response: ChatResponse
    cost_usd: float


@dataclass(frozen=True)
class Failure:
    key: str
    spec: str
    reason: str
    created: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def request_key(spec: str, request: ChatRequest) -> str:
    """Content hash of everything that decides the reply. The endpoint URL is left out on purpose:
    moving a vLLM server to another port must not invalidate what it already answered."""
    payload = json.dumps({"spec": spec, "request": request.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CallCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL: readers never block the writer; NORMAL sync survives a killed process.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for table in _SCHEMA:
            self._db.execute(table)

    def get(self, key: str) -> tuple[ChatResponse, float] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT response, cost_usd FROM calls WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return ChatResponse.model_validate_json(row[0]), float(row[1])

    def put(
        self, key: str, spec: str, request: ChatRequest, response: ChatResponse, cost_usd: float
    ) -> None:
        """Store one answer (a reply that passed whatever validation its caller applies)."""
        self.put_many(spec, [Stored(key, request, response, cost_usd)])

    def put_many(self, spec: str, answers: list[Stored]) -> None:
        """Store the replies of one call chain (a first ask and its re-asks) together, in one
        transaction: a chain is an answer as a whole or not at all."""
        rows = [
            (
                a.key,
                spec,
                a.request.model_dump_json(),
                a.response.model_copy(update={"cached": False}).model_dump_json(),
                a.cost_usd,
                _now(),
            )
            for a in answers
        ]
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO calls (key, spec, request, response, cost_usd, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.executemany("DELETE FROM failures WHERE key = ?", [(r[0],) for r in rows])

    def record_failure(self, key: str, spec: str, reason: str) -> None:
        """Note that the call `key` failed and why; nothing is served from this. The reason must
        already be free of secrets (backends scrub their errors; validation errors hold none)."""
        line = " ".join(reason.split())[:REASON_LIMIT]
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO failures (key, spec, reason, created) VALUES (?, ?, ?, ?)",
                (key, spec, line, _now()),
            )

    def evict(self, keys: list[str]) -> None:
        """Drop stored replies that turned out not to be answers (older versions of doctune
        cached every reply, valid or not)."""
        with self._lock:
            self._db.executemany("DELETE FROM calls WHERE key = ?", [(k,) for k in keys])

    def failures(self) -> list[Failure]:
        """The calls that failed and have not been answered since, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, spec, reason, created FROM failures ORDER BY created, key"
            ).fetchall()
        return [Failure(*row) for row in rows]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
