"""PDF reading on real PDFs written by fpdf2: pages, headings, paragraphs over page breaks,
running headers and footers, passwords, and the files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_samples import SECTIONS, paragraph, sentence, write_image_pdf, write_pdf

from doctune.ingest.document import ReadError
from doctune.ingest.pdf import read_pdf


def read(path: Path, password: str | None = None):
    docs = read_pdf(path, path.read_bytes(), password)
    assert len(docs) == 1
    return docs[0]


def test_multipage_pdf_pages_sections_and_offsets(tmp_path: Path) -> None:
    doc = read(write_pdf(tmp_path / "notes.pdf"))
    assert doc.page_count >= 3
    assert sorted(doc.page_starts) == list(range(1, doc.page_count + 1))
    headings = [(b.section, doc.text[b.start : b.end]) for b in doc.blocks if b.heading]
    assert [h[1] for h in headings] == [
        "Process Notes",
        "1 Bromination",
        "2 Coupling",
        "2.1 Work-up",
        "3 Hydrolysis",
    ]
    # Numbered sub-sections nest under their section, below the title.
    assert headings[3][0] == ("Process Notes", "2 Coupling", "2.1 Work-up")
    assert headings[4][0] == ("Process Notes", "3 Hydrolysis")
    for block in doc.blocks:
        assert doc.text[block.start : block.end].strip() == doc.text[block.start : block.end]
    # Each paragraph written is one block, whole, even where it runs over a page break.
    paragraphs = [doc.text[b.start : b.end] for b in doc.blocks if not b.heading]
    assert paragraph("2 Coupling", 2) in paragraphs
    assert len(paragraphs) == sum(n // 3 for _, n in SECTIONS)
    assert all(p.count(" step ") == 3 for p in paragraphs)
    crossing = [b for b in doc.blocks if len(doc.pages_between(b.start, b.end)) == 2]
    assert crossing, "the fixture has a paragraph running over a page break"


def test_running_header_footer_and_page_numbers_dropped(tmp_path: Path) -> None:
    doc = read(write_pdf(tmp_path / "notes.pdf"))
    assert "internal" not in doc.text
    assert "Page 2" not in doc.text


def test_pages_follow_the_text(tmp_path: Path) -> None:
    doc = read(write_pdf(tmp_path / "notes.pdf"))
    first = doc.text.index(sentence("1 Bromination", 0))
    last = doc.text.index(sentence("3 Hydrolysis", 23))
    assert doc.pages_between(first, first + 10) == [1]
    assert doc.pages_between(last, last + 10) == [doc.page_count]
    assert doc.pages_between(0, len(doc.text)) == list(range(1, doc.page_count + 1))


def test_encrypted_pdf_opens_with_its_password(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "secret.pdf", password="s3cret")
    assert b"Bromination" not in path.read_bytes()  # really encrypted on disk
    doc = read(path, password="s3cret")
    assert "1 Bromination" in doc.text


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (None, "no password for it in ingest.pdf_passwords"),
        ("wrong", "password in ingest.pdf_passwords is wrong"),
    ],
)
def test_encrypted_pdf_without_right_password(tmp_path: Path, password, reason) -> None:
    path = write_pdf(tmp_path / "secret.pdf", password="s3cret")
    with pytest.raises(ReadError, match=reason):
        read(path, password=password)


def test_image_only_pdf_is_named_as_such(tmp_path: Path) -> None:
    path = write_image_pdf(tmp_path / "scan.pdf", pages=3)
    with pytest.raises(ReadError, match=r"image-only PDF: 3 page\(s\).*no text layer"):
        read(path)


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", b"this is not a pdf at all" * 10],
)
def test_corrupt_pdf(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)
    with pytest.raises(ReadError, match="not a readable PDF"):
        read(path)


def test_truncated_pdf(tmp_path: Path) -> None:
    good = write_pdf(tmp_path / "notes.pdf").read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(good[: len(good) // 3])
    try:
        doc = read(path)
    except ReadError as exc:
        assert "PDF" in str(exc)
    else:  # PDFium may recover what precedes the cut; then it must be real text
        assert "Process Notes" in doc.text


def test_char_positions_count_utf16_units() -> None:
    from doctune.ingest.pdf_lines import _char_positions

    assert _char_positions("abc", 3)(2) == 2
    # A character outside the BMP is two PDFium characters: later indices shift by one.
    position = _char_positions("a\U0001d465b", 4)
    assert position is not None and position(2) == 3
    assert _char_positions("abc", 7) is None  # text and characters do not line up: no geometry


def test_page_text_is_what_pypdfium2_reads(tmp_path: Path) -> None:
    """The page's text read through the C API directly is pypdfium2's get_text_range(), on a
    text PDF, on CID-font pages PDFium cannot decode, and on a page with no text."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    from cid_pdf import write_cid_pdf

    from doctune.ingest.pdf_lines import page_text

    files = [
        write_pdf(tmp_path / "notes.pdf"),
        write_cid_pdf(
            tmp_path / "cid.pdf", [["Made in three steps at 5 °C."]], [["Plain text page"]]
        ),
        write_image_pdf(tmp_path / "scan.pdf", pages=1),
    ]
    texts = []
    for file in files:
        pdf = pdfium.PdfDocument(file.read_bytes())
        for page in pdf:
            textpage = page.get_textpage()
            n_chars = pdfium_c.FPDFText_CountChars(textpage.raw)
            texts.append(page_text(textpage.raw, n_chars))
            assert texts[-1] == textpage.get_text_range()
        pdf.close()
    assert "Process Notes" in texts[0] and "Plain text page" in "".join(texts)
    assert texts[-1] == ""


