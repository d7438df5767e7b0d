"""Per-document cache of ingest results, so unchanged documents are not read again.

An entry is keyed by the file's sha256 and a hash of everything else that decides its chunks (chunk
size, overlap, minimum length, tokenizer, the ingest code). Only successes are cached: a file that
failed (a wrong password, say) is tried again next run. Entries no run uses any more are pruned.

Entries are written in batches (`BATCH` of them, the rest by `flush` or `prune`): each through a
temp file and a rename, and one fsync of the folder per batch rather than one per file (at ~2 ms
each, per-file fsyncs were a tenth of a PDF corpus's ingest). A killed ingest loses at most the
batch in memory; a power cut may leave an entry empty or torn, which then fails to parse and its
document is read again. Either way a resumed ingest ends with the same chunks.
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


BATCH = 64  # entries written per fsync


class DocumentCache:
    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self._used: set[str] = set()
        self._pending: dict[Path, str] = {}  # entry file -> its text, not yet written

    def _file(self, sha256: str) -> Path:
        return self.folder / f"{sha256[:32]}-{self.key}.json"

    def load(self, sha256: str, path: str) -> CachedFile | None:
        """The cached result for these bytes, moved to `path` if the file was renamed."""
        file = self._file(sha256)
        self._used.add(file.name)
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
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
            return None  # missing or unreadable: the document is simply read again
        if entry.path != path:
            entry.chunks = _moved(entry.chunks, entry.path, path)
            entry.doc_id = document_id(path)
            entry.path = path
        return entry

    def save(self, sha256: str, entry: CachedFile) -> None:
        file = self._file(sha256)
        self._used.add(file.name)
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
        self._pending[file] = text
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the entries saved since the last batch, with one fsync for all of them."""
        if not self._pending:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for file, text in self._pending.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=self.folder)
            try:
                os.chmod(tmp, FILE_MODE)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(tmp, file)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self._pending.clear()
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)  # the renames; a torn entry is read again (see above)
        finally:
            os.close(folder)

    def prune(self) -> int:
        """Write what is pending, then delete the entries this run did not use (removed files,
        an old config); returns how many were deleted."""
        self.flush()
        if not self.folder.is_dir():
            return 0
        stale = [p for p in self.folder.glob("*.json") if p.name not in self._used]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)


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
