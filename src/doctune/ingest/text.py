"""Markdown and plain-text readers.

Markdown: ATX (`## Title`) and setext (underlined) headings become sections; paragraphs are
re-flowed onto one line; lists, tables and fenced code keep their lines, because there a line
break carries meaning (one list item, one table row). Plain text: blank lines separate
paragraphs, and a short numbered or capitalised line on its own reads as a heading.
"""

from __future__ import annotations

import re
from pathlib import Path

from doctune.ingest.document import (
    Extracted,
    ReadError,
    TextBuilder,
    clean_inline,
    clean_lines,
    heading_level_from_number,
    looks_like_heading,
)

_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; a NUL byte means it is not text at all."""
    if b"\x00" in data[:8192]:
        raise ReadError("binary data, not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            raise ReadError("not UTF-8 or Windows-1252 text") from None


def read_markdown(path: Path, data: bytes) -> list[Extracted]:
    lines = decode_text(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = _skip_front_matter(lines)
    builder = TextBuilder()
    para: list[str] = []
    fenced = False

    def flush() -> None:
        if para:
            _write_paragraph(builder, para)
            para.clear()

    for line in lines:
        if _FENCE.match(line):
            para.append(line)
            if fenced:
                flush()
            fenced = not fenced
            continue
        if fenced:
            para.append(line)
        elif not line.strip():
            flush()
        elif atx := _ATX.match(line):
            flush()
            builder.heading(atx.group(2), len(atx.group(1)))
        elif _SETEXT.match(line) and len(para) == 1 and not _LIST_ITEM.match(para[0]):
            builder.heading(para.pop(), 1 if line.strip().startswith("=") else 2)
        elif _THEMATIC_BREAK.match(line) and not para:
            continue
        elif _TABLE_RULE.match(line) and "|" in line:
            continue  # the |---|---| rule under a table header says nothing
        else:
            para.append(line)
    flush()
    return [builder.build()]


def _skip_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                return lines[i + 1 :]
    return lines


def _write_paragraph(builder: TextBuilder, lines: list[str]) -> None:
    if _FENCE.match(lines[0]):
        builder.block(clean_lines("\n".join(lines)))  # code keeps every line
        return
    structured = any(_LIST_ITEM.match(line) or line.lstrip().startswith("|") for line in lines)
    if not structured:
        builder.block(clean_inline(" ".join(lines)))
        return
    # One line per list item or table row; a wrapped item's continuation lines re-join it.
    rows: list[str] = []
    for line in lines:
        if not rows or _LIST_ITEM.match(line) or line.lstrip().startswith("|"):
            rows.append(line)
        else:
            rows[-1] = f"{rows[-1]} {line.strip()}"
    builder.block(clean_lines("\n".join(rows)))


def read_text(path: Path, data: bytes) -> list[Extracted]:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    builder = TextBuilder()
    for para in re.split(r"\n\s*\n", text):
        lines = [line for line in para.split("\n") if line.strip()]
        if not lines:
            continue
        # A heading written directly above its paragraph, with no blank line between.
        if len(lines) > 1 and looks_like_heading(lines[0]):
            _heading(builder, lines.pop(0))
        if len(lines) == 1 and looks_like_heading(lines[0]):
            _heading(builder, lines[0])
        elif any(_LIST_ITEM.match(line) for line in lines):
            builder.block(clean_lines("\n".join(lines)))
        else:
            builder.block(clean_inline(" ".join(lines)))
    return [builder.build()]


def _heading(builder: TextBuilder, line: str) -> None:
    builder.heading(line, heading_level_from_number(line.strip()) or 1)
