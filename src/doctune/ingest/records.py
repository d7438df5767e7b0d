"""CSV and JSONL records: the talk's "authoritative databases".

One record becomes one document of `field: value` lines, with its own doc id and a path such as
`substances.csv#3` (the third record). A row that does not fit the header, or a JSONL line that is
not a JSON object, makes the whole file an error naming the line: ingesting the rest of a broken
table would hide the break.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from doctune.ingest.document import Extracted, ReadError, TextBuilder, clean_inline
from doctune.ingest.text import decode_text

# A field with one of these names titles the record (its section); else the first field does.
_TITLE_FIELDS = ("name", "title", "substance", "compound", "id")


def read_csv(path: Path, data: bytes) -> list[Extracted]:
    text = decode_text(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(rows)
    except StopIteration:
        raise ReadError("no header row") from None
    except csv.Error as exc:
        raise ReadError(f"line 1: {exc}") from None
    names = [clean_inline(h) or f"column {i + 1}" for i, h in enumerate(header)]
    if not any(clean_inline(h) for h in header):
        raise ReadError("empty header row")
    records: list[list[tuple[str, Any]]] = []
    try:
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(names):
                raise ReadError(
                    f"line {rows.line_num}: {len(row)} fields, the header has {len(names)}"
                )
            # A short row leaves its last fields empty.
            records.append(list(zip(names, row, strict=False)))
    except csv.Error as exc:
        raise ReadError(f"line {rows.line_num}: {exc}") from None
    return _documents(records)


def read_jsonl(path: Path, data: bytes) -> list[Extracted]:
    records: list[list[tuple[str, Any]]] = []
    for lineno, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReadError(f"line {lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ReadError(f"line {lineno}: a record must be a JSON object")
        records.append(_flatten(value))
    return _documents(records)


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects become dotted keys; lists of plain values are joined with '; '."""
    out: list[tuple[str, Any]] = []
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.extend(_flatten(item, name + "."))
        elif isinstance(item, list) and all(not isinstance(v, (dict, list)) for v in item):
            out.append((name, "; ".join("" if v is None else str(v) for v in item)))
        elif isinstance(item, list):
            out.append((name, json.dumps(item, ensure_ascii=False)))
        else:
            out.append((name, item))
    return out


def _documents(records: list[list[tuple[str, Any]]]) -> list[Extracted]:
    if not records:
        raise ReadError("no records")
    docs = []
    for number, fields in enumerate(records, start=1):
        pairs = [(k, _value_text(v)) for k, v in fields]
        pairs = [(k, v) for k, v in pairs if v]
        if not pairs:
            continue
        builder = TextBuilder()
        builder.context(_title(pairs))
        for i, (key, value) in enumerate(pairs):
            builder.block(f"{key}: {value}", sep="\n" if i else "")
        # Its id comes from the file's path and this part (ingest's document_id), not the bytes.
        docs.append(builder.build(part=f"#{number}"))
    return docs


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return clean_inline(str(value))


def _title(pairs: list[tuple[str, str]]) -> str:
    for key, value in pairs:
        if key.lower() in _TITLE_FIELDS:
            return value
    return pairs[0][1]
