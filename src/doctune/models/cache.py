"""A persistent call cache and log in SQLite, keyed by model + messages + parameters.

A rerun, or a run resumed after a crash, repeats no call that already succeeded: each answer is
committed as soon as it is known to be one. Inside an event loop the answers of one turn of the
loop go in one transaction, at the start of the next turn (group commit: at 64 calls in flight
a transaction per answer was most of the client's own CPU per call); a process killed in between
loses only those answers, which the resumed run asks again. The `calls` table doubles as the
call log (like `llm logs`): every record can be traced to the request that produced it through
its key.

Only answers are stored in `calls`: a reply that failed validation, or a call that failed after
the backend's retries, goes to `failures` (key, spec, reason, time) instead and is never served,
so a later run asks again (a transient fault must not become a permanent verdict). A failure row
is removed when its key is answered. No API key or base URL is stored in either table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
# A row of `calls` as inserted: key, spec, request, response, cost_usd, created.
_Row = tuple[str, str, str, str, float, str]


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
    moving a vLLM server to another port must not invalidate what it already answered.

    The text hashed is `json.dumps` of {"spec", "request": `request.model_dump(mode="json")`}
    with sorted keys. It is written from the fields' own values (the dump would copy the schema,
    ~40 objects a call for the garbage collector to count), and from the dump where a value is
    not plain JSON (json.dumps refuses it: no other text can come out).
    """
    try:
        payload = json.dumps(
            {"spec": spec, "request": _fields(request)}, sort_keys=True, allow_nan=False
        )
    except (TypeError, ValueError):
        payload = json.dumps(
            {"spec": spec, "request": request.model_dump(mode="json")}, sort_keys=True
        )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _fields(request: ChatRequest) -> dict[str, Any]:
    # A pydantic model's __dict__ is its fields (extra="forbid"); json.dumps writes a tuple as
    # a list, as the JSON dump does.
    fields = dict(request.__dict__)
    fields["messages"] = [m.__dict__ for m in request.messages]
    fields["params"] = request.params.__dict__
    return fields


def _uncached(response: ChatResponse) -> ChatResponse:
    # Stored as a fresh reply; a copy only where it is not one already.
    return response.model_copy(update={"cached": False}) if response.cached else response


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
        # Answers not committed yet (see `put_many`), in the order they came, and by key for `get`.
        self._pending: list[_Row] = []
        self._pending_by_key: dict[str, _Row] = {}
        self._flush_on: asyncio.AbstractEventLoop | None = None
        self._flush_error: sqlite3.Error | None = None

    def get(self, key: str) -> tuple[ChatResponse, float] | None:
        with self._lock:
            pending = self._pending_by_key.get(key)
            if pending is not None:
                row: tuple[str, float] | None = (pending[3], pending[4])
            else:
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
        transaction: a chain is an answer as a whole or not at all.

        Called inside a running event loop, the chain joins the answers of this turn of the loop,
        committed together when the loop next runs its callbacks (`flush`); `get` serves them
        meanwhile. Anywhere else it is committed before this returns.
        """
        if self._flush_error is not None:
            error, self._flush_error = self._flush_error, None
            raise error
        created = _now()
        rows = [
            (
                a.key,
                spec,
                a.request.model_dump_json(),
                _uncached(a.response).model_dump_json(),
                a.cost_usd,
                created,
            )
            for a in answers
        ]
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._pending.extend(rows)
            self._pending_by_key.update((row[0], row) for row in rows)
            if loop is not None and self._flush_on is not loop:
                self._flush_on = loop
                loop.call_soon(self._flush_soon)
        if loop is None:
            self.flush()

    def flush(self) -> None:
        """Commit the answers `put_many` holds, in one transaction."""
        with self._lock:
            self._flush_on = None
            rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                with self._transaction():
                    self._db.executemany(
                        "INSERT OR REPLACE INTO calls "
                        "(key, spec, request, response, cost_usd, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    self._db.executemany(
                        "DELETE FROM failures WHERE key = ?", [(r[0],) for r in rows]
                    )
            except BaseException:
                self._pending = rows + self._pending  # kept for the next flush
                raise
            self._pending_by_key.clear()

    def _flush_soon(self) -> None:
        # A loop callback must not raise: the error goes to the next `put_many` or `close`.
        try:
            self.flush()
        except sqlite3.Error as exc:
            self._flush_error = exc

    def record_failure(self, key: str, spec: str, reason: str) -> None:
        """Note that the call `key` failed and why; nothing is served from this. The reason must
        already be free of secrets (backends scrub their errors; validation errors hold none)."""
        line = " ".join(reason.split())[:REASON_LIMIT]
        self.flush()  # in order with the answers before it (an answer clears its key's failure)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO failures (key, spec, reason, created) VALUES (?, ?, ?, ?)",
                (key, spec, line, _now()),
            )

    def evict(self, keys: list[str]) -> None:
        """Drop stored replies that turned out not to be answers (older versions of doctune
        cached every reply, valid or not)."""
        self.flush()
        with self._lock:
            self._db.executemany("DELETE FROM calls WHERE key = ?", [(k,) for k in keys])

    def failures(self) -> list[Failure]:
        """The calls that failed and have not been answered since, oldest first."""
        self.flush()
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
        self.flush()
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._db.close()
