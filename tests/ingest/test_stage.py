"""The ingest stage end to end: a mixed folder with good and bad files, the report, the chunks,
the per-document cache, the fingerprint, and the errors that stop the stage."""

from __future__ import annotations

import asyncio
import json
import shutil
from itertools import pairwise

import pytest
from ingest_samples import cache_rows, write_docx, write_image_pdf, write_pdf

from doctune.context import RunContext
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk
from doctune.ingest import stage as ingest_stage
from doctune.ingest.chunking import document_id
from doctune.ingest.readers import read_document
from doctune.pipeline import get_stage, run_stage

MD = "# Procedure\n\n" + "\n\n".join(
    f"Step {i}: add {i + 1}.0 g of reagent at {20 + i} °C and stir for {i + 1} h. Then sample."
    for i in range(12)
)
HTML = "<h1>Patent</h1>" + "".join(
    f"<p>[000{i}] Example {i} gives a yield of {80 + i} %.</p>" for i in range(6)
)
CSV = "name,CAS number,boiling point\nIsobutylbenzene,538-93-2,172.8 °C\nBromine,7726-95-6,58.8 °C\nTetrahydrofuran,109-99-9,66 °C\n"
JSONL = '{"name": "Ibuprofen", "melting point": "75-78 °C", "molar mass": "206.28 g/mol"}\n'

EXPECTED_ERRORS = {
    "broken.pdf": "not a readable PDF",
    "empty.pdf": "empty file (0 bytes)",
    "locked.pdf": "encrypted PDF and no password for it in ingest.pdf_passwords",
    "wrongpw.pdf": "encrypted PDF: the password in ingest.pdf_passwords is wrong",
    "scan.pdf": "image-only PDF: 2 page(s) of images and no text layer",
    "notes.rtf": "unsupported format '.rtf'",
    "blank.md": "no text found",
}


def mixed_files() -> dict[str, object]:
    return {
        "notes.pdf": lambda p: write_pdf(p),
        "secret.pdf": lambda p: write_pdf(p, password="s3cret", sections=[("1 Secret", 6)]),
        "locked.pdf": lambda p: write_pdf(p, password="other"),
        "wrongpw.pdf": lambda p: write_pdf(p, password="right"),
        "broken.pdf": b"%PDF-1.7\nnot really a pdf",
        "empty.pdf": b"",
        "scan.pdf": lambda p: write_image_pdf(p),
        "procedure.md": MD,
        "sub/copy-of-procedure.md": MD,
        "patent.html": HTML,
        "report.docx": lambda p: write_docx(p),
        "substances.csv": CSV,
        "db/records.jsonl": JSONL,
        "notes.rtf": "{\\rtf1 hello}",
        ".hidden.md": "# hidden, never read",
        "blank.md": "   \n\n  \n",
        "tiny.txt": "Short.",
        "ignored.bin": b"\x00\x01",
    }


def run(ctx: RunContext):
    return asyncio.run(ingest_stage.run(ctx))


def printed(ctx: RunContext) -> str:
    return ctx.console.file.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def mixed(make_project) -> RunContext:
    return make_project(
        mixed_files(),
        include=[
            "**/*.pdf",
            "**/*.md",
            "**/*.html",
            "**/*.docx",
            "**/*.csv",
            "**/*.jsonl",
            "*.rtf",
            "*.txt",
        ],
        pdf_passwords={"secret.pdf": "s3cret", "wrong*.pdf": "not-right"},
    )


def test_mixed_folder_report_and_one_line_per_bad_file(mixed: RunContext) -> None:
    result = run(mixed)
    out = mixed.out_dir / "ingest"
    report = json.loads((out / "report.json").read_text())
    files = {f["path"]: f for f in report["files"]}
    assert list(files) == sorted(files)  # deterministic order
    assert ".hidden.md" not in files and "ignored.bin" not in files
    for name, reason in EXPECTED_ERRORS.items():
        assert files[name]["status"] == "error"
        assert reason in files[name]["reason"]
        lines = [ln for ln in printed(mixed).splitlines() if name in ln]
        assert len(lines) == 1 and reason in lines[0], lines
    assert files["sub/copy-of-procedure.md"]["status"] == "skipped"
    assert files["sub/copy-of-procedure.md"]["reason"] == "same content as procedure.md"
    ok = {p for p, f in files.items() if f["status"] == "ok"}
    assert ok == {
        "notes.pdf",
        "secret.pdf",
        "procedure.md",
        "patent.html",
        "report.docx",
        "substances.csv",
        "db/records.jsonl",
        "tiny.txt",
    }
    # Read, but too short for a chunk: ok, and the reason is said.
    assert files["tiny.txt"]["chunks"] == 0
    assert "no chunk reaches ingest.min_chars (40 characters)" in files["tiny.txt"]["reason"]
    assert files["notes.pdf"]["pages"] >= 3 and files["substances.csv"]["records"] == 3
    summary = report["summary"]
    assert (summary["files"], summary["ok"], summary["errors"], summary["skipped"]) == (16, 8, 7, 1)
    assert summary == result.summary
    assert {a.kind for a in result.artifacts} == {"chunks", "stats"}


