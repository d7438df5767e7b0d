"""One reader per format, chosen by file suffix. Every reader takes the file's bytes (read once,
also hashed for the doc id) and returns the documents in it: one for a text file, one per record
for CSV/JSONL. A problem the user can fix is a `ReadError` whose message is the reason.

The HTML, Word and PDF readers are imported when a file of theirs comes (bs4 alone takes ~0.2 s
to import), so a corpus of PDFs never loads bs4 or python-docx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from doctune.ingest.document import Extracted, ReadError
from doctune.ingest.records import read_csv, read_jsonl
from doctune.ingest.text import read_markdown, read_text

Reader = Callable[[Path, bytes], list[Extracted]]


def read_html(path: Path, data: bytes) -> list[Extracted]:
    from doctune.ingest.html import read_html

    return read_html(path, data)


def read_docx(path: Path, data: bytes) -> list[Extracted]:
    from doctune.ingest.docx import read_docx

    return read_docx(path, data)


READERS: dict[str, Reader] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".docx": read_docx,
    ".csv": read_csv,
    ".jsonl": read_jsonl,
}
SUFFIXES = (".pdf", *READERS)


def read_document(path: Path, data: bytes, *, password: str | None = None) -> list[Extracted]:
    """The documents in a file; raises ReadError for a file that cannot be read."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from doctune.ingest.pdf import read_pdf

        return read_pdf(path, data, password)
    reader = READERS.get(suffix)
    if reader is None:
        raise ReadError(
            f"unsupported format '{suffix or path.name}' (readable: {', '.join(SUFFIXES)})"
        )
    return reader(path, data)
