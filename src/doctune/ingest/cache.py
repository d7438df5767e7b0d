"""Per-document cache of ingest results, so unchanged documents are not read again.

An entry is keyed by the file's sha256 and a hash of everything else that decides its chunks (chunk
size, overlap, minimum length, tokenizer, the ingest code). Only successes are cached: a file that
failed (a wrong password, say) is tried again next run. Entries no run uses any more are pruned.

All entries live in one SQLite database (`entries.sqlite` in the cache folder, WAL journal) and are
written in batches (`BATCH` of them, the rest by `flush` or `prune`): one transaction, so one
fsync of the journal, per batch, where one file per document cost a create, a rename and a share
of a folder fsync each. A killed ingest loses at most the batch in memory, and a transaction is
all or nothing, so a resumed ingest ends with the same chunks. A database that cannot be read
(torn by a power cut, not SQLite at all) is deleted and rebuilt: its documents are read again.
The one-file-per-entry caches of older versions are never used (the code is part of the key) and
are deleted by `prune`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from doctune.foundation.jsonl import FILE_MODE
from doctune.foundation.records import Chunk
from doctune.ingest.chunking import chunk_ids, document_id


@dataclass
class CachedFile:
    """What ingesting one file produced."""

    path: str
    doc_id: str
    pages: int | None
    records: int | None
    chunks: list[Chunk]
    note: str | None = None
    fallback_pages: list[int] = field(default_factory=list)  # PDF pages read by pdfminer.six
    # The chunks as chunks.jsonl lines and their token total, encoded once where they were made
    # (a reading worker, which then sends back these strings and not the `chunks`).
    lines: list[str] | None = None
    tokens: int = 0

    @property
    def count(self) -> int:
        return len(self.lines) if self.lines is not None else len(self.chunks)


BATCH = 64  # entries written per transaction
DATABASE = "entries.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (sha256 TEXT NOT NULL, key TEXT NOT NULL, "
    "entry TEXT NOT NULL, PRIMARY KEY (sha256, key)) WITHOUT ROWID"
)


class DocumentCache:
    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self._used: set[str] = set()  # sha256 of the entries this run loaded or saved
        self._pending: dict[str, str] = {}  # sha256 -> its entry's JSON, not yet written
        self._db: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self.folder / DATABASE

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = _open(self.path)
            except sqlite3.DatabaseError:  # torn or not a database: rebuilt, read again
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                self._db = _open(self.path)
        return self._db

    def load(self, sha256: str, path: str) -> CachedFile | None:
        """The cached result for these bytes, moved to `path` if the file was renamed."""
        self._used.add(sha256)
        try:
            row = (
                self._connect()
                .execute(
                    "SELECT entry FROM entries WHERE sha256 = ? AND key = ?", (sha256, self.key)
                )
                .fetchone()
            )
            if row is None:
                return None
            raw = json.loads(row[0])
            chunks = [Chunk.model_validate(c) for c in raw["chunks"]]
            entry = CachedFile(
                path=raw["path"],
                doc_id=raw["doc_id"],
                pages=raw["pages"],
                records=raw["records"],
                chunks=chunks,
                note=raw.get("note"),
                fallback_pages=list(raw.get("fallback_pages") or []),
            )
        except (sqlite3.Error, ValueError, KeyError, TypeError, ValidationError):
            return None  # unreadable: the document is simply read again
        if entry.path != path:
            entry.chunks = _moved(entry.chunks, entry.path, path)
            entry.doc_id = document_id(path)
            entry.path = path
        return entry

    def save(self, sha256: str, entry: CachedFile) -> None:
        self._used.add(sha256)
        head = {
            "path": entry.path,
            "doc_id": entry.doc_id,
            "pages": entry.pages,
            "records": entry.records,
            "note": entry.note,
            "fallback_pages": entry.fallback_pages,
        }
        if entry.lines is None:
            head["chunks"] = [c.model_dump(mode="json") for c in entry.chunks]
            text = json.dumps(head, ensure_ascii=False)
        else:  # the chunks' own JSON, as json.dumps would write them: "chunks" comes last
            chunks = ", ".join(entry.lines)
            text = f'{json.dumps(head, ensure_ascii=False)[:-1]}, "chunks": [{chunks}]}}'
        self._pending[sha256] = text
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the entries saved since the last batch, in one transaction."""
        if not self._pending:
            return
        rows = [(sha, self.key, text) for sha, text in self._pending.items()]
        db = self._connect()
        with db:  # BEGIN ... COMMIT, or ROLLBACK on an error
            db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", rows)
        self._pending.clear()

    def prune(self) -> int:
        """Write what is pending, then delete the entries this run did not use (removed files,
        an old config, an older version's entry files); returns how many were deleted.
        Closes the database."""
        if not self._pending and not self.folder.is_dir():
            return 0
        self.flush()
        db = self._connect()
        stale = [
            row
            for row in db.execute("SELECT sha256, key FROM entries")
            if row[1] != self.key or row[0] not in self._used
        ]
        with db:
            db.executemany("DELETE FROM entries WHERE sha256 = ? AND key = ?", stale)
        self.close()
        legacy = list(self.folder.glob("*.json"))  # one file per entry, before the database
        for path in legacy:
            path.unlink(missing_ok=True)
        return len(stale) + len(legacy)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    db = sqlite3.connect(path)  # commits by `with db:`
    try:
        db.execute("PRAGMA journal_mode=WAL")  # a commit appends to the journal: one fsync
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        db.execute("SELECT 1 FROM entries LIMIT 1").fetchall()  # a torn file fails here
    except sqlite3.Error:
        db.close()
        raise
    if new:
        os.chmod(path, FILE_MODE)
    return db


def _moved(chunks: list[Chunk], old: str, new: str) -> list[Chunk]:
    """A renamed file's chunks: paths, the path-derived document ids, and so the chunk ids."""
    out: list[Chunk] = []
    for part_chunks in _by_path(chunks):
        first = part_chunks[0]
        path = new + first.path[len(old) :]  # keeps a record's "#3"
        # An id a reader chose itself (not derived from the path) stays as it is.
        doc_id = document_id(path) if first.doc_id == document_id(first.path) else first.doc_id
        ids = chunk_ids(doc_id, [c.text for c in part_chunks])
        out += [
            c.model_copy(update={"path": path, "doc_id": doc_id, "id": i})
            for c, i in zip(part_chunks, ids, strict=True)
        ]
    return out


def _by_path(chunks: list[Chunk]) -> list[list[Chunk]]:
    groups: list[list[Chunk]] = []
    for chunk in chunks:
        if groups and groups[-1][0].path == chunk.path:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups
