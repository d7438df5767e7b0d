"""Reading and chunking the documents that are not in the cache, on every core.

Each file is read and chunked in a worker process (`ingest.workers` of them; 1 reads in this
process). The results come back in the documents' order, never in the order the workers finish,
so the chunks file is the same whatever the number of workers. Only a few files are in flight at
a time (their bytes travel to the worker), so memory does not grow with the corpus. A worker
takes a few files per task and sends back each chunk already encoded as its JSON line, so the
stage itself does little per page.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from doctune.ingest.cache import CachedFile
from doctune.ingest.chunking import Chunker, chunk_rows, document_id
from doctune.ingest.document import ReadError
from doctune.ingest.readers import read_document
from doctune.models.tokens import TokenCounter, get_token_counter

# Files a worker reads per task: one round trip to the pool for several (16 rather than 4: the
# stage's own CPU with 2 workers on the benchmark's 1,000 documents 0.30 -> 0.25 s).
FILES_PER_TASK = 16
IN_FLIGHT_PER_WORKER = 2  # tasks queued per worker, so one is always waiting for it
# Tasks per worker at the least: a small corpus gets smaller tasks, so the workers finish
# within a few files of each other.
MIN_TASKS_PER_WORKER = 8
# The chunks.jsonl lines, as foundation.jsonl.dumps writes them (json.dumps builds an encoder
# for each call when it is given ensure_ascii=False: one made once costs a third less a chunk).
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False)
# json's own default encoder (ensure_ascii=True) escapes strings 2.5x faster, and writes the
# same line when every string is ASCII without DEL (the one ASCII character it escapes and
# ensure_ascii=False does not).
_ASCII_ENCODER = json.JSONEncoder()


@dataclass(frozen=True)
class Job:
    """One file to read. The worker reads its bytes itself: only names travel between processes,
    and the stage holds no file's bytes while others are read."""

    rel: str
    path: Path
    password: str | None


# What reading a file gives: the sha256 of the bytes read (None when they could not be), and
# the result or the one-line reason it could not be read.
Outcome = tuple[str | None, CachedFile | str]


@dataclass(frozen=True)
class Setup:
    """What turns bytes into chunks; a worker builds its own chunker from it."""

    tokenizer: str | None  # None: the estimate
    chunk_tokens: int
    overlap_tokens: int
    min_chars: int


# The worker process's chunker, built once by `_start_worker`.
_worker: tuple[Chunker, int] | None = None


def worker_count(configured: int | None) -> int:
    return configured if configured is not None else os.cpu_count() or 1


