"""PDF reader through pypdfium2 (PDFium: ~900 pages/s here, permissive licence).

PDF has no paragraphs or headings, only positioned glyphs, so they are inferred per line from
what PDFium reports: a line set larger than the body text (or listed in the outline) is a heading;
a wider gap to the line above, a change of font size, or a short line ending a sentence starts a
paragraph. Running headers and footers (the same line at the top or bottom of most pages) and bare
page numbers are dropped so they do not interrupt paragraphs that run over a page break. Pages that
draw text PDFium cannot decode are read through pdfminer.six (`pdf_fallback`).
"""

from __future__ import annotations

import math
import operator
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from doctune.ingest import pdf_fallback as fallback
from doctune.ingest.document import (
    Extracted,
    ReadError,
    TextBuilder,
    clean_inline,
    heading_level_from_number,
)
from doctune.ingest.pdf_lines import Columns, lines_of, page_columns
from doctune.ingest.pdf_lines import Line as _Line

_HEADING_SCALE = 1.15  # a line this much larger than the body text is a heading
_PARA_GAP = 1.3  # a line pitch this much above the page's usual pitch starts a paragraph
_SHORT_LINE = 0.8  # a line ending before this fraction of the text width is a short line
_SENTENCE_END = (".", "!", "?", ":")
_PAGE_NUMBER = re.compile(r"^(page\s*)?#(\s*(of|/)\s*#)?$|^[-–—]\s*#\s*[-–—]$", re.IGNORECASE)
_SOFT_HYPHENS = ("\x02", "\xad")
_SOFT_HYPHEN_CHARS = "".join(_SOFT_HYPHENS)
_DIGITS = re.compile(r"\d+")
_HYPHEN_SPACE = re.compile(r"(?<=[A-Za-z])- (?=[a-z])")
_NO_LINES: Columns = ([], [], [], [])


@dataclass(frozen=True)
class PdfPages:
    """What a PDF's reading needs of PDFium (and of pdfminer.six for the pages PDFium cannot
    decode): each page's lines as columns, the outline's titles. Small to send between
    processes; `assemble` makes the document from it without PDFium."""

    pages: list[Columns]
    toc: set[str]
    recovered: list[int]  # pages read by pdfminer.six


def read_pdf(path: Path, data: bytes, password: str | None = None) -> list[Extracted]:
    return assemble(read_pages(data, password))


def read_pages(data: bytes, password: str | None = None) -> PdfPages:
    """The PDFium part of reading a PDF (what a reading process does when another one assembles
    the document); raises ReadError for a PDF with no text either reader can decode."""
    pdf = _open(data, password)
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise ReadError("PDF has no pages")
        toc = _outline_titles(pdf)
        pages = [page_columns(pdf, i) or _NO_LINES for i in range(n_pages)]
        tried = [i for i in range(n_pages) if not pages[i][0] and fallback.draws_text(pdf, i)]
        for i in tried:
            found = fallback.page_lines(data, i, password)
            pages[i] = (
                [ln.text for ln in found],
                [ln.size for ln in found],
                [ln.y for ln in found],
                [ln.right for ln in found],
            )
        if not any(texts for texts, *_ in pages):
            _no_text(pdf, n_pages, tried)
    finally:
        pdf.close()
    return PdfPages(pages, toc, [i + 1 for i in tried if pages[i][0]])


def assemble(read: PdfPages) -> list[Extracted]:
    """The document from its pages' lines: running lines dropped, headings and paragraphs."""
    pages = [lines_of(columns, i) for i, columns in enumerate(read.pages, 1)]
    document = _assemble(_drop_running_lines(pages), read.toc, len(pages))
    document.fallback_pages = read.recovered
    return [document]


def _no_text(pdf: pdfium.PdfDocument, n_pages: int, tried: list[int]) -> None:
    if tried:
        raise ReadError(
            f"PDF draws text on {len(tried)} of {n_pages} page(s) that neither PDFium nor "
            "pdfminer.six can decode (fonts without a ToUnicode map; run OCR)"
        )
    if sum(_image_count(pdf, i) for i in range(n_pages)):
        raise ReadError(
            f"image-only PDF: {n_pages} page(s) of images and no text layer (run OCR first)"
        )
    raise ReadError(f"PDF has {n_pages} page(s) and no text")


def _open(data: bytes, password: str | None) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            if password is None:
                raise ReadError(
                    "encrypted PDF and no password for it in ingest.pdf_passwords"
                ) from None
            raise ReadError(
                "encrypted PDF: the password in ingest.pdf_passwords is wrong"
            ) from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise ReadError("encrypted PDF with an unsupported security handler") from None
        raise ReadError("not a readable PDF (corrupt, truncated or another format)") from None


