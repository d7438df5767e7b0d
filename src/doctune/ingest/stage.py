"""The ingest stage: documents/ -> out/ingest/chunks.jsonl (kind "chunks") and report.json
(kind "stats", one entry per file: ok / error / skipped, the reason, pages, chunks, doc id).

A file that cannot be read gets one line naming it and why, in the report and on the console,
and the rest goes on. Files are processed in sorted order, so the chunk order is deterministic.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctune.context import RunContext
from doctune.foundation.codehash import code_version
from doctune.foundation.config import IngestConfig
from doctune.foundation.display import console_text
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.jsonl import FILE_MODE, dumps, read_json, write_json
from doctune.foundation.manifest import file_sha256, fingerprint
from doctune.foundation.records import Chunk
from doctune.foundation.results import StageResult
from doctune.ingest.cache import CachedFile, DocumentCache
from doctune.ingest.chunking import Chunker
from doctune.ingest.listing import list_documents, scan_documents
from doctune.ingest.reading import Job, Outcome, Setup, read_all, worker_count

__all__ = ["documents_fingerprint", "list_documents", "pdf_password", "run", "scan_documents"]
from doctune.models.tokens import (
    TokenCounter,
    estimate_tokens,
    get_token_counter,
    tokenizer_for_spec,
)

STAGE = "ingest"
CHUNKS_NAME = "chunks.jsonl"
REPORT_NAME = "report.json"
ESTIMATE_LABEL = "estimate (~4 characters per token)"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class FileReport:
    path: str
    status: str  # ok | error | skipped
    reason: str | None = None
    doc_id: str | None = None
    sha256: str | None = None  # of the file's bytes: what tells an edit (the cache's key too)
    pages: int | None = None
    records: int | None = None
    chunks: int = 0
    cached: bool = False
    fallback_pages: list[int] = field(default_factory=list)  # read by pdfminer.six, not PDFium
    # The chunks to write: records, or lines already encoded (then `item_tokens` is their total).
    items: list[Chunk] | list[str] = field(default_factory=list, repr=False)
    item_tokens: int = field(default=0, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("items", "item_tokens")}


async def run(ctx: RunContext) -> StageResult:
    cfg = ctx.config.ingest
    files, problems = scan_documents(ctx.documents_dir, cfg)
    tokenizer, count = _token_counter(ctx)
    Chunker(count, cfg.chunk_tokens, cfg.overlap_tokens)  # a bad size fails here, not in a worker
    out = ctx.stage_dir(STAGE)
    cache = DocumentCache(out / "cache", _cache_key(cfg, tokenizer))
    reports = [FileReport(rel, "skipped", why) for rel, why in problems]
    setup = Setup(tokenizer, cfg.chunk_tokens, cfg.overlap_tokens, cfg.min_chars)
    with (
        ctx.progress("ingest: reading documents", len(files)) as tick,
        _ChunkWriter(out / CHUNKS_NAME) as chunks,
    ):
        # The files are hashed and looked up in the cache as the readers take them, so a pool's
        # workers start reading while the rest of the corpus is still being sorted out.
        order: deque[FileReport | Job] = deque()  # sorted out, in the documents' order

        def jobs() -> Iterator[Job]:
            for item in _sort_out(ctx, files, cache, tick.advance):
                order.append(item)
                if isinstance(item, Job):
                    yield item

        workers = worker_count(cfg.workers)
        outcomes = read_all(jobs(), setup, count, workers, expected=len(files))
        for report in _in_order(order, outcomes, cache, tick.advance):
            chunks.add(report.items, report.item_tokens)
            report.items = []  # written: not held while the rest of the corpus is read
            reports.append(report)
    for report in reports:
        _log_file(ctx, report)
    cache.prune()

    summary = _summary(reports, chunks.count, chunks.tokens, tokenizer)
    write_json(
        out / REPORT_NAME,
        {
            "documents": ctx.config.documents,  # as configured: the report does not move
            "chunk_tokens": cfg.chunk_tokens,
            "overlap_tokens": cfg.overlap_tokens,
            "summary": summary,
            "files": [r.as_dict() for r in reports],
        },
    )
    if not chunks.count:
        # Every later stage would fail on nothing, after paying for nothing: stop here (exit 3).
        raise InputError(_no_chunks_line(ctx.documents_dir, reports))
    artifacts = [
        ctx.manifest.artifact(STAGE, "chunks", out / CHUNKS_NAME, records=chunks.count),
        ctx.manifest.artifact(STAGE, "stats", out / REPORT_NAME),
    ]
    return StageResult(artifacts=artifacts, summary=summary)


class _ChunkWriter:
    """chunks.jsonl written file by file as the documents come, so the stage never holds every
    chunk of the corpus; through a temp file renamed at the end, so readers never see half."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        self.file = os.fdopen(fd, "w", encoding="utf-8")
        self.count = self.tokens = 0

    def add(self, chunks: list[Chunk] | list[str], tokens: int = 0) -> None:
        """Chunk records, or their lines already encoded and their token total."""
        for chunk in chunks:
            if isinstance(chunk, str):
                self.file.write(chunk + "\n")
            else:
                self.file.write(dumps(chunk) + "\n")
                self.tokens += chunk.n_tokens
        self.tokens += tokens
        self.count += len(chunks)

    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:
                self.file.flush()
                os.fsync(self.file.fileno())
        finally:
            self.file.close()
        if kind is None:
            os.chmod(self.tmp, FILE_MODE)
            os.replace(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)


