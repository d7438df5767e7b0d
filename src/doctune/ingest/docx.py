"""Word (.docx) reader through python-docx.

Body paragraphs and tables are read in document order. A paragraph whose style is (or derives
from) "Heading N" or "Title" opens a section; list-styled paragraphs become `- item` lines; a table
becomes one block of `cell | cell` rows. Word has no fixed pages, so chunks carry no page numbers.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from doctune.ingest.document import Extracted, ReadError, TextBuilder, clean_inline

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_docx(path: Path, data: bytes) -> list[Extracted]:
    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    if data.startswith(_OLE_MAGIC):
        # Word wraps a password-protected .docx (and a legacy .doc) in an OLE container.
        raise ReadError("password-protected or legacy Word file (OLE container); not supported")
    try:
        document = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError):
        raise ReadError("not a valid .docx file (corrupt or another format)") from None

    builder = TextBuilder()
    in_list = False
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            builder.block(_table_text(item))
            in_list = False
            continue
        text = clean_inline(item.text)
        if not text:
            continue
        level = _heading_level(item.style)
        if level is not None:
            builder.heading(text, level)
            in_list = False
        elif _is_list(item.style):
            builder.block("- " + text, sep="\n" if in_list else "\n\n")
            in_list = True
        else:
            builder.block(text)
            in_list = False
    return [builder.build()]


def _style_chain(style: object) -> list[str]:
    names = []
    while style is not None and len(names) < 10:
        names.append(str(getattr(style, "name", "") or ""))
        style = getattr(style, "base_style", None)
    return names


def _heading_level(style: object) -> int | None:
    for name in _style_chain(style):
        if name.lower() == "title":
            return 0  # above Heading 1
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
    return None


def _is_list(style: object) -> bool:
    return any("list" in name.lower() for name in _style_chain(style))


def _table_text(table: object) -> str:
    rows = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        for cell in row.cells:
            text = clean_inline(cell.text)
            # A merged cell is returned once per grid column it spans: keep it once.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)
