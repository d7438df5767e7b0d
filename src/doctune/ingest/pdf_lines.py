"""What PDFium reports about a page: its text, whether it decoded the glyphs, and each line's
geometry (the first glyph's baseline and size, the last one's right edge).

This is the per-page path of a PDF's ingest, so it talks to PDFium's C API directly: the page
and its text page are loaded and closed without pypdfium2's wrapper objects (each attaches a
finalizer and tracks its parent), and the per-line calls skip ctypes' argument conversion. The
text is what pypdfium2's `get_text_range()` gives, read the same way.
"""

from __future__ import annotations

import codecs
import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, compress, repeat

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

_LINE = re.compile(r"[^\r\n]+")
# What PDFium may insert itself (a superset: another character only costs a C call).
_MAY_BE_GENERATED = frozenset(" \t\r\n-\xad\x02\ufffe")


@dataclass(slots=True)
class Line:
    text: str
    page: int
    size: float  # no weight: no heuristic uses it, and asking PDFium costs a C call a line
    y: float  # baseline of the first glyph, PDF units (grows upwards)
    right: float  # right edge of the last glyph


def untyped(function: object, restype: type = ctypes.c_int) -> Callable[..., object]:
    """A PDFium function called without ctypes' per-argument conversion, which costs about as
    much as the call itself (0.45 -> 0.2 us here). Only for callers that pass Python ints, the
    handles PDFium returns, and `ctypes.byref()` out-parameters: ctypes passes those as they
    are, while a c_double passed bare would go by value."""
    address = ctypes.cast(function, ctypes.c_void_p).value
    return ctypes.CFUNCTYPE(restype)(address)


_IS_GENERATED = untyped(pdfium_c.FPDFText_IsGenerated)
_HAS_MAP_ERROR = untyped(pdfium_c.FPDFText_HasUnicodeMapError)
_ORIGIN = untyped(pdfium_c.FPDFText_GetCharOrigin)
_FONT_SIZE = untyped(pdfium_c.FPDFText_GetFontSize, ctypes.c_double)
_CHAR_BOX = untyped(pdfium_c.FPDFText_GetCharBox)
_DOUBLE = ctypes.sizeof(ctypes.c_double)


# A page's lines as columns, what a reading process sends back: their texts, font sizes (one
# decimal), first glyphs' baselines and last glyphs' right edges.
Columns = tuple[list[str], list[float], list[float], list[float]]


def page_lines(pdf: pdfium.PdfDocument, index: int) -> list[Line] | None:
    """The page's lines; None when PDFium could not decode its glyphs (then the fallback may)."""
    columns = page_columns(pdf, index)
    return None if columns is None else lines_of(columns, index + 1)


def lines_of(columns: Columns, page: int) -> list[Line]:
    texts, sizes, ys, rights = columns
    return list(map(Line, texts, repeat(page, len(texts)), sizes, ys, rights))


def page_columns(pdf: pdfium.PdfDocument, index: int) -> Columns | None:
    """`page_lines` as columns (no Line objects: the reading process only sends them on)."""
    page = pdfium_c.FPDF_LoadPage(pdf.raw, index)
    if not page:
        raise pdfium.PdfiumError("Failed to load page.")
    try:
        textpage = pdfium_c.FPDFText_LoadPage(page)
        if not textpage:
            raise pdfium.PdfiumError("Failed to load text page.")
        try:
            return _columns(textpage)
        finally:
            pdfium_c.FPDFText_ClosePage(textpage)
    finally:
        pdfium_c.FPDF_ClosePage(page)


def _columns(textpage: object) -> Columns | None:
    n_chars = pdfium_c.FPDFText_CountChars(textpage)
    if n_chars < 0:
        raise pdfium.PdfiumError("Failed to get character count.")
    text = page_text(textpage, n_chars)
    # Where the text lines up with the characters, it tells which ones can be generated.
    known = text if len(text) == n_chars else None
    if undecodable(textpage, n_chars, known):
        return None  # glyph ids, not characters
    position = _char_positions(text, n_chars)
    if position is None:
        texts = [s for s in (m.group().strip() for m in _LINE.finditer(text)) if s]
        zeros = [0.0] * len(texts)
        return texts, zeros, zeros.copy(), zeros.copy()
    return _measured_columns(textpage, text, None if known else position)


def page_text(textpage: object, n_chars: int) -> str:
    """All of the page's text, as pypdfium2's `PdfTextPage.get_text_range()` reads it: the
    characters PDFium leaves out of the text at either end are left out of the range asked
    for (asking for them makes PDFium read past the range: crbug.com/pdfium/2079)."""
    text_index = pdfium_c.FPDFText_GetTextIndexFromCharIndex
    first, last = 0, n_chars - 1
    while first <= last and text_index(textpage, first) == -1:
        first += 1
    while last > first and text_index(textpage, last) == -1:
        last -= 1
    if first > last:
        return ""
    size = text_index(textpage, last) + 2 - text_index(textpage, first)  # with the NUL
    buffer = (ctypes.c_ushort * size)()
    written = pdfium_c.FPDFText_GetText(textpage, first, last - first + 1, buffer)
    return codecs.decode(memoryview(buffer)[: written - 1], "utf-16-le", "ignore")


