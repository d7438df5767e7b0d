"""Text of PDF pages PDFium cannot decode, through pdfminer.six (MIT).

PDFium maps glyphs to characters through a font's ToUnicode map or a known character collection;
a CID font embedded with Identity encoding and no ToUnicode map (common in Japanese PDFs) gives
it nothing. pdfminer.six also reads the embedded TrueType font's own `cmap` table and recovers
the text. It is about a hundred times slower, so only the pages that need it go through it: those
that draw text (they have text objects) yet come back from PDFium empty.
"""

from __future__ import annotations

import ctypes
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

if TYPE_CHECKING:
    from pdfminer.layout import LTPage


# What PDFium may insert itself (a superset: another character only costs a C call).
_MAY_BE_GENERATED = frozenset(" \t\r\n-\xad\x02\ufffe")


def untyped(function: object, restype: type = ctypes.c_int) -> Callable[..., object]:
    """A PDFium function called without ctypes' per-argument conversion, which costs about as
    much as the call itself (0.45 -> 0.2 us here). Only for callers that pass Python ints, the
    handles pypdfium2 gives, and `ctypes.byref()` out-parameters: ctypes passes those as they
    are, while a c_double passed bare would go by value."""
    address = ctypes.cast(function, ctypes.c_void_p).value
    return ctypes.CFUNCTYPE(restype)(address)


_IS_GENERATED = untyped(pdfium_c.FPDFText_IsGenerated)
_HAS_MAP_ERROR = untyped(pdfium_c.FPDFText_HasUnicodeMapError)


@dataclass(frozen=True)
class FallbackLine:
    """One line as pdfminer laid it out, in PDF units (y grows upwards)."""

    text: str
    size: float
    bold: bool
    y: float
    right: float


def undecodable(
    textpage: pdfium.PdfTextPage, n_chars: int, text: str | None = None, sample: int = 200
) -> bool:
    """Whether PDFium could not map most of the page's glyphs to characters (it then reports
    the raw glyph ids as characters: control codes and stray letters, not text). A sample of
    the characters decides, so a long page costs no more than a short one. `text`, the page's
    text when it lines up with the characters one to one, spares a C call per sample: PDFium
    generates only spaces, line breaks and hyphens, so no other character can be generated."""
    step = max(1, n_chars // sample)
    raw = textpage.raw  # the handle itself: the wrapper costs a property call per C call
    generated, map_error = _IS_GENERATED, _HAS_MAP_ERROR
    drawn = errors = 0
    samples = range(0, n_chars, step)
    left = len(samples)
    for i in samples:
        left -= 1
        if (text is None or text[i] in _MAY_BE_GENERATED) and generated(raw, i) == 1:
            continue  # spaces and line breaks PDFium inserted itself
        drawn += 1
        errors += map_error(raw, i) == 1
        # Decided: even if every sample left were an error, most drawn glyphs decode.
        if errors * 2 - drawn + left < 0:
            return False
    return drawn > 0 and errors * 2 >= drawn


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