def test_chunks_point_into_their_documents(mixed: RunContext) -> None:
    run(mixed)
    chunks = read_jsonl(mixed.out_dir / "ingest" / "chunks.jsonl", Chunk)
    limit = mixed.config.ingest.chunk_tokens
    assert len({c.id for c in chunks}) == len(chunks)
    docs_dir = mixed.documents_dir
    by_path: dict[str, str] = {}
    for file in ["notes.pdf", "procedure.md", "patent.html", "report.docx", "substances.csv"]:
        data = (docs_dir / file).read_bytes()
        password = "s3cret" if file == "secret.pdf" else None
        for doc in read_document(docs_dir / file, data, password=password):
            by_path[file + doc.part] = doc.text
    for chunk in chunks:
        assert chunk.n_tokens <= limit and len(chunk.text) >= mixed.config.ingest.min_chars
        if chunk.path in by_path:
            assert chunk.text == by_path[chunk.path][chunk.start : chunk.end]
    pdf = [c for c in chunks if c.path == "notes.pdf"]
    assert pdf[0].doc_id == document_id("notes.pdf")
    assert [c.index for c in pdf] == list(range(len(pdf)))
    assert pdf[0].pages == [1] and pdf[-1].pages[-1] >= 3
    assert {c.section.split(" > ")[-1] for c in pdf} >= {
        "1 Bromination",
        "2 Coupling",
        "2.1 Work-up",
    }
    # Consecutive chunks of one section overlap; no chunk mixes sections.
    assert any(b.start < a.end for a, b in pairwise(pdf) if a.section == b.section)
    secret = [c for c in chunks if c.path == "secret.pdf"]
    assert secret and "Secret" in secret[0].text
    records = [c for c in chunks if c.path.startswith("substances.csv#")]
    assert [c.path for c in records] == ["substances.csv#1", "substances.csv#2", "substances.csv#3"]
    assert records[1].text.startswith("name: Bromine\nCAS number: 7726-95-6")
    assert records[1].section == "Bromine" and len({c.doc_id for c in records}) == 3
    assert [c.path for c in chunks if c.path.startswith("db/")] == ["db/records.jsonl#1"]


def read_again(ctx: RunContext) -> list[str]:
    """Run the stage; the files it read (not taken from the cache)."""
    run(ctx)
    report = json.loads((ctx.out_dir / "ingest" / "report.json").read_text())
    return sorted(f["path"] for f in report["files"] if f["status"] == "ok" and not f["cached"])


def test_unchanged_documents_are_not_read_again(make_project) -> None:
    ctx = make_project({"a.md": MD, "b.html": HTML, "c.pdf": lambda p: write_pdf(p)})
    assert read_again(ctx) == ["a.md", "b.html", "c.pdf"]
    first = (ctx.out_dir / "ingest" / "chunks.jsonl").read_text()

    assert read_again(ctx) == []  # nothing read: every document came from the cache
    assert (ctx.out_dir / "ingest" / "chunks.jsonl").read_text() == first

    (ctx.documents_dir / "b.html").write_text(
        HTML + "<p>One more paragraph about 99 % atom economy.</p>"
    )
    (ctx.documents_dir / "a.md").rename(ctx.documents_dir / "renamed.md")
    assert read_again(ctx) == ["b.html"]  # the renamed file has the same bytes: reused, moved
    chunks = read_jsonl(ctx.out_dir / "ingest" / "chunks.jsonl", Chunk)
    assert {c.path for c in chunks} == {"renamed.md", "b.html", "c.pdf"}
    assert cache_rows(ctx.out_dir / "ingest" / "cache") == 3  # old entries pruned

    ctx.config.ingest.chunk_tokens = 200  # another chunk size: every document is chunked again
    assert read_again(ctx) == ["b.html", "c.pdf", "renamed.md"]


def test_fingerprint_follows_the_documents(make_project) -> None:
    ctx = make_project({"a.md": MD, "b.csv": CSV})
    fp = ingest_stage.documents_fingerprint
    first = fp(ctx)
    assert fp(ctx) == first
    (ctx.documents_dir / "a.md").write_text(MD + "\n\nMore.")
    second = fp(ctx)
    assert second != first
    (ctx.documents_dir / "c.txt").write_text("A new document.")
    assert fp(ctx) != second