def _undecodable_reference(textpage: object, n_chars: int, sample: int) -> bool:
    """The undecodable test as first written: every sample asked whether it was generated and,
    if drawn, whether it has a map error; most drawn samples with one is undecodable."""
    import pypdfium2.raw as pdfium_c

    drawn = errors = 0
    for i in range(0, n_chars, max(1, n_chars // sample)):
        if pdfium_c.FPDFText_IsGenerated(textpage, i) == 1:
            continue
        drawn += 1
        errors += pdfium_c.FPDFText_HasUnicodeMapError(textpage, i) == 1
    return drawn > 0 and errors * 2 >= drawn


def test_the_undecodable_shortcut_answers_as_the_full_test(tmp_path: Path) -> None:
    """On text pages, CID-font pages PDFium cannot decode (Latin and Japanese) and an image
    page, at several sample sizes: the answer is the one of asking every sample both questions,
    and the shortcut decides the text pages without the loop."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    from cid_pdf import write_cid_pdf

    from doctune.ingest.pdf_lines import _surely_decoded, page_text, undecodable

    mixed = [["Made in three steps at 5 °C.", "Then filtered."]], [["Plain text page"]]
    japanese = [["イブプロフェンは三段階で合成される。"] * 3]
    files = [
        write_pdf(tmp_path / "notes.pdf"),
        write_cid_pdf(tmp_path / "cid.pdf", *mixed),
        write_cid_pdf(tmp_path / "ja.pdf", japanese, boxes=True),
        write_image_pdf(tmp_path / "scan.pdf", pages=1),
    ]
    answers, shortcuts = [], []
    for file in files:
        pdf = pdfium.PdfDocument(file.read_bytes())
        for page in pdf:
            textpage = page.get_textpage()
            raw = textpage.raw
            n_chars = pdfium_c.FPDFText_CountChars(raw)
            text = page_text(raw, n_chars)
            known = text if len(text) == n_chars else None
            for sample in (1, 2, 7, 50, 200):
                expected = _undecodable_reference(raw, n_chars, sample)
                assert undecodable(raw, n_chars, known, sample) == expected
                assert undecodable(raw, n_chars, None, sample) == expected
            answers.append(expected)  # at 200 samples, as the reader asks
            if known is not None:
                samples = range(0, n_chars, max(1, n_chars // 200))
                shortcuts.append((_surely_decoded(raw, known, samples), not expected))
            textpage.close()
            page.close()
        pdf.close()
    assert answers == [False] * 4 + [True, True, False]  # text pages, CID pages, image page
    # The shortcut decides the four text pages (the image page has no sample to ask) and never
    # calls a page decoded that is not.
    assert [fast for fast, _ in shortcuts] == [True] * 4 + [False]
    assert all(decoded for fast, decoded in shortcuts if fast)