def read_all(
    jobs: Iterable[Job], setup: Setup, count: TokenCounter, workers: int, *, expected: int
) -> Iterator[Outcome]:
    """Each job's outcome, in the jobs' order. The jobs are taken as they are needed (the
    stage sorts its files out meanwhile); `expected`, at least their number, sizes the tasks."""
    jobs = iter(jobs)
    first = list(islice(jobs, 2))  # a pool only for two files or more
    if workers <= 1 or len(first) <= 1:
        chunker = Chunker(count, setup.chunk_tokens, setup.overlap_tokens)
        for job in chain(first, jobs):
            yield read_one(job, chunker, setup.min_chars)
        return
    # Several files per task on a large corpus; fewer on a small one, so every worker still
    # gets some and none is left with a long last task.
    size = max(1, min(FILES_PER_TASK, expected // (workers * MIN_TASKS_PER_WORKER)))
    source = chain(first, jobs)
    tasks = iter(lambda: list(islice(source, size)), [])  # lists of `size`, the last shorter
    # The forked workers share this process's memory until they write to it; a garbage
    # collection in a worker writes to every object it sees, so the objects alive now are moved
    # out of its reach (each worker held ~9 MiB more without this on the benchmark's corpus).
    gc.freeze()
    try:
        yield from _read_in_pool(tasks, setup, workers)
    finally:
        gc.unfreeze()


def _read_in_pool(tasks: Iterator[list[Job]], setup: Setup, workers: int) -> Iterator[Outcome]:
    # The first tasks are made before the pool starts, so it starts no more workers than they
    # can keep busy.
    first = list(islice(tasks, workers * IN_FLIGHT_PER_WORKER))
    with ProcessPoolExecutor(
        max_workers=min(workers, len(first)), initializer=_start_worker, initargs=(setup,)
    ) as pool:
        pending = [(len(task), pool.submit(_work, task)) for task in first]
        queue = tasks
        while pending:
            yield from _results(*pending.pop(0))
            task = next(queue, None)
            if task is not None:
                pending.append((len(task), pool.submit(_work, task)))


def _results(size: int, future: Future[list[Outcome]]) -> list[Outcome]:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # the worker died (out of memory, a crash in a library)
        return [(None, f"cannot be read (the reading process died: {exc})")] * size


def _start_worker(setup: Setup) -> None:
    global _worker
    count = get_token_counter(setup.tokenizer)
    _worker = (Chunker(count, setup.chunk_tokens, setup.overlap_tokens), setup.min_chars)


def _work(task: list[Job]) -> list[Outcome]:
    assert _worker is not None, "worker not started"
    return [read_one(job, *_worker) for job in task]  # only the encoded lines travel back


def read_one(job: Job, chunker: Chunker, min_chars: int) -> Outcome:
    try:
        data = job.path.read_bytes()
    except OSError as exc:
        return None, f"cannot be opened: {exc.strerror or exc}"
    sha = hashlib.sha256(data).hexdigest()
    try:
        return sha, _read_and_chunk(job, data, chunker, min_chars)
    except ReadError as exc:
        return sha, str(exc)
    except Exception as exc:  # a reader bug or a file no reader expected: still one line
        first_line = (str(exc).splitlines() or [""])[0][:200]
        return sha, f"cannot be read ({type(exc).__name__}: {first_line})"


def _read_and_chunk(job: Job, data: bytes, chunker: Chunker, min_chars: int) -> CachedFile:
    docs = read_document(job.path, data, password=job.password)
    if not any(d.text.strip() for d in docs):
        raise ReadError("no text found")
    rows: list[dict[str, Any]] = []
    for doc in docs:
        rows += chunk_rows(
            doc,
            chunker.split(doc),
            path=job.rel + doc.part,
            doc_id=doc.doc_id or document_id(job.rel + doc.part),
            min_chars=min_chars,
        )
    notes = []
    fallback = sorted({p for d in docs for p in d.fallback_pages})
    if fallback:
        notes.append(
            f"page(s) {_ranges(fallback)} read with pdfminer.six: PDFium could not decode their "
            "fonts (no ToUnicode map)"
        )
    if not rows:
        notes.append(f"no chunk reaches ingest.min_chars ({min_chars} characters)")
    is_records = any(d.part for d in docs)
    return CachedFile(
        path=job.rel,
        doc_id=document_id(job.rel),  # its name, so an edit keeps it (the sha256 tells one)
        pages=docs[0].page_count if not is_records else None,
        records=len(docs) if is_records else None,
        chunks=[],  # only their lines are written (chunks.jsonl, the cache): no models
        note="; ".join(notes) or None,
        fallback_pages=fallback,
        lines=[chunk_line(row) for row in rows],  # encoded once: in the worker when there is one
        tokens=sum(row["n_tokens"] for row in rows),
    )


def chunk_line(row: dict[str, Any]) -> str:
    """A chunk's line in chunks.jsonl, as foundation.jsonl.dumps writes its record."""
    # Its strings all ASCII without DEL, asked of them joined: one test instead of four calls.
    joined = f"{row['text']}{row['path']}{row['section'] or ''}{row['doc_id']}"
    if joined.isascii() and "\x7f" not in joined:
        return _ASCII_ENCODER.encode(row)
    return _LINE_ENCODER.encode(row)


def _ranges(pages: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    spans: list[list[int]] = []
    for page in pages:
        if spans and page == spans[-1][1] + 1:
            spans[-1][1] = page
        else:
            spans.append([page, page])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
