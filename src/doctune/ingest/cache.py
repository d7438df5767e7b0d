"""Per-document cache of ingest results, so unchanged documents are not read again.

An entry is keyed by the file's sha256 and a hash of everything else that decides its chunks (chunk
size, overlap, minimum length, tokenizer, the ingest code). Only successes are cached: a file that
failed (a wrong password, say) is tried again next run. Entries no run uses any more are pruned.

All entries live in one append-only file (`entries.log` in the cache folder), one line each:
the file's sha256, the key and the entry's JSON, tab-separated. They are appended in batches
(`BATCH` of them, the rest by `flush` or `prune`), one write and one fsync per batch, where one
file per document cost a create, a rename and a share of a folder fsync each (and an SQLite
database, tried too, three times this CPU). A killed ingest loses at most the batch in memory; a
power cut may leave the last line torn, which fails to parse, and its document is read again:
either way a resumed ingest ends with the same chunks. `prune` rewrites the file with only the
entries this run used when others are in it (removed files, an old config, a torn line). The
one-file-per-entry caches of older versions are never used (the code is part of the key) and
are deleted by `prune`.
"""

from __future__ import annotations

import json
import os
import tempfile
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


BATCH = 64  # entries appended per write and fsync
LOG = "entries.log"


class DocumentCache:
    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self._used: set[str] = set()  # sha256 of the entries this run loaded or saved
        self._pending: dict[str, str] = {}  # sha256 -> its entry's JSON, not yet written
        # sha256 -> where its entry's JSON is in the log (offset, bytes), this key's only; None
        # until the log is first read. `_dead`: lines in it that no run can use.
        self._index: dict[str, tuple[int, int]] | None = None
        self._dead = 0

    @property
    def path(self) -> Path:
        return self.folder / LOG

    def _entries(self) -> dict[str, tuple[int, int]]:
        if self._index is None:
            self._index, self._dead = _read_index(self.path, self.key)
        return self._index

    def load(self, sha256: str, path: str) -> CachedFile | None:
        """The cached result for these bytes, moved to `path` if the file was renamed."""
        self._used.add(sha256)
        where = self._entries().get(sha256)
        if where is None:
            return None
        try:
            with self.path.open("rb") as fh:
                fh.seek(where[0])
                raw = json.loads(fh.read(where[1]).decode("utf-8"))
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
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
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
        """Append the entries saved since the last batch, with one write and one fsync."""
        if not self._pending:
            return
        index = self._entries()
        self.folder.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            offset = os.fstat(fd).st_size
            lines = []
            for sha, text in self._pending.items():
                prefix = f"{sha}\t{self.key}\t".encode()
                data = text.encode("utf-8")
                if sha in index:
                    self._dead += 1  # replaced (its old entry could not be read)
                index[sha] = (offset + len(prefix), len(data))
                lines += (prefix, data, b"\n")
                offset += len(prefix) + len(data) + 1
            left = memoryview(b"".join(lines))
            while left:  # a short write goes on where it stopped
                left = left[os.write(fd, left) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self._pending.clear()
        if new:
            _fsync_folder(self.folder)  # the new file's name

    def prune(self) -> int:
        """Write what is pending, then drop the entries this run did not use (removed files, an
        old config, a torn line, an older version's entry files); returns how many."""
        self.flush()
        index = self._entries()
        live = {sha: where for sha, where in index.items() if sha in self._used}
        dropped = self._dead + len(index) - len(live)
        if dropped:
            self._rewrite(live)
        legacy = list(self.folder.glob("*.json")) if self.folder.is_dir() else []
        for path in legacy:  # one file per entry, before the log
            path.unlink(missing_ok=True)
        return dropped + len(legacy)

    def _rewrite(self, live: dict[str, tuple[int, int]]) -> None:
        """The log with only the `live` entries, through a temp file and a rename."""
        fd, tmp = tempfile.mkstemp(prefix=f".{LOG}.", dir=self.folder)
        index: dict[str, tuple[int, int]] = {}
        try:
            os.chmod(tmp, FILE_MODE)
            with self.path.open("rb") as old, os.fdopen(fd, "wb") as out:
                for sha, (offset, size) in live.items():
                    old.seek(offset)
                    prefix = f"{sha}\t{self.key}\t".encode()
                    index[sha] = (out.tell() + len(prefix), size)
                    out.write(prefix + old.read(size) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_folder(self.folder)
        self._index, self._dead = index, 0


def _read_index(path: Path, key: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Where each of this key's entries is in the log, and how many lines are of no use (another
    key's, a torn one, one a later line replaces)."""
    index: dict[str, tuple[int, int]] = {}
    dead = offset = 0
    try:
        fh = path.open("rb")
    except OSError:
        return index, 0  # no log yet (or none readable): every document is read
    with fh:
        for line in fh:
            sha, _, rest = line.partition(b"\t")
            line_key, _, data = rest.partition(b"\t")
            if line_key.decode("ascii", "replace") == key and line.endswith(b"\n") and data:
                name = sha.decode("ascii", "replace")
                dead += name in index
                index[name] = (offset + len(sha) + len(line_key) + 2, len(data) - 1)
            else:
                dead += 1
            offset += len(line)
    return index, dead


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