def _outline_titles(pdf: pdfium.PdfDocument) -> set[str]:
    """Bookmark titles, normalised: a line that equals one is a heading whatever its size."""
    try:
        return {_norm(b.get_title()) for b in pdf.get_toc() if b.get_title()}
    except pdfium.PdfiumError:
        return set()


def _image_count(pdf: pdfium.PdfDocument, index: int) -> int:
    page = pdf[index]
    try:
        return sum(1 for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)))
    finally:
        page.close()


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()  # what re.sub(r"\s+", " ", ...).strip() gives, faster


def _drop_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Drop page numbers and lines repeated at the top or bottom of most pages."""
    # Only the two first and two last lines of a page can be running lines: their keys only.
    edges = [{i: _edge_key(lines[i]) for i in _edge_positions(len(lines))} for lines in pages]
    edge_keys: Counter[str] = Counter()
    for keys in edges:
        edge_keys.update(set(keys.values()))
    # On two pages or more, a line at the edge of most pages is a running header or footer.
    threshold = max(2, len(pages) // 2 + 1)
    running = {k for k, n in edge_keys.items() if n >= threshold} if len(pages) > 1 else set()
    dropped = [
        {i for i, k in keys.items() if k in running or _PAGE_NUMBER.match(k)} for keys in edges
    ]
    return [
        [ln for i, ln in enumerate(lines) if i not in drop] if drop else lines
        for lines, drop in zip(pages, dropped, strict=True)
    ]


def _edge_positions(total: int) -> range | list[int]:
    return range(total) if total <= 4 else [0, 1, total - 2, total - 1]


def _edge_key(line: _Line) -> str:
    return _DIGITS.sub("#", _norm(line.text))


def _assemble(pages: list[list[_Line]], toc: set[str], n_pages: int) -> Extracted:
    body = _body_size(pages)
    # Decided once per line (the loop below asks again for every line). With no outline, only a
    # line set larger than the body text can be one: the size alone rules out the others.
    floor = body * _HEADING_SCALE if body > 0 and not toc else -math.inf
    heads = [
        ln for lines in pages for ln in lines if ln.size >= floor and _is_heading(ln, body, toc)
    ]
    headings = {id(ln) for ln in heads}
    heading_sizes = sorted({ln.size for ln in heads}, reverse=True)
    builder = TextBuilder()
    for lines in pages:
        if lines:
            _page_blocks(builder, lines, headings, heading_sizes, body, toc)
    return builder.build(page_count=n_pages)


def _page_blocks(
    builder: TextBuilder,
    lines: list[_Line],
    headings: set[int],
    heading_sizes: list[float],
    body: float,
    toc: set[str],
) -> None:
    """One page's headings and paragraphs into the builder."""
    builder.page(lines[0].page)
    # Per line pair, read once for the pitch and the paragraph starts: the sizes, and the drop
    # from each line's baseline to the next one's (above.y - line.y).
    sizes = [ln.size for ln in lines]
    ys = [ln.y for ln in lines]
    gaps = list(map(operator.sub, ys, ys[1:]))
    pitch = _usual_pitch(sizes, gaps)
    # The thresholds of _paragraph_starts, computed once per page.
    gap_limit, short = pitch * _PARA_GAP, _SHORT_LINE * max([ln.right for ln in lines])
    # Whether each line starts a paragraph after the one above it, for all of them at once: in
    # the loop below, a paragraph being filled always ends with the line above.
    breaks = [False, *_paragraph_starts(lines, sizes, gaps, pitch, gap_limit, short)]
    para: list[_Line] = []
    continues = _continues(builder, lines[0], body, toc)
    for i, line in enumerate(lines):
        if id(line) in headings:
            _flush(builder, para, continues, short)
            para, continues = [], False
            prev = lines[i - 1] if i else None
            if (
                prev is not None
                and builder.blocks
                and builder.blocks[-1].heading
                and (_wrapped_heading(prev, line, body, toc))
            ):
                builder.extend_heading(line.text)
            else:
                level = heading_sizes.index(line.size) + 1 if line.size in heading_sizes else 1
                depth = heading_level_from_number(line.text) or 1
                builder.heading(line.text, level + depth - 1)
        else:
            if para and breaks[i]:
                _flush(builder, para, continues, short)
                para, continues = [], False
            para.append(line)
    _flush(builder, para, continues, short)


