"""The example corpus (examples/ibuprofen/documents) ingests with zero errors, and its PDF is
what scripts/build_example_pdf.py builds."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
from collections import Counter
from pathlib import Path

from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk
from doctune.ingest import stage as ingest_stage
from doctune.ingest.pdf import read_pdf

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ROOT / "examples" / "ibuprofen" / "documents"
PDF = DOCUMENTS / "ibuprofen_manufacture_overview.pdf"


def load_builder():
    spec = importlib.util.spec_from_file_location(
        "build_example_pdf", ROOT / "scripts" / "build_example_pdf.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_example_corpus_ingests_with_zero_errors(make_project) -> None:
    ctx = make_project(chunk_tokens=384, overlap_tokens=48)
    shutil.rmtree(ctx.documents_dir)
    shutil.copytree(DOCUMENTS, ctx.documents_dir)
    summary = asyncio.run(ingest_stage.run(ctx)).summary
    assert summary["errors"] == 0 and summary["skipped"] == 0
    assert summary["ok"] == summary["files"] >= 4
    assert summary["pages"] >= 5 and 12 <= summary["records"] <= 20
    chunks = read_jsonl(ctx.out_dir / "ingest" / "chunks.jsonl", Chunk)
    assert 30 <= len(chunks) <= 150
    assert all(c.n_tokens <= 384 for c in chunks)
    per_file = Counter(c.path.split("#")[0] for c in chunks)
    assert set(per_file) == {p.name for p in DOCUMENTS.iterdir()}
    text = "\n".join(c.text for c in chunks)
    # The facts the talk's questions and quizzes are about, with their numbers and units.
    for fact in [
        "1:1.05",
        "30-40 °C",
        "NiCl2·6H2O",
        "40 °C for 12 h",
        "pH 1-2",
        "carbon tetrachloride",
        "77.4 %",
    ]:
        assert fact in text, fact


def test_example_pdf_has_pages_headings_and_text() -> None:
    (doc,) = read_pdf(PDF, PDF.read_bytes())
    assert doc.page_count >= 5
    assert len(doc.text.split()) > 2500
    headings = [doc.text[b.start : b.end] for b in doc.blocks if b.heading]
    assert (
        "2 The Boots Process" in headings
        and "3.3 Step 3: Palladium-catalysed carbonylation" in headings
    )
    assert "Page 3 of" not in doc.text  # running footer dropped


def test_committed_pdf_is_what_the_script_builds(tmp_path: Path) -> None:
    builder = load_builder()
    first = builder.build(tmp_path / "a.pdf")
    second = builder.build(tmp_path / "b.pdf")
    assert first.read_bytes() == second.read_bytes()  # deterministic
    # Same text as the committed file (bytes may differ with another fpdf2 version).
    (built,) = read_pdf(first, first.read_bytes())
    (committed,) = read_pdf(PDF, PDF.read_bytes())
    assert built.text == committed.text
