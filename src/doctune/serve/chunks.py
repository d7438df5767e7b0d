"""The ingested documents and their chunks, read from ingest's outputs (cached until the file
changes), and the passage of a chunk to highlight."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doctune.foundation.errors import DoctuneError
from doctune.foundation.jsonl import read_json, read_jsonl
from doctune.foundation.records import Chunk
from doctune.serve.state import ServeState

# chunks.jsonl by path: its mtime, its chunks in order, and by id (a record's page looks one up).
_cache: dict[Path, tuple[float, list[Chunk], dict[str, Chunk]]] = {}


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool


def _loaded(state: ServeState) -> tuple[list[Chunk], dict[str, Chunk]]:
    manifest = state.manifest()
    found = manifest.find("chunks", stage="ingest")
    if not found:
        return [], {}
    path = manifest.resolve(found[0])
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return [], {}
    cached = _cache.get(path)
    if cached is None or cached[0] != mtime:
        chunks = read_jsonl(path, Chunk)
        cached = (mtime, chunks, {c.id: c for c in chunks})
        _cache[path] = cached
    return cached[1], cached[2]


def all_chunks(state: ServeState) -> list[Chunk]:
    return _loaded(state)[0]


def chunk_by_id(state: ServeState, chunk_id: str) -> Chunk | None:
    return _loaded(state)[1].get(chunk_id)


def documents(state: ServeState) -> list[dict[str, Any]]:
    """Every file ingest looked at, with its status and reason (ingest's report.json)."""
    manifest = state.manifest()
    for artifact in manifest.find("stats", stage="ingest"):
        try:
            report = read_json(manifest.resolve(artifact))
        except (DoctuneError, OSError):
            return []
        files = report.get("files", []) if isinstance(report, dict) else []
        return [f for f in files if isinstance(f, dict)]
    return []


def highlight(text: str, passage: str | None) -> tuple[list[Segment], bool]:
    """`text` cut into segments, the ones matching `passage` marked (case and runs of spaces
    ignored: a record quotes its chunk loosely). The flag says whether the passage was found."""
    words = (passage or "").split()
    if not words:
        return [Segment(text, False)], False
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    segments: list[Segment] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            segments.append(Segment(text[at : match.start()], False))
        segments.append(Segment(match.group(0), True))
        at = match.end()
    if at < len(text):
        segments.append(Segment(text[at:], False))
    return segments, any(s.marked for s in segments)
