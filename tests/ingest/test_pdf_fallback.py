"""Pages PDFium cannot decode (a CID font without a ToUnicode map, as in many Japanese PDFs) are
read through pdfminer.six, and the ingest report names those pages. The fixture PDF is written
by hand (`cid_pdf.py`): an embedded TrueType subset, Identity-H, no /ToUnicode."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from cid_pdf import write_cid_pdf

from doctune.ingest import stage as ingest_stage
from doctune.ingest.document import ReadError
from doctune.ingest.pdf import read_pdf

CID_PAGE = [
    "Ibuprofen is made from isobutylbenzene in three steps.",
    "The α-methyl acid crystallises from hexane at 5 °C.",
]
CID_PAGE_2 = [
    "Hydrogenation of the ketone runs over palladium on carbon.",
    "Carbonylation then gives the acid in 92 % yield.",
]
PLAIN_PAGE = ["The plain page of the document is read by PDFium itself."]


def read(path: Path):
    docs = read_pdf(path, path.read_bytes())
    assert len(docs) == 1
    return docs[0]


def test_the_fixture_defeats_pdfium(tmp_path: Path) -> None:
    path = write_cid_pdf(tmp_path / "cid.pdf", [CID_PAGE])
    assert b"/ToUnicode" not in path.read_bytes() and b"/Identity-H" in path.read_bytes()
    pdf = pdfium.PdfDocument(path.read_bytes())
    text = pdf[0].get_textpage().get_text_range()
    assert "Ibuprofen" not in text and "isobutyl" not in text  # glyph ids, not characters


def test_pdfminer_reads_the_pages_pdfium_cannot(tmp_path: Path) -> None:
    path = write_cid_pdf(tmp_path / "mixed.pdf", [CID_PAGE, CID_PAGE_2], [PLAIN_PAGE])
    doc = read(path)
    assert doc.page_count == 3 and doc.fallback_pages == [2, 3]
    for line in (*CID_PAGE, *CID_PAGE_2, *PLAIN_PAGE):
        assert line in doc.text
    # Pages stay where they are: the recovered text is on its own page.
    start = doc.text.index("Ibuprofen is made")
    assert doc.pages_between(start, start + 10) == [2]
    plain = read(write_cid_pdf(tmp_path / "plain.pdf", [], [PLAIN_PAGE]))
    assert plain.fallback_pages == []


def test_the_ingest_report_names_the_fallback_pages(make_project) -> None:
    ctx = make_project(
        {"japanese.pdf": lambda p: write_cid_pdf(p, [CID_PAGE, CID_PAGE_2], [PLAIN_PAGE])}
    )
    result = asyncio.run(ingest_stage.run(ctx))
    assert result.summary["chunks"] > 0
    report = json.loads((ctx.out_dir / "ingest" / "report.json").read_text())
    (entry,) = report["files"]
    assert entry["status"] == "ok" and entry["fallback_pages"] == [2, 3]
    assert "page(s) 2-3 read with pdfminer.six" in entry["reason"]
    assert "page(s) 2-3 read with pdfminer.six" in ctx.console.file.getvalue()  # type: ignore[attr-defined]
    chunks = (ctx.out_dir / "ingest" / "chunks.jsonl").read_text(encoding="utf-8")
    assert "α-methyl acid" in chunks


def test_a_japanese_page_without_tounicode_is_recovered(tmp_path: Path) -> None:
    lines = ["イブプロフェンは三段階で合成される。", "触媒はパラジウム錯体である。"]
    path = write_cid_pdf(tmp_path / "ja.pdf", [lines], boxes=True)
    assert b"/ToUnicode" not in path.read_bytes()
    raw = pdfium.PdfDocument(path.read_bytes())[0].get_textpage().get_text_range()
    assert not any(ch in raw for ch in "イブプロフェン三段階")  # PDFium: glyph ids only
    doc = read(path)
    assert doc.fallback_pages == [1]
    for line in lines:
        assert line in doc.text


def test_text_neither_can_decode_is_one_line(tmp_path: Path, monkeypatch) -> None:
    from doctune.ingest import pdf_fallback

    monkeypatch.setattr(pdf_fallback, "page_lines", lambda data, index, password: [])
    path = write_cid_pdf(tmp_path / "cid.pdf", [CID_PAGE])
    with pytest.raises(ReadError, match=r"draws text on 1 of 1 page\(s\) that neither PDFium nor"):
        read(path)