def test_pipeline_skips_ingest_when_nothing_changed(make_project) -> None:
    ctx = make_project({"a.md": MD, "b.csv": CSV})
    stage = get_stage("ingest")
    assert asyncio.run(run_stage(ctx, stage)) is not None
    assert asyncio.run(run_stage(ctx, stage)) is None  # up to date
    artifact = ctx.manifest.one("chunks", stage="ingest")
    assert artifact.records == len(read_jsonl(ctx.path(artifact), Chunk)) > 0
    (ctx.documents_dir / "a.md").write_text(MD + "\n\nAn added paragraph that changes the file.")
    assert asyncio.run(run_stage(ctx, stage)) is not None


def test_failed_files_are_retried_each_run(make_project) -> None:
    ctx = make_project({"a.md": MD, "locked.pdf": lambda p: write_pdf(p, password="pw")})
    stage = get_stage("ingest")
    asyncio.run(run_stage(ctx, stage))
    # The password is fixed in the config: a secret's value is in no hash, yet the file is
    # read again because the last run left it in error.
    ctx.config.ingest.pdf_passwords = {"locked.pdf": "pw"}  # type: ignore[dict-item]
    ctx.config.ingest = ctx.config.ingest.model_validate(ctx.config.ingest.model_dump())
    assert asyncio.run(run_stage(ctx, stage)) is not None
    report = json.loads((ctx.out_dir / "ingest" / "report.json").read_text())
    assert report["summary"]["errors"] == 0
    # One more pass settles the fingerprint (all from the cache), then the stage is up to date.
    settle = asyncio.run(run_stage(ctx, stage))
    assert settle is None or settle.summary["reused"] == 2
    assert asyncio.run(run_stage(ctx, stage)) is None


def test_no_documents_is_one_line_input_error(make_project) -> None:
    ctx = make_project({"notes.bin": b"\x00"})
    with pytest.raises(
        InputError, match=r"documents: no documents \(looked for \*\*/\*\.pdf"
    ) as err:
        run(ctx)
    assert "\n" not in str(err.value)
    shutil.rmtree(ctx.documents_dir)
    with pytest.raises(InputError, match="documents folder not found"):
        run(ctx)


def test_include_exclude_and_passwords_by_glob(make_project) -> None:
    ctx = make_project(
        {"keep/a.md": MD, "drafts/b.md": MD + " draft", "c.txt": "Plain text document here."},
        include=["**/*.md", "*.txt"],
        exclude=["drafts/**"],
        pdf_passwords={"keep/*.pdf": "one", "x.pdf": "two"},
    )
    listed = [rel for rel, _ in ingest_stage.list_documents(ctx.documents_dir, ctx.config.ingest)]
    assert listed == ["c.txt", "keep/a.md"]
    cfg = ctx.config.ingest
    assert ingest_stage.pdf_password(cfg, "keep/secret.pdf") == "one"
    assert ingest_stage.pdf_password(cfg, "deep/x.pdf") == "two"
    assert ingest_stage.pdf_password(cfg, "other.pdf") is None


def test_report_never_contains_a_password(mixed: RunContext) -> None:
    run(mixed)
    for path in (mixed.out_dir / "ingest").rglob("*"):
        if path.is_file():
            assert b"s3cret" not in path.read_bytes()
    assert "s3cret" not in printed(mixed)


def test_workers_give_the_same_chunks_and_report_in_document_order(mixed: RunContext) -> None:
    """Two reading processes or none: the same files, byte for byte, and the same lines said."""
    out = mixed.out_dir / "ingest"
    results = []
    for workers in (1, 2):
        shutil.rmtree(mixed.out_dir, ignore_errors=True)  # no cache: every file is read
        mixed.config.ingest.workers = workers
        mixed.console.file.seek(0)  # type: ignore[attr-defined]
        mixed.console.file.truncate()  # type: ignore[attr-defined]
        run(mixed)
        results.append(
            (
                (out / "chunks.jsonl").read_bytes(),
                (out / "report.json").read_bytes(),
                printed(mixed),
            )
        )
    assert results[0] == results[1]
    assert "ingest: broken.pdf: not a readable PDF" in results[1][2]


