"""A PDF written by hand whose text is drawn with a CID font (Type0, Identity-H, an embedded
TrueType font) and no /ToUnicode map: the kind of file (often Japanese) PDFium reads no text
from. Latin and Greek text uses a subset of matplotlib's DejaVu Sans (always installed with
doctune); Japanese text, for which no font is installed, a font built here whose glyphs are
plain boxes but whose `cmap` table maps them to the Japanese characters, as a real font's does.

Optionally the first pages use a plain Helvetica font PDFium reads, to check that only the pages
that need it go through the fallback.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import matplotlib
from fontTools import subset
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _subset(text: str) -> TTFont:
    options = subset.Options()
    options.notdef_outline = True
    # FFTM is a FontForge stamp fontTools cannot subset.
    options.drop_tables = [*options.drop_tables, "FFTM"]
    font = TTFont(FONT)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    buffer.seek(0)
    return TTFont(buffer)


def box_font(text: str) -> TTFont:
    """A TrueType font with one box-shaped glyph per character of `text` (any script)."""
    chars = sorted(set(text))
    names = [".notdef", *(f"uni{ord(c):04X}" for c in chars)]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({ord(c): n for c, n in zip(chars, names[1:], strict=True)})
    pen = TTGlyphPen(None)
    pen.moveTo((100, 0))
    pen.lineTo((100, 700))
    pen.lineTo((900, 700))
    pen.lineTo((900, 0))
    pen.closePath()
    box = pen.glyph()
    builder.setupGlyf({n: box for n in names})
    builder.setupHorizontalMetrics({n: (1000, 100) for n in names})
    builder.setupHorizontalHeader(ascent=880, descent=-120)
    builder.setupNameTable({"familyName": "DoctuneBoxes", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=880, usWinAscent=880, usWinDescent=120)
    builder.setupPost()
    buffer = io.BytesIO()
    builder.font.save(buffer)
    buffer.seek(0)
    return TTFont(buffer)


def _stream(data: bytes, extra: str = "") -> bytes:
    packed = zlib.compress(data)
    head = f"<< /Length {len(packed)} /Filter /FlateDecode {extra}>>\nstream\n".encode()
    return head + packed + b"\nendstream"


def _content(font: str, lines: list[str], encode) -> bytes:
    ops = [f"BT /{font} 12 Tf 16 TL 72 770 Td"]
    for line in lines:
        ops.append(f"{encode(line)} Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def write_cid_pdf(
    path: Path,
    cid_pages: list[list[str]],
    plain_pages: list[list[str]] = (),
    *,
    boxes: bool = False,
) -> Path:
    """Plain pages first (Helvetica, readable by PDFium), then the CID-font pages, in DejaVu
    Sans or (`boxes`, for scripts DejaVu lacks) in `box_font`."""
    text = "".join(line for page in cid_pages for line in page)
    font = box_font(text) if boxes else _subset(text)
    cmap = font.getBestCmap()
    scale = 1000 / font["head"].unitsPerEm
    glyphs = {ch: font.getGlyphID(cmap[ord(ch)]) for ch in set(text)}
    widths = " ".join(
        f"{gid} [{round(font['hmtx'][cmap[ord(ch)]][0] * scale)}]"
        for ch, gid in sorted(glyphs.items(), key=lambda kv: kv[1])
    )
    buffer = io.BytesIO()
    font.save(buffer)
    font_bytes = buffer.getvalue()

    def cid(line: str) -> str:
        return "<" + "".join(f"{glyphs[ch]:04X}" for ch in line) + ">"

    def plain(line: str) -> str:
        return "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    n_pages = len(plain_pages) + len(cid_pages)
    first_page = 8  # objects 1-7: catalog, pages, the two fonts, descendant, descriptor, file
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n_pages))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode(),
        # No /ToUnicode: nothing maps the glyph ids back to characters but the font's own cmap.
        b"<< /Type /Font /Subtype /Type0 /BaseFont /DejaVuSans /Encoding /Identity-H "
        b"/DescendantFonts [5 0 R] >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        (
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /DejaVuSans "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor 6 0 R /CIDToGIDMap /Identity /DW 600 /W [{widths}] >>"
        ).encode(),
        b"<< /Type /FontDescriptor /FontName /DejaVuSans /Flags 32 "
        b"/FontBBox [-1021 -463 1793 1232] /ItalicAngle 0 /Ascent 928 /Descent -236 "
        b"/CapHeight 729 /StemV 80 /FontFile2 7 0 R >>",
        _stream(font_bytes, f"/Length1 {len(font_bytes)} "),
    ]
    pages = [("F2", lines, plain) for lines in plain_pages]
    pages += [("F1", lines, cid) for lines in cid_pages]
    for i, (name, lines, encode) in enumerate(pages):
        content = first_page + 2 * i + 1
        objects.append(
            (
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content} 0 R >>"
            ).encode()
        )
        objects.append(_stream(_content(name, lines, encode)))
    return _write(path, objects)


def _write(path: Path, objects: list[bytes]) -> Path:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path