def _log_file(ctx: RunContext, report: FileReport) -> None:
    if report.status != "ok" or report.reason:
        # File names may carry newlines or escape sequences: printed as escapes, never raw.
        what = console_text(report.reason or report.status)
        ctx.log(f"ingest: {console_text(report.path)}: {what}")


def _no_chunks_line(documents_dir: Path, reports: list[FileReport], shown: int = 10) -> str:
    reasons = [f"{r.path}: {r.reason or r.status}" for r in reports]
    more = f"; and {len(reasons) - shown} more" if len(reasons) > shown else ""
    return (
        f"{documents_dir}: 0 chunks from {len(reports)} file(s), nothing to build on: "
        + "; ".join(reasons[:shown])
        + more
        + " (details: ingest/report.json in the output folder)"
    )


def _sort_out(
    ctx: RunContext,
    files: list[tuple[str, Path]],
    cache: DocumentCache,
    advance: Callable[[], None],
) -> Iterator[FileReport | Job]:
    """In the documents' order: the report of a file that needs no reading (cached, empty, a
    copy of another), else the job that reads it."""
    first_seen: dict[str, str] = {}  # sha256 -> path, to skip a second copy of a file
    for rel, path in files:
        try:
            sha = file_sha256(path)
        except OSError as exc:
            report = FileReport(rel, "error", f"cannot be opened: {exc.strerror or exc}")
        else:
            if sha == EMPTY_SHA256:
                report = FileReport(rel, "error", "empty file (0 bytes)")
            elif sha in first_seen:
                report = FileReport(rel, "skipped", f"same content as {first_seen[sha]}")
            else:
                first_seen[sha] = rel
                entry = cache.load(sha, rel)
                if entry is None:
                    yield Job(rel, path, pdf_password(ctx.config.ingest, rel))
                    continue
                report = _ok_report(entry, sha, cached=True)
        advance()
        yield report


def _in_order(
    order: deque[FileReport | Job],
    outcomes: Iterator[Outcome],
    cache: DocumentCache,
    advance: Callable[[], None],
) -> Iterator[FileReport]:
    """Every file's report in the documents' order: those `order` has, a job's from its outcome.
    The outcomes come in the jobs' order; asking for one makes the readers take more jobs,
    which adds to `order` the files sorted out on the way."""
    ahead: deque[Outcome] = deque()  # outcomes of jobs still behind other files in `order`
    while True:
        if not order:
            outcome = next(outcomes, None)
            if outcome is not None:
                ahead.append(outcome)  # its job, and maybe files before it, are in `order` now
            elif not order:
                return  # every file sorted out and read
            continue
        item = order.popleft()
        if isinstance(item, FileReport):
            yield item
            continue
        sha, entry = ahead.popleft() if ahead else next(outcomes)
        advance()
        yield _read_report(item.rel, sha, entry, cache)


def _read_report(
    rel: str, sha: str | None, entry: CachedFile | str, cache: DocumentCache
) -> FileReport:
    if isinstance(entry, str):
        return FileReport(rel, "error", entry)
    assert sha is not None
    cache.save(sha, entry)  # under the hash of the bytes read, if the file changed meanwhile
    return _ok_report(entry, sha, cached=False)


