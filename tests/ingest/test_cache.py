"""The per-document cache's batched writes: one append and fsync per batch to one log, nothing
lost that matters when an ingest is killed or the log is torn (the documents are read again, the
chunks end the same), older caches of one file per entry replaced without error."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ingest_samples import cache_rows, write_pdf

from doctune.context import RunContext
from doctune.foundation.records import Chunk
from doctune.ingest import stage as ingest_stage
from doctune.ingest.cache import BATCH, LOG, CachedFile, DocumentCache


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


def test_entries_are_written_a_batch_at_a_time(tmp_path: Path) -> None:
    cache = DocumentCache(tmp_path / "cache", "k")
    for i in range(BATCH + 3):
        cache.save(sha(i), entry(i))
    assert cache_rows(tmp_path / "cache") == BATCH  # the last 3 still pending
    assert cache.prune() == 0  # writes the pending ones first, so none is "unused"
    assert cache_rows(tmp_path / "cache") == BATCH + 3

    again = DocumentCache(tmp_path / "cache", "k")
    loaded = [again.load(sha(i), f"f{i}.md") for i in range(BATCH + 3)]
    assert [e.chunks if e else None for e in loaded] == [entry(i).chunks for i in range(BATCH + 3)]
    assert again.prune() == 0
    other = DocumentCache(tmp_path / "cache", "another config")
    assert other.load(sha(0), "f0.md") is None
    assert other.prune() == BATCH + 3  # the old key's entries, unused by this run
    assert cache_rows(tmp_path / "cache") == 0


NOTES = {f"n{i}.md": f"# Note {i}\n\n" + "A sentence of notes. " * 20 for i in range(5)}


@pytest.mark.parametrize(
    ("damage", "reused"),
    [
        (lambda log: log[: log.rindex(b"\t") + 40], 4),  # the last line cut (a power cut)
        (lambda log: log[:-1], 4),  # its line break lost
        (lambda log: b"", 0),
        (lambda log: b"not a cache\n\x00\xff\n", 0),
        (lambda log: log.replace(b'"chunks"', b'"chonks"', 1), 4),  # an entry that fails to parse
    ],
)
def test_a_torn_log_is_read_again(make_project, damage, reused: int) -> None:
    ctx = make_project(NOTES)
    asyncio.run(ingest_stage.run(ctx))
    chunks = (ctx.out_dir / "ingest" / "chunks.jsonl").read_bytes()
    log = ctx.out_dir / "ingest" / "cache" / LOG
    assert cache_rows(log.parent) == 5
    log.write_bytes(damage(log.read_bytes()))
    result = asyncio.run(ingest_stage.run(ctx))
    assert result.summary["reused"] == reused  # the others read again, without an error
    assert (ctx.out_dir / "ingest" / "chunks.jsonl").read_bytes() == chunks
    assert cache_rows(log.parent) == 5  # rewritten with the 5 entries only
    assert asyncio.run(ingest_stage.run(ctx)).summary["reused"] == 5


def test_an_older_cache_of_entry_files_is_replaced(make_project) -> None:
    ctx = make_project(NOTES)
    asyncio.run(ingest_stage.run(ctx))
    chunks = (ctx.out_dir / "ingest" / "chunks.jsonl").read_bytes()
    folder = ctx.out_dir / "ingest" / "cache"
    (folder / LOG).unlink()
    old = [folder / f"{sha(i)[:32]}-oldkey.json" for i in range(3)]
    for path in old:  # an entry file as older versions wrote them, one torn
        path.write_text('{"path": "n0.md", "doc_id": "x", "pages": null, "records": null, "ch')
    result = asyncio.run(ingest_stage.run(ctx))
    assert result.summary["reused"] == 0
    assert (ctx.out_dir / "ingest" / "chunks.jsonl").read_bytes() == chunks
    assert not any(path.exists() for path in old)  # pruned
    assert cache_rows(folder) == 5


STAGE_IN_A_PROCESS = (
    "import asyncio, sys\n"
    "from doctune.context import RunContext\n"
    "from doctune.ingest import stage\n"
    "asyncio.run(stage.run(RunContext(sys.argv[1], show_progress=False)))\n"
)


@pytest.mark.parametrize("pdfs", [False, True])
def test_a_killed_ingest_resumed_ends_identical(make_project, tmp_path: Path, pdfs: bool) -> None:
    """One reading process (PDFs assembled in the stage's process, with `pdfs`): killed once a
    batch is on disk, then resumed, it ends with a fresh run's chunks."""
    files: dict[str, object] = {
        f"d{i:03d}.md": f"# Part {i}\n\n" + f"Reading {i} of the batch log. " * 30
        for i in range(3 * BATCH)
    }
    if pdfs:  # every third file a PDF; bytes after its end make each one a different file
        pdf = write_pdf(tmp_path / "one.pdf", sections=[("1 Batch", 6)]).read_bytes()
        for i in range(0, 3 * BATCH, 3):
            del files[f"d{i:03d}.md"]
            files[f"d{i:03d}.pdf"] = pdf + b"%% copy %d\n" % i
    killed: RunContext = make_project(files, workers=1)
    cache = killed.out_dir / "ingest" / "cache"
    proc = subprocess.Popen([sys.executable, "-c", STAGE_IN_A_PROCESS, str(killed.project_dir)])
    deadline = time.monotonic() + 60
    # Killed once the first batch is on disk (or whenever it ends, if it is quicker than that).
    while proc.poll() is None and time.monotonic() < deadline:
        if cache_rows(cache):
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
    assert cache_rows(cache) == 3 * BATCH


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def _running(pid: int) -> bool:
    try:  # a zombie (ended, not yet reaped by its new parent) has ended
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_the_reading_process_ends_when_the_ingest_is_killed(make_project) -> None:
    files = {f"d{i:03d}.md": f"# Part {i}\n\n" + f"Line {i} of notes. " * 40 for i in range(1000)}
    ctx: RunContext = make_project(files, workers=1)
    proc = subprocess.Popen([sys.executable, "-c", STAGE_IN_A_PROCESS, str(ctx.project_dir)])
    deadline = time.monotonic() + 60
    readers: list[int] = []
    while proc.poll() is None and not readers and time.monotonic() < deadline:
        readers = _children(proc.pid)
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert readers, "the ingest ended before its reading process was seen"
    while any(map(_running, readers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, readers))  # none left waiting for tasks forever
