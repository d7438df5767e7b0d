"""A persistent call cache and log in SQLite, keyed by model + messages + parameters.

A rerun, or a run resumed after a crash, repeats no call that already succeeded: each reply is
committed the moment it arrives. The table doubles as the call log (like `llm logs`): every record
can be traced to the request that produced it through its key. No API key or base URL is stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from doctune.models.base import ChatRequest, ChatResponse

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    created TEXT NOT NULL
)
"""


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
        self._db.execute(_SCHEMA)

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
        stored = response.model_copy(update={"cached": False})
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, spec, request, response, cost_usd, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    spec,
                    request.model_dump_json(),
                    stored.model_dump_json(),
                    cost_usd,
                    datetime.now(timezone.utc).isoformat(timespec="seconds"),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
