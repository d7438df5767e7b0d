"""The per-document cache's batched writes: one fsync per batch, nothing lost that matters when
an ingest is killed or an entry is torn (the document is read again, the chunks end the same)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doctune.context import RunContext
from doctune.foundation.records import Chunk
from doctune.ingest import stage as ingest_stage
from doctune.ingest.cache import BATCH, CachedFile, DocumentCache


def entry(i: int) -> CachedFile:
    text = f"text {i}"
    chunk = Chunk(
        id=f"c{i}",
        doc_id=f"d{i}",
        path=f"f{i}.md",
        index=0,
        text=text,
        start=0,
        end=len(text),
        n_tokens=2,
        sha256=sha(i),
    )
    return CachedFile(path=f"f{i}.md", doc_id=f"d{i}", pages=None, records=None, chunks=[chunk])


def sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_entries_are_written_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    cache = DocumentCache(tmp_path / "cache", "k")
    for i in range(BATCH + 3):
        cache.save(sha(i), entry(i))
    assert len(list((tmp_path / "cache").glob("*.json"))) == BATCH  # the last 3 still pending
    assert len(fsyncs) == 1
    assert cache.prune() == 0  # writes the pending ones first, so none is "unused"
    assert len(fsyncs) == 2

    again = DocumentCache(tmp_path / "cache", "k")
    loaded = [again.load(sha(i), f"f{i}.md") for i in range(BATCH + 3)]
    assert [e.chunks if e else None for e in loaded] == [entry(i).chunks for i in range(BATCH + 3)]


def test_a_torn_entry_is_read_again(make_project) -> None:
    ctx = make_project(
        {f"n{i}.md": f"# Note {i}\n\n" + "A sentence of notes. " * 20 for i in range(5)}
    )
    asyncio.run(ingest_stage.run(ctx))
    chunks = (ctx.out_dir / "ingest" / "chunks.jsonl").read_bytes()
    entries = sorted((ctx.out_dir / "ingest" / "cache").glob("*.json"))
    entries[0].write_text(entries[0].read_text()[:50])  # what a power cut may leave
    entries[1].write_bytes(b"")
    result = asyncio.run(ingest_stage.run(ctx))
    assert result.summary["reused"] == 3
    assert (ctx.out_dir / "ingest" / "chunks.jsonl").read_bytes() == chunks


STAGE_IN_A_PROCESS = (
    "import asyncio, sys\n"
    "from doctune.context import RunContext\n"
    "from doctune.ingest import stage\n"
    "asyncio.run(stage.run(RunContext(sys.argv[1], show_progress=False)))\n"
)


def test_a_killed_ingest_resumed_ends_identical(make_project, tmp_path: Path) -> None:
    files = {
        f"d{i:03d}.md": f"# Part {i}\n\n" + f"Reading {i} of the batch log. " * 30
        for i in range(3 * BATCH)
    }
    killed: RunContext = make_project(files, workers=1)
    cache = killed.out_dir / "ingest" / "cache"
    proc = subprocess.Popen([sys.executable, "-c", STAGE_IN_A_PROCESS, str(killed.project_dir)])
    deadline = time.monotonic() + 60
    # Killed once the first batch is on disk (or whenever it ends, if it is quicker than that).
    while proc.poll() is None and time.monotonic() < deadline:
        if cache.is_dir() and any(cache.glob("*.json")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    resumed = asyncio.run(ingest_stage.run(killed))
    assert resumed.summary["files"] == 3 * BATCH
    if proc.returncode == -signal.SIGKILL:  # killed mid-way: some documents were read again
        assert 0 < resumed.summary["reused"] < 3 * BATCH

    fresh = RunContext(killed.project_dir, out_dir=tmp_path / "fresh", show_progress=False)
    asyncio.run(ingest_stage.run(fresh))
    assert (killed.out_dir / "ingest" / "chunks.jsonl").read_bytes() == (
        fresh.out_dir / "ingest" / "chunks.jsonl"
    ).read_bytes()
    assert len(list(cache.glob("*.json"))) == 3 * BATCH
