"""Text of PDF pages PDFium cannot decode, through pdfminer.six (MIT).

PDFium maps glyphs to characters through a font's ToUnicode map or a known character collection;
a CID font embedded with Identity encoding and no ToUnicode map (common in Japanese PDFs) gives
it nothing. pdfminer.six also reads the embedded TrueType font's own `cmap` table and recovers
the text. It is about a hundred times slower, so only the pages that need it go through it: those
that draw text (they have text objects) yet come back from PDFium empty.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

if TYPE_CHECKING:
    from pdfminer.layout import LTPage


@dataclass(frozen=True)
class FallbackLine:
    """One line as pdfminer laid it out, in PDF units (y grows upwards)."""

    text: str
    size: float
    bold: bool
    y: float
    right: float


def draws_text(pdf: pdfium.PdfDocument, index: int) -> bool:
    """Whether the page has text objects at all (an image-only scan has none)."""
    page = pdf[index]
    try:
        return any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_TEXT,)))
    finally:
        page.close()


def page_lines(data: bytes, index: int, password: str | None) -> list[FallbackLine]:
    """The page's lines through pdfminer.six, in its reading order; [] when it finds none."""
    # Imported here: most corpora never need pdfminer (~90 ms to import).
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams
    from pdfminer.pdfparser import PDFSyntaxError

    # pdfminer logs every glyph it cannot map at WARNING; a page that fails is reported once,
    # by the caller.
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    try:
        pages = list(
            extract_pages(
                io.BytesIO(data),
                password=password or "",
                page_numbers=[index],
                laparams=LAParams(),
            )
        )
    except (PDFSyntaxError, ValueError, KeyError, TypeError, AssertionError):
        return []  # what PDFium opened but pdfminer cannot parse: the page stays empty
    return [line for page in pages for line in _lines(page)]


def _lines(page: LTPage) -> Iterator[FallbackLine]:
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    for box in page:
        if not isinstance(box, LTTextContainer):
            continue
        for line in box:
            if not isinstance(line, LTTextLine):
                continue
            text = line.get_text().strip()
            if not text:
                continue
            chars = [c for c in line if isinstance(c, LTChar)]
            size = round(chars[0].size, 1) if chars else 0.0
            bold = bool(chars) and "bold" in chars[0].fontname.lower()
            yield FallbackLine(text, size, bold, float(line.y0), float(line.x1))
