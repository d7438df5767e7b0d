"""What every reader returns: a document's extracted text, its blocks (headings and paragraphs)
with character offsets into that text, and where each page begins.

Readers never hand back text that the offsets do not point into: they build the text through
`TextBuilder`, which appends blocks and records offsets as it goes, so `text[block.start:block.end]`
is the block by construction and chunk offsets inherit that guarantee.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# Control characters other than newline and tab (a PDF's text layer and old Word files carry them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")
_NUMBERED = re.compile(r"^(?P<num>(?:\d{1,2}\.)*\d{1,2})\.?\s+(?P<title>\S.*)$")


class ReadError(Exception):
    """A file that cannot be turned into text; the message is the reason, one line, no path."""


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    section: tuple[str, ...]
    heading: bool = False


@dataclass
class Extracted:
    """One document's text. `part` is "#3" for the third record of a CSV/JSONL file, else ""."""

    text: str
    blocks: list[Block]
    page_starts: dict[int, int] = field(default_factory=dict)
    page_count: int | None = None
    part: str = ""
    doc_id: str | None = None  # a reader's own id; else ingest derives one from the path
    fallback_pages: list[int] = field(default_factory=list)  # PDF pages read by pdfminer.six

    def pages_between(self, start: int, end: int) -> list[int]:
        """Pages whose text overlaps [start, end): a page runs from its start to the next one's."""
        return pages_in(self.page_ranges(), start, end)

    def page_ranges(self) -> list[tuple[int, int, int]]:
        """(page, start, end) of every page, in the order of the text (computed once for all of
        a document's chunks rather than sorted again for each)."""
        if not self.page_starts:
            return []
        ordered = sorted(self.page_starts.items(), key=lambda kv: kv[1])
        ends = [s for _, s in ordered[1:]] + [len(self.text)]
        return [(page, a, b) for (page, a), b in zip(ordered, ends, strict=True)]


def pages_in(ranges: list[tuple[int, int, int]], start: int, end: int) -> list[int]:
    return sorted(page for page, a, b in ranges if a < end and b > start)


def clean_inline(text: str) -> str:
    """One line of prose: control characters out, runs of spaces and line breaks to one space,
    ends trimmed."""
    if text.isascii() and text.isprintable():
        # Printable ASCII: NFC changes nothing, no control character, and the only space is
        # " ": split/join gives what the two regexes give, at a fraction of the cost; and a
        # text with no space at its ends and no two in a row is its own result already.
        if "  " in text or text.startswith(" ") or text.endswith(" "):
            return " ".join(text.split())
        return text
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    return _SPACES.sub(" ", text).strip()


def clean_lines(text: str) -> str:
    """Text whose line breaks mean something (lists, table rows, code): each line cleaned,
    empty lines dropped."""
    lines = (
        clean_inline(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )
    return "\n".join(line for line in lines if line)


def heading_level_from_number(title: str) -> int | None:
    """'2.3 Hydrogenation' -> 2, '4 Quality' -> 1; None when the title is not numbered."""
    match = _NUMBERED.match(title)
    if not match:
        return None
    return match.group("num").count(".") + 1


def looks_like_heading(line: str) -> bool:
    """A plain-text line that reads as a heading: short, no closing punctuation, and either
    numbered ('3.1 Work-up') or written in capitals ('BACKGROUND OF THE INVENTION')."""
    line = line.strip()
    if not line or len(line) > 90 or line[-1] in ".,;:!?" or "\n" in line:
        return False
    if len(line.split()) > 12:
        return False
    numbered = _NUMBERED.match(line)
    if numbered:
        title = numbered.group("title")
        # "12 h at 40 °C" is a line of data, not a heading: headings start with a capital.
        return title[:1].isupper() and not re.match(r"^[A-Z]?\d", title)
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


class TextBuilder:
    """Appends blocks to a document's text, tracking offsets, the heading path and page starts."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._stack: list[tuple[int, str]] = []  # (level, heading) from the outermost in
        self._section: tuple[str, ...] = ()  # the stack's titles, kept in step with it
        self.blocks: list[Block] = []
        self.page_starts: dict[int, int] = {}
        self._pending_page: int | None = None

    @property
    def section(self) -> tuple[str, ...]:
        return self._section

    def _set_stack(self, stack: list[tuple[int, str]]) -> None:
        self._stack = stack
        self._section = tuple([title for _, title in stack])

    def context(self, *titles: str) -> None:
        """Set the heading path without writing any text (a record's name, a file's title)."""
        self._set_stack([(i, t) for i, t in enumerate(titles) if t])

    def page(self, number: int) -> None:
        """The next text written belongs to page `number` (1-based)."""
        self._pending_page = number

    def heading(self, title: str, level: int) -> None:
        title = clean_inline(title)
        if not title:
            return
        # A heading closes every open heading at its level or deeper.
        self._set_stack([*(e for e in self._stack if e[0] < level), (level, title)])
        self._write(title, heading=True, sep="\n\n")

    def block(self, text: str, *, sep: str = "\n\n") -> None:
        """A paragraph (already cleaned by the reader); `sep` joins it to the previous block."""
        text = text.strip()
        if text:
            self._write(text, heading=False, sep=sep)

    def extend(self, text: str, *, joiner: str = " ") -> None:
        """Continue the last block (a paragraph running over a page break)."""
        text = text.strip()
        if not text:
            return
        if not self.blocks or self.blocks[-1].heading:
            self.block(text)
            return
        last = self.blocks[-1]
        self._append(joiner)
        self._note_page()
        self._append(text)
        self.blocks[-1] = Block(last.start, self._length, last.section, False)

    def extend_heading(self, text: str) -> None:
        """Continue the heading just written (a title wrapped onto a second line)."""
        text = clean_inline(text)
        last = self.blocks[-1] if self.blocks else None
        if not text or last is None or not last.heading or last.end != self._length:
            raise ValueError("extend_heading() must directly follow heading()")
        self._append(" " + text)
        level, title = self._stack[-1]
        self._set_stack([*self._stack[:-1], (level, f"{title} {text}")])
        self.blocks[-1] = Block(last.start, self._length, self.section, True)

    @property
    def last_char(self) -> str:
        return self._parts[-1][-1:] if self._parts else ""

    def build(self, **kwargs: object) -> Extracted:
        return Extracted(
            text="".join(self._parts),
            blocks=list(self.blocks),
            page_starts=dict(self.page_starts),
            **kwargs,  # type: ignore[arg-type]
        )

    def _write(self, text: str, *, heading: bool, sep: str) -> None:
        # What _append(sep), _note_page() and _append(text) do, inline: a call per block each.
        parts, start = self._parts, self._length
        if start:
            parts.append(sep)
            start += len(sep)
            self._length = start
        if self._pending_page is not None:
            self.page_starts.setdefault(self._pending_page, start)
            self._pending_page = None
        parts.append(text)
        self._length = end = start + len(text)
        self.blocks.append(Block(start, end, self._section, heading))

    def _note_page(self) -> None:
        if self._pending_page is not None:
            self.page_starts.setdefault(self._pending_page, self._length)
            self._pending_page = None

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)