def undecodable(textpage: object, n_chars: int, text: str | None = None, sample: int = 200) -> bool:
    """Whether PDFium could not map most of the page's glyphs to characters (it then reports
    the raw glyph ids as characters: control codes and stray letters, not text). A sample of
    the characters decides, so a long page costs no more than a short one. `text`, the page's
    text when it lines up with the characters one to one, spares a C call per sample: PDFium
    generates only spaces, line breaks and hyphens, so no other character can be generated."""
    samples = range(0, n_chars, max(1, n_chars // sample))
    if text is not None and _surely_decoded(textpage, text, samples):
        return False
    generated, map_error = _IS_GENERATED, _HAS_MAP_ERROR
    drawn = errors = 0
    left = len(samples)
    for i in samples:
        left -= 1
        if (text is None or text[i] in _MAY_BE_GENERATED) and generated(textpage, i) == 1:
            continue  # spaces and line breaks PDFium inserted itself
        drawn += 1
        errors += map_error(textpage, i) == 1
        # Decided: even if every sample left were an error, most drawn glyphs decode.
        if errors * 2 - drawn + left < 0:
            return False
    return drawn > 0 and errors * 2 >= drawn


def _surely_decoded(textpage: object, text: str, samples: range) -> bool:
    """True when the loop of `undecodable` must answer False, from the map errors of a prefix of
    the samples alone, asked in one `map` (no call to IsGenerated, no bytecode per sample); False
    when that cannot tell (then the loop decides).

    With the first k samples of t: at most c of them may be generated (characters PDFium can
    generate), so at least k - c are drawn; a sample after them is drawn or not, and an error
    only if drawn. With e errors among the first k (an error's count only grows by counting
    generated ones too), 2 * errors - drawn <= 2e + (t - k) - (k - c), so below 0, and the
    loop's answer False, whenever 2e + t + c < 2k."""
    total = len(samples)
    picked = text[samples.start : samples.stop : samples.step]  # the sampled characters
    may_be = _MAY_BE_GENERATED
    # c over all samples bounds c over any prefix; a k from it, then c over that prefix only.
    k = min(total, (total + sum(picked.count(ch) for ch in may_be)) // 2 + 1)
    c = sum(picked[:k].count(ch) for ch in may_be)
    k = min(k, (total + c) // 2 + 1)  # a shorter prefix has no more of them: still sound
    if 2 * k <= total + c:
        return False
    errors = k - list(map(_HAS_MAP_ERROR, repeat(textpage, k), samples[:k])).count(0)
    return 2 * errors + total + c < 2 * k


def _char_positions(text: str, n_chars: int) -> Callable[[int], int] | None:
    """Maps an index into the extracted text to PDFium's character index, for glyph geometry.

    PDFium counts UTF-16 units: a character outside the BMP is two. None when the text does not
    line up with the page's characters at all (then lines carry no geometry)."""
    if len(text) == n_chars:
        return lambda i: i
    units = [2 if ord(c) > 0xFFFF else 1 for c in text]
    if sum(units) != n_chars:
        return None
    starts = list(accumulate(units, initial=0))
    return lambda i: starts[i]


def _measured_columns(raw: object, text: str, position: Callable[[int], int] | None) -> Columns:
    """Each line's geometry straight from the C API: three calls a line, each one mapped over
    all of the page's lines (no bytecode per call), without ctypes' argument conversion; the
    out-parameters are slots of arrays allocated once per page (only the baselines and right
    edges are kept). `position` None: text and character indices are the same."""
    starts, parts = _line_pieces(text)
    texts = list(map(str.strip, parts))
    if "" in texts:  # blank runs carry no line
        kept = list(map(bool, texts))
        starts, parts, texts = (list(compress(v, kept)) for v in (starts, parts, texts))
    firsts = [
        s if len(t) == len(p) else s + len(p) - len(p.lstrip())
        for s, t, p in zip(starts, texts, parts, strict=True)
    ]
    lasts = [f + len(t) - 1 for f, t in zip(firsts, texts, strict=True)]
    if position is not None:
        firsts, lasts = list(map(position, firsts)), list(map(position, lasts))
    n = len(texts)
    raws, slots = repeat(raw, n), range(0, n * _DOUBLE, _DOUBLE)
    ys, rights = (ctypes.c_double * n)(), (ctypes.c_double * n)()
    unused = ctypes.byref(ctypes.c_double())  # x, left, bottom, top: not kept
    sizes = list(map(round, map(_FONT_SIZE, raws, firsts), repeat(1, n)))
    raws = repeat(raw, n)
    for _ in map(_ORIGIN, raws, firsts, repeat(unused, n), map(ctypes.byref, repeat(ys), slots)):
        pass
    boxes = map(
        _CHAR_BOX,
        repeat(raw, n),
        lasts,
        repeat(unused, n),
        map(ctypes.byref, repeat(rights), slots),
        repeat(unused, n),
        repeat(unused, n),
    )
    if not all(boxes):
        raise pdfium.PdfiumError("Failed to get charbox.")
    return texts, sizes, ys[:], rights[:]


def _line_pieces(text: str) -> tuple[list[int], list[str]]:
    """The offsets and texts of the runs of characters between line breaks (some may be blank
    or empty)."""
    crlf = text.count("\r\n")
    if text.count("\r") != crlf or text.count("\n") != crlf:  # a lone CR or LF: the regex
        found = list(_LINE.finditer(text))
        return [m.start() for m in found], [m.group() for m in found]
    # PDFium ends every line with CRLF: a split does what the regex does, faster.
    parts = text.split("\r\n")
    return list(accumulate([len(p) + 2 for p in parts[:-1]], initial=0)), parts