def _ok_report(entry: CachedFile, sha: str, *, cached: bool) -> FileReport:
    return FileReport(
        entry.path,
        "ok",
        entry.note,
        doc_id=entry.doc_id,
        sha256=sha,
        pages=entry.pages,
        records=entry.records,
        chunks=entry.count,
        cached=cached,
        fallback_pages=entry.fallback_pages,
        items=entry.lines if entry.lines is not None else entry.chunks,
        item_tokens=entry.tokens if entry.lines is not None else 0,
    )


def _summary(reports: list[FileReport], chunks: int, tokens: int, tokenizer: str | None) -> dict:
    def count(status: str) -> int:
        return sum(1 for r in reports if r.status == status)

    return {
        "files": len(reports),
        "ok": count("ok"),
        "errors": count("error"),
        "skipped": count("skipped"),
        "reused": sum(1 for r in reports if r.cached),
        "pages": sum(r.pages or 0 for r in reports if r.status == "ok"),
        "records": sum(r.records or 0 for r in reports if r.status == "ok"),
        "chunks": chunks,
        "tokens": tokens,
        "tokenizer": tokenizer or ESTIMATE_LABEL,
    }


# -- documents ----------------------------------------------------------------------------------
def pdf_password(cfg: IngestConfig, rel: str) -> str | None:
    """The password configured for a file: by relative path, by name, then by glob."""
    name = rel.rsplit("/", 1)[-1]
    for key in (rel, name):
        if key in cfg.pdf_passwords:
            return cfg.pdf_passwords[key].get_secret_value()
    for pattern, secret in cfg.pdf_passwords.items():
        if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern):
            return secret.get_secret_value()
    return None


def documents_fingerprint(ctx: RunContext) -> str:
    """Hash of the document list (relative paths + sha256) and of what else decides the chunks
    outside the ingest config section: the tokenizer taken from the teacher, which files have a
    password (names only; a password never goes into a hash that is written down)."""
    cfg = ctx.config.ingest
    files = [(rel, file_sha256(path)) for rel, path in list_documents(ctx.documents_dir, cfg)]
    return fingerprint(
        files=files,
        tokenizer=_tokenizer_name(ctx),
        passwords=sorted(cfg.pdf_passwords),
        retry=_retry_token(ctx),
    )


def _retry_token(ctx: RunContext) -> int | None:
    """A run that left files in error is never up to date: the fix (a corrected password, an
    installed font...) may not show in any hash, so the failed files are tried again each run.
    The files that did succeed come from the cache, so the retry costs little."""
    report = ctx.out_dir / STAGE / REPORT_NAME
    if not report.is_file():
        return None
    try:
        data = read_json(report)
        errors = data["summary"]["errors"]  # type: ignore[index]
    except (InputError, KeyError, TypeError):
        return None
    return time.time_ns() if errors else None


# -- tokens -------------------------------------------------------------------------------------
def _tokenizer_name(ctx: RunContext) -> str | None:
    try:
        return ctx.config.ingest.tokenizer or tokenizer_for_spec(ctx.spec("teacher"))
    except ConfigError:
        return None


def _token_counter(ctx: RunContext) -> tuple[str | None, TokenCounter]:
    """The counter named by ingest.tokenizer, else the teacher's; the estimate when neither
    exists. A teacher's tokenizer that cannot be loaded (offline, say) falls back to the
    estimate with a note, while an explicitly configured one is an error."""
    name = _tokenizer_name(ctx)
    if name is None:
        return None, estimate_tokens
    try:
        return name, get_token_counter(name)
    except ConfigError as exc:
        if ctx.config.ingest.tokenizer:
            raise
        ctx.log(f"ingest: {console_text(str(exc))}; counting tokens with the {ESTIMATE_LABEL}")
        return None, estimate_tokens


def _cache_key(cfg: IngestConfig, tokenizer: str | None) -> str:
    return fingerprint(
        chunk_tokens=cfg.chunk_tokens,
        overlap_tokens=cfg.overlap_tokens,
        min_chars=cfg.min_chars,
        tokenizer=tokenizer,
        # What turns one file into chunks and stores them (not the stage's listing or logging).
        code=code_version(
            "doctune.ingest.reading", "doctune.ingest.chunking", "doctune.ingest.cache"
        ),
    )