def test_a_rerun_reads_the_edited_files_only_and_reports_in_document_order(
    make_project, tmp_path
) -> None:
    """Files are sorted out (hashed, looked up in the cache) as the readers take them: cached,
    copied, empty and edited files interleaved, the last one cached, with one reader or two,
    give what a fresh run gives, in the documents' order."""
    files = {f"n{i:02d}.md": f"# Note {i}\n\n" + f"Line {i} of the notes. " * 30 for i in range(12)}
    files |= {"copy.md": files["n03.md"], "empty.md": ""}
    ctx = make_project(files)

    def ingest(out: str, workers: int) -> tuple[dict, bytes]:
        run_ctx = RunContext(ctx.project_dir, out_dir=tmp_path / out, show_progress=False)
        run_ctx.config.ingest.workers = workers
        summary = asyncio.run(ingest_stage.run(run_ctx)).summary
        folder = tmp_path / out / "ingest"
        return (
            summary | json.loads((folder / "report.json").read_text()),
            (folder / "chunks.jsonl").read_bytes(),
        )

    for workers in (1, 2):
        ingest(f"out{workers}", workers)
    for name in ("n02.md", "n07.md"):
        (ctx.documents_dir / name).write_text(files[name] + " Edited.", encoding="utf-8")
    fresh, fresh_chunks = ingest("fresh", 1)
    for workers in (1, 2):
        again, chunks = ingest(f"out{workers}", workers)
        assert chunks == fresh_chunks
        assert again["reused"] == 10  # copy.md (n03's bytes) and 9 other notes
        read = [f["path"] for f in again["files"] if f["status"] == "ok" and not f["cached"]]
        assert read == ["n02.md", "n07.md"]
        drop = ("cached",)
        assert [{k: v for k, v in f.items() if k not in drop} for f in again["files"]] == [
            {k: v for k, v in f.items() if k not in drop} for f in fresh["files"]
        ]
        assert [f["path"] for f in again["files"]] == sorted(files)
        assert again["files"][-1]["cached"]  # the last file needed no reading


@pytest.mark.parametrize("failing", [False, True])
def test_one_reader_and_this_process_assembling_give_the_in_process_output(
    mixed: RunContext, monkeypatch, failing: bool
) -> None:
    """With one reading process, the PDFs' pages come back and this process assembles them:
    the same chunks, report and lines said as reading every file here, a PDF that fails to
    assemble included (one line, as any reader's failure)."""
    from doctune.ingest import pdf, reading

    calls = {"assemble": 0, "read_pages": 0}  # counted in this process only

    def counted(name: str, function):
        def call(*args, **kwargs):
            calls[name] += 1
            if failing and name == "assemble":
                raise ValueError("no layout\nsecond line")
            return function(*args, **kwargs)

        return call

    for name in calls:
        monkeypatch.setattr(pdf, name, counted(name, getattr(pdf, name)))
    mixed.config.ingest.workers = 1
    out = mixed.out_dir / "ingest"
    results, seen = [], []
    for least in (10**6, 2):  # every file read here; then by the reading process
        monkeypatch.setattr(reading, "PIPELINE_MIN_FILES", least)
        shutil.rmtree(mixed.out_dir, ignore_errors=True)
        mixed.console.file.seek(0)  # type: ignore[attr-defined]
        mixed.console.file.truncate()  # type: ignore[attr-defined]
        run(mixed)
        results.append([(out / n).read_bytes() for n in ("chunks.jsonl", "report.json")])
        results[-1].append(printed(mixed))
        seen.append(dict(calls))
        calls.update(dict.fromkeys(calls, 0))
    assert results[0] == results[1]
    readable = 2  # notes.pdf, secret.pdf: assembled, here or from the pages sent back
    assert seen[0]["read_pages"] >= readable and seen[0]["assemble"] == readable
    assert seen[1] == {"assemble": readable, "read_pages": 0}  # pages read by the other process
    if failing:
        assert "ingest: notes.pdf: cannot be read (ValueError: no layout)" in results[1][2]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_reading_process_that_dies_leaves_one_line_per_file_it_took(
    make_project, monkeypatch, workers: int
) -> None:
    """A reader killed by the file it reads (a crash inside a library): the stage still ends,
    the files read before are ok, that file and the ones after it say why (the pool is gone)."""
    import os

    from doctune.ingest import pdf, reading

    real = pdf.read_pages

    def crashing(data: bytes, password: str | None = None):
        if b"%% crash" in data:
            os._exit(3)  # the reading process dies, as a crash in PDFium would end it
        return real(data, password)

    monkeypatch.setattr(pdf, "read_pages", crashing)  # the forked readers inherit it
    monkeypatch.setattr(reading, "PIPELINE_MIN_FILES", 2)
    good = write_pdf(make_project().documents_dir / "tmp.pdf", sections=[("1 One", 3)])
    data = good.read_bytes()
    good.unlink()
    files = {f"d{i:02d}.pdf": data + b"%% copy %d\n" % i for i in range(40)}
    files["d05.pdf"] += b"%% crash\n"
    ctx = make_project(files, workers=workers)
    run(ctx)
    report = json.loads((ctx.out_dir / "ingest" / "report.json").read_text())
    status = {f["path"]: (f["status"], f["reason"] or "") for f in report["files"]}
    for name in ("d05.pdf", "d39.pdf"):  # the crash, and a file queued long after it
        assert status[name][0] == "error" and "the reading process died" in status[name][1]
    if workers == 1:
        assert status["d00.pdf"] == ("ok", "")  # its task was done before the crash
    assert "ingest: d05.pdf: cannot be read (the reading process died" in printed(ctx)
