"""Reading and chunking the documents that are not in the cache, on every core.

Each file is read in a worker process (`ingest.workers` of them). With two or more, a worker
reads and chunks its files and sends back each chunk already encoded as its JSON line, so the
stage itself does little per page. With one, this process would sit idle while it reads: the
reader sends back a PDF's pages (its lines as columns: the PDFium part) or another file's
documents, and this process assembles and chunks them while the reader reads the next files.
A corpus of fewer than `PIPELINE_MIN_FILES` is read here. The results
come back in the documents' order, never in the order the workers finish, so the chunks file
is the same whatever the number of workers. Only a few files are in flight at a time, so
memory does not grow with the corpus."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from doctune.ingest.cache import CachedFile
from doctune.ingest.chunking import Chunker, chunk_rows, document_id
from doctune.ingest.document import Extracted, ReadError
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


# With one reading process, the least number of files for which it starts: fewer are read in
# this process (the benchmark's 3-page PDFs: 8 files 0.026 s here, 0.032 s with the reader's
# start; even at 16, 0.049 vs 0.051; 64: 0.190 vs 0.177; longer documents pay sooner).
PIPELINE_MIN_FILES = 16
PARENT_CHECK_S = 0.25  # how often a reading process looks whether the stage's process is there
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
    # A pool only for two files or more; with one reading process, only for enough of them to
    # pay for its start (the pipeline below).
    first = list(islice(jobs, PIPELINE_MIN_FILES if workers <= 1 else 2))
    if len(first) <= 1 or (workers <= 1 and len(first) < PIPELINE_MIN_FILES):
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
        if workers > 1:
            yield from _read_in_pool(tasks, setup, workers, _work)
            return
        # One reading process: it sends a PDF's pages, another file's documents back, and this
        # process, whose core would be idle, assembles and chunks them while the reader reads
        # the next files.
        chunker = Chunker(count, setup.chunk_tokens, setup.overlap_tokens)
        for job, (sha, got) in _read_in_pool(tasks, setup, 1, _work_pages):
            if not isinstance(got, str):
                finish = _assembled if _is_pdf(job) else _chunked
                got = _attempt(finish, job, got, chunker, setup.min_chars)
            yield sha, got
    finally:
        gc.unfreeze()


def _read_in_pool(
    tasks: Iterator[list[Job]],
    setup: Setup,
    workers: int,
    work: Callable[[list[Job]], list[Any]],
) -> Iterator[Any]:
    """`work`'s results of every task, in the tasks' order (with its job for `_work_pages`)."""
    # The first tasks are made before the pool starts, so it starts no more workers than they
    # can keep busy.
    first = list(islice(tasks, workers * IN_FLIGHT_PER_WORKER))
    with ProcessPoolExecutor(
        max_workers=min(workers, len(first)),
        initializer=_start_worker,
        initargs=(setup, os.getpid()),
    ) as pool:
        pending = [(task, _submit(pool, work, task)) for task in first]
        queue = tasks
        while pending:
            task, future = pending.pop(0)
            # The next task is queued before this one's results are used, so the readers
            # never wait for this process.
            following = next(queue, None)
            if following is not None:
                pending.append((following, _submit(pool, work, following)))
            outcomes = _results(len(task), future)
            yield from zip(task, outcomes, strict=True) if work is _work_pages else outcomes


def _submit(pool: ProcessPoolExecutor, work: Callable, task: list[Job]) -> Future[list[Any]]:
    try:
        return pool.submit(work, task)
    except BrokenProcessPool as exc:  # a worker died: the pool takes no more tasks
        failed: Future[list[Any]] = Future()
        failed.set_exception(exc)
        return failed


def _results(size: int, future: Future[list[Any]]) -> list[Any]:
    try:
        return future.result()
    except BrokenProcessPool as exc:  # the worker died (out of memory, a crash in a library)
        return [(None, f"cannot be read (the reading process died: {exc})")] * size


def _start_worker(setup: Setup, parent: int) -> None:
    global _worker
    _end_with(parent)
    count = get_token_counter(setup.tokenizer)
    _worker = (Chunker(count, setup.chunk_tokens, setup.overlap_tokens), setup.min_chars)


def _end_with(parent: int) -> None:
    """A reading process ends when the stage's process is gone, even killed (SIGKILL leaves it
    no time to stop its pool, and a worker would wait for tasks forever): a thread of the
    worker looks for its parent a few times a second."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="doctune-parent-watch", daemon=True).start()


def _work(task: list[Job]) -> list[Outcome]:
    assert _worker is not None, "worker not started"
    return [read_one(job, *_worker) for job in task]  # only the encoded lines travel back


def _work_pages(task: list[Job]) -> list[tuple[str | None, Any]]:
    """A task of the one reading process, for this process to finish: a PDF's pages (PdfPages:
    its lines as columns, to assemble and chunk), any other file's documents (to chunk)."""
    return [_read(job, _pdf_pages if _is_pdf(job) else _documents) for job in task]


def _documents(job: Job, data: bytes) -> list[Extracted]:
    return read_document(job.path, data, password=job.password)


def _is_pdf(job: Job) -> bool:
    return job.path.suffix.lower() == ".pdf"  # as read_document tells a PDF


def read_one(job: Job, chunker: Chunker, min_chars: int) -> Outcome:
    return _read(job, _read_and_chunk, chunker, min_chars)


def _read(job: Job, read: Callable[..., Any], *args: Any) -> tuple[str | None, Any]:
    """The sha256 of the file's bytes and what `read(job, data, *args)` makes of them, or the
    one-line reason it could not."""
    try:
        data = job.path.read_bytes()
    except OSError as exc:
        return None, f"cannot be opened: {exc.strerror or exc}"
    return hashlib.sha256(data).hexdigest(), _attempt(read, job, data, *args)


def _attempt(read: Callable[..., Any], *args: Any) -> Any:
    try:
        return read(*args)
    except ReadError as exc:
        return str(exc)
    except Exception as exc:  # a reader bug or a file no reader expected: still one line
        first_line = (str(exc).splitlines() or [""])[0][:200]
        return f"cannot be read ({type(exc).__name__}: {first_line})"


def _pdf_pages(job: Job, data: bytes) -> Any:
    from doctune.ingest.pdf import read_pages

    return read_pages(data, job.password)


def _assembled(job: Job, pages: Any, chunker: Chunker, min_chars: int) -> CachedFile:
    from doctune.ingest.pdf import assemble

    return _chunked(job, assemble(pages), chunker, min_chars)


def _read_and_chunk(job: Job, data: bytes, chunker: Chunker, min_chars: int) -> CachedFile:
    return _chunked(job, _documents(job, data), chunker, min_chars)


def _chunked(job: Job, docs: list[Extracted], chunker: Chunker, min_chars: int) -> CachedFile:
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
