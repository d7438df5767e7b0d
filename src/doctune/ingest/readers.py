"""One reader per format, chosen by file suffix. Every reader takes the file's bytes (read once,
also hashed for the doc id) and returns the documents in it: one for a text file, one per record
for CSV/JSONL. A problem the user can fix is a `ReadError` whose message is the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from doctune.ingest.document import Extracted, ReadError
from doctune.ingest.docx import read_docx
from doctune.ingest.html import read_html
from doctune.ingest.pdf import read_pdf
from doctune.ingest.records import read_csv, read_jsonl
from doctune.ingest.text import read_markdown, read_text

Reader = Callable[[Path, bytes], list[Extracted]]

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
        return read_pdf(path, data, password)
    reader = READERS.get(suffix)
    if reader is None:
        raise ReadError(
            f"unsupported format '{suffix or path.name}' (readable: {', '.join(SUFFIXES)})"
        )
    return reader(path, data)