def _body_size(pages: list[list[_Line]]) -> float:
    """The size that sets the most characters (the first such size seen on a tie, as
    Counter.most_common would pick it: max keeps the first maximum of the insertion order)."""
    weights: dict[float, int] = {}
    get = weights.get
    for lines in pages:
        for line in lines:
            size = line.size
            weights[size] = get(size, 0) + len(line.text)
    return max(weights, key=weights.__getitem__) if weights else 0.0


def _is_heading(line: _Line, body: float, toc: set[str]) -> bool:
    text = line.text
    if len(text) > 120 or text.endswith((".", ",", ";")):
        return False
    if toc and _norm(text) in toc:
        return True
    # The size test first: it is cheap and rules out every body line.
    if not (body > 0 and line.size >= body * _HEADING_SCALE):
        return False
    return any(c.isalpha() for c in text)


def _wrapped_heading(prev: _Line, line: _Line, body: float, toc: set[str]) -> bool:
    """The second line of a heading too long for one line: same size, directly below, and not
    itself numbered (a numbered line is the next heading)."""
    return (
        _is_heading(prev, body, toc)
        and prev.size == line.size
        and heading_level_from_number(line.text) is None
        and _norm(line.text) not in toc
        and 0 < prev.y - line.y < line.size * 1.6
    )


def _usual_pitch(sizes: list[float], gaps: list[float]) -> float:
    """The median drop between consecutive lines of one size, when less than 4 lines high."""
    pairs = zip(gaps, sizes[:-1], sizes[1:], strict=True)
    pitches = [g for g, a, b in pairs if a == b and 0 < g < 4 * a]
    return statistics.median(pitches) if pitches else 0.0


def _paragraph_starts(
    lines: list[_Line],
    sizes: list[float],
    gaps: list[float],
    pitch: float,
    gap_limit: float,
    short: float,
) -> list[bool]:
    """For each line after the first, whether it starts a paragraph after the line above: a
    change of size, a wider gap (over `gap_limit`, the pitch times _PARA_GAP) or the next
    column / a jump up the page, or a sentence that ends short of the margin (`short`) above.
    One expression over all pairs (`sizes` and `gaps`, the drops, read once by the caller): a
    call per line costs as much as the tests."""
    return [
        abs(a - b) > 1.0
        or bool(pitch and (gap < 0 or gap > gap_limit))
        or (above.right < short and above.text.endswith(_SENTENCE_END))
        for a, b, gap, above in zip(sizes[:-1], sizes[1:], gaps, lines[:-1], strict=True)
    ]


def _continues(builder: TextBuilder, first: _Line, body: float, toc: set[str]) -> bool:
    """The page's first line carries on the previous page's last paragraph (no sentence end)."""
    if not builder.blocks or builder.blocks[-1].heading or _is_heading(first, body, toc):
        return False
    return builder.last_char not in ("", *_SENTENCE_END)


def _flush(builder: TextBuilder, para: list[_Line], continues: bool, short: float) -> None:
    if not para:
        return
    text = _clean_paragraph(para, short)
    if text is None:
        text = _paragraph(para, short)
    if "- " in text:  # the only place the pattern can match: skip the regex elsewhere
        text = _HYPHEN_SPACE.sub("-", text)  # 'well-\nknown' -> 'well-known'
    if continues:
        builder.extend(text)
    else:
        builder.block(text)


def _clean_paragraph(para: list[_Line], short: float) -> str | None:
    """The paragraph at the cost of a join, when all of it is clean printable ASCII (no soft
    hyphen, nothing for clean_inline to change: no space at a line's ends, no two in a row);
    None when a line needs `_paragraph`'s work."""
    text = " ".join([ln.text for ln in para])
    if not (text.isascii() and text.isprintable()) or "  " in text or text[0] == " ":
        return None
    if text[-1] == " ":
        return None
    if all(ln.right >= short for ln in para[:-1]):
        return text  # every line wraps on to the next: joined by spaces
    glued = [part for ln in para for part in (ln.text, "\n" if ln.right < short else " ")]
    return "".join(glued[:-1])


def _paragraph(para: list[_Line], short: float) -> str:
    parts: list[str] = []  # pieces and the glue between them; a leading empty piece takes none
    glue = ""
    for line in para:
        text = line.text
        hyphen = text.endswith(_SOFT_HYPHENS)
        piece = clean_inline(text.rstrip(_SOFT_HYPHEN_CHARS) if hyphen else text)
        if parts:
            parts += (glue, piece)
        elif piece:
            parts.append(piece)
        # A soft hyphen marks a word PDFium split across lines: join the halves directly. A
        # line that stops well short of the margin mid-paragraph is a table row or a list
        # item: keep the line break. Wrapped prose lines are re-joined with a space.
        glue = "" if hyphen else "\n" if line.right < short else " "
    return "".join(parts)
