"""Chunking that respects the document's structure.

Paragraphs are packed into a chunk up to `chunk_tokens`; a heading always starts a new chunk (a
chunk never mixes two sections, so its `section` is true of all of it); a paragraph larger than a
chunk is split at sentence boundaries, and a sentence larger than a chunk at word boundaries.
When a chunk closes because it is full, the next one of the same section starts with the last
sentences of the previous one, up to `overlap_tokens`, so a fact cut at the boundary is whole in
one of the two.

A chunk is a slice of the document's extracted text, `text[start:end]`; sizes are counted on that
slice with the real counter, so `n_tokens <= chunk_tokens` holds for every chunk.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from doctune.foundation.records import Chunk, stable_id, text_sha256
from doctune.ingest.document import Extracted, pages_in
from doctune.models.tokens import TokenCounter

# After these a full stop does not end a sentence ("approx. 40 °C", "e.g. THF").
_ABBREVIATIONS = {
    "e.g", "i.e", "approx", "ca", "fig", "figs", "no", "nos", "vs", "cf", "al", "dr", "prof",
    "eq", "ref", "resp", "vol", "eur", "st", "mr", "ms",
}  # fmt: skip
# A sentence end followed by spaces and a capital or digit, or a run of line breaks. Written as
# one character class first and the rest by which character it was, not as an alternation of
# the two: a pattern that opens with a class lets the regex engine skip ahead to the next such
# character (7x faster over a page of prose), and it matches the same text as
# r"[.!?…][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+" would.
_BOUNDARY = re.compile(r"[.!?…\n](?:(?<=\n)\n*|(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9]))")


@dataclass(frozen=True)
class Span:
    """A chunk before it becomes a record: offsets into the document text, and its section."""

    start: int
    end: int
    section: tuple[str, ...]
    n_tokens: int


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    section: tuple[str, ...]
    heading: bool
    tokens: int


@dataclass
class _Open:
    """The chunk being filled: its units, where it starts (before its first unit when it opens
    with the previous chunk's last sentences) and its token count (exact or a close estimate)."""

    units: list[_Unit] = field(default_factory=list)
    start: int = 0
    tokens: int = 0
    _body: bool = False  # seen a unit that is no heading (asked once per unit added, not rescanned)

    @property
    def has_body(self) -> bool:
        # Units are only added while the chunk fills (popped only as it closes, after which it
        # is not asked): once it has a body it keeps one.
        if not self._body:
            self._body = any(not u.heading for u in self.units)
        return self._body


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences (and lines) of text[start:end] as absolute offsets, each trimmed of spaces."""
    end = len(text) if end is None else end
    spans, cursor = [], start
    for match in _BOUNDARY.finditer(text, start, end):
        at, boundary = match.start(), match.group()
        if boundary[0] in ".…" and _is_abbreviation(text, start, at):
            continue
        _add_span(spans, text, cursor, at if "\n" in boundary else at + len(boundary.rstrip()))
        cursor = match.end()
    _add_span(spans, text, cursor, end)
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    """text[start:end] trimmed of spaces, if anything is left (most spans need no trimming)."""
    if end > start and (text[start].isspace() or text[end - 1].isspace()):
        start, end = _trim(text, start, end)
    if end > start:
        spans.append((start, end))


def _is_abbreviation(text: str, floor: int, dot: int) -> bool:
    word_start = dot
    while word_start > floor and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lstrip("([\"'")
    # A capital letter alone ("J. Smith") is an initial; a small one is a unit ("for 12 h.").
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _sentence_starts(text: str, index: int) -> bool:
    """Whether a sentence starts at `index`: the text before it ends a sentence or a line."""
    i = index
    while i > 0 and text[i - 1] in " \t\"')]":
        i -= 1
    return i == 0 or text[i - 1] in "\n.!?…"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class Chunker:
    """Splits extracted documents into spans of at most `chunk_tokens` tokens."""

    def __init__(self, count: TokenCounter, chunk_tokens: int, overlap_tokens: int) -> None:
        if overlap_tokens >= chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        self.count = count
        self.limit = chunk_tokens
        self.overlap = overlap_tokens
        self.text = ""  # the document being split
        # Below limit - slack the sum of the parts' counts is trusted; tokenizers differ from
        # that sum by a token or two at each join, which the exact count near the limit catches.
        self.slack = max(4, chunk_tokens // 16)

    def split(self, doc: Extracted) -> list[Span]:
        self.text = doc.text
        queue = deque(self._units(doc))
        spans: list[Span] = []
        chunk = _Open()
        overlap: int | None = None  # where the next chunk starts when the last one was full
        split_at: set[int] = set()  # where a paragraph was cut to fit after headings (once only)
        while queue or chunk.units:
            if not queue:  # the last chunk; closing it may hand units back
                spans.append(self._close(chunk, queue))
                overlap, chunk = (self._overlap_start(chunk.units) if queue else None), _Open()
                continue
            unit = queue.popleft()
            if chunk.units and unit.heading and chunk.has_body:
                queue.appendleft(unit)  # before _close, which may hand units back ahead of it
                spans.append(self._close(chunk, queue))  # a heading starts a chunk: no overlap
                overlap, chunk = None, _Open()
            elif not chunk.units:
                chunk = self._open(unit, overlap)
                overlap = None
            elif self._add(chunk, unit):
                pass
            elif not chunk.has_body and unit.start not in split_at:
                # Headings alone must not become a chunk: cut the paragraph to fit after them.
                split_at.add(unit.start)
                queue.extendleft(reversed(self._pieces(unit, self._room(chunk.start, unit.start))))
            else:
                queue.appendleft(unit)
                spans.append(self._close(chunk, queue))
                overlap, chunk = self._overlap_start(chunk.units), _Open()
        return spans

    def _open(self, unit: _Unit, overlap: int | None) -> _Open:
        if overlap is not None:
            tokens = self.count(self.text[overlap : unit.end])
            if tokens <= self.limit:
                return _Open([unit], overlap, tokens)
        return _Open([unit], unit.start, unit.tokens)

    def _add(self, chunk: _Open, unit: _Unit) -> bool:
        """Add the unit if the chunk stays within the limit. Far from the limit the sum of the
        parts' counts decides (tokenizing the growing chunk again for every paragraph is what
        makes chunking slow); near it, the real count of the joined text does."""
        estimate = chunk.tokens + unit.tokens + 1
        if chunk.has_body and estimate <= self.limit - self.slack:
            chunk.units.append(unit)
            chunk.tokens = estimate
            return True
        tokens = self.count(self.text[chunk.start : unit.end])
        if tokens > self.limit:
            return False
        chunk.units.append(unit)
        chunk.tokens = tokens
        return True

    def _close(self, chunk: _Open, queue: deque[_Unit]) -> Span:
        """The chunk as a span, counted for real; if the estimate let it grow past the limit,
        its last paragraphs go back to the queue for the next chunk."""
        tokens = self.count(self.text[chunk.start : chunk.units[-1].end])
        while tokens > self.limit and len(chunk.units) > 1:
            queue.appendleft(chunk.units.pop())
            tokens = self.count(self.text[chunk.start : chunk.units[-1].end])
        return Span(chunk.start, chunk.units[-1].end, chunk.units[-1].section, tokens)

    # -- units --------------------------------------------------------------------------------
    def _units(self, doc: Extracted) -> list[_Unit]:
        units = []
        for block in doc.blocks:
            tokens = self.count(self.text[block.start : block.end])
            unit = _Unit(block.start, block.end, block.section, block.heading, tokens)
            if tokens <= self.limit:
                units.append(unit)
            else:
                units.extend(self._pieces(unit, self.limit))
        return units

    def _pieces(self, unit: _Unit, room: int) -> list[_Unit]:
        """A unit cut into sentences (then words) of at most `room` tokens, the first included."""
        out = []
        for a, b in sentence_spans(self.text, unit.start, unit.end):
            tokens = self.count(self.text[a:b])
            pieces = [(a, b)] if tokens <= room else self._word_pieces(a, b, room)
            out.extend(
                _Unit(x, y, unit.section, unit.heading, self.count(self.text[x:y]))
                for x, y in pieces
            )
            room = self.limit  # only the first piece must fit the space left after headings
        return out

    def _word_pieces(self, start: int, end: int, room: int) -> list[tuple[int, int]]:
        words = [
            (start + m.start(), start + m.end()) for m in re.finditer(r"\S+", self.text[start:end])
        ]
        pieces, first = [], 0
        while first < len(words):
            # Binary search for the most words from `first` that still fit (counted without the
            # leading space: a BPE counts " word" and "word" differently).
            lo, hi = first, len(words) - 1
            if self.count(self.text[words[first][0] : words[first][1]]) > room:
                # One "word" larger than a chunk (a long formula, an encoded blob): cut it.
                pieces += self._char_pieces(*words[first], room)
                first, room = first + 1, self.limit
                continue
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.count(self.text[words[first][0] : words[mid][1]]) <= room:
                    lo = mid
                else:
                    hi = mid - 1
            pieces.append((words[first][0], words[lo][1]))
            first, room = lo + 1, self.limit
        return pieces

    def _char_pieces(self, start: int, end: int, room: int) -> list[tuple[int, int]]:
        pieces = []
        while start < end:
            lo, hi = start + 1, end
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.count(self.text[start:mid]) <= room:
                    lo = mid
                else:
                    hi = mid - 1
            pieces.append((start, lo))
            start, room = lo, self.limit
        return pieces

    # -- sizes --------------------------------------------------------------------------------
    def _room(self, start: int, end: int) -> int:
        """Tokens left in a chunk whose text so far is text[start:end] (plus a separator)."""
        return max(1, self.limit - self.count(self.text[start:end]) - 2)

    def _overlap_start(self, units: list[_Unit]) -> int | None:
        """Start of the trailing sentences of a closed chunk that fit in `overlap_tokens`."""
        if not self.overlap:
            return None
        end = units[-1].end
        best = None
        for unit in reversed(units):
            if unit.heading:
                break
            for a, _ in reversed(sentence_spans(self.text, unit.start, unit.end)):
                # A piece of a run-on sentence is not a sentence: the overlap stops there.
                if self.count(self.text[a:end]) > self.overlap or not _sentence_starts(
                    self.text, a
                ):
                    return best
                best = a
        return best


def to_chunks(
    doc: Extracted, spans: list[Span], *, path: str, doc_id: str, min_chars: int
) -> list[Chunk]:
    """Chunk records for a document's spans; spans shorter than `min_chars` are dropped."""
    rows = chunk_rows(doc, spans, path=path, doc_id=doc_id, min_chars=min_chars)
    return [Chunk(**row) for row in rows]


def chunk_rows(
    doc: Extracted, spans: list[Span], *, path: str, doc_id: str, min_chars: int
) -> list[dict[str, Any]]:
    """What `to_chunks` makes, as the plain dicts a Chunk dumps to (its fields in its order),
    for the reading path that only writes them out: no model built and dumped again per chunk.
    """
    kept = [(s, doc.text[s.start : s.end]) for s in spans]
    kept = [(s, text) for s, text in kept if len(text.strip()) >= min_chars]
    digests = [text_sha256(text) for _, text in kept]  # each text hashed once: id and sha256
    ids = _ids_from_digests(doc_id, digests)
    ranges = doc.page_ranges()
    return [
        {
            "id": ids[index],
            "doc_id": doc_id,
            "path": path,
            "index": index,
            "text": text,
            "pages": pages_in(ranges, span.start, span.end),
            "section": " > ".join(span.section) or None,
            "start": span.start,
            "end": span.end,
            "n_tokens": span.n_tokens,
            "sha256": digests[index],
        }
        for index, (span, text) in enumerate(kept)
    ]


def document_id(path: str) -> str:
    """A file document's id: its path relative to documents/ (with "#3" for a record), so an edit
    keeps the id; the file's content hash, kept apart, is what tells an edit."""
    return stable_id("document", path)


def chunk_ids(doc_id: str, texts: list[str]) -> list[str]:
    """The ids of a document's chunks, in order: each from the chunk's own text and how many
    earlier chunks of the document have the same text (duplicate paragraphs stay distinct). No
    offset goes in, so an edit changes the ids of the chunks it touches and no others."""
    return _ids_from_digests(doc_id, [text_sha256(text) for text in texts])


def _ids_from_digests(doc_id: str, digests: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for digest in digests:
        occurrence = seen.get(digest, 0)
        seen[digest] = occurrence + 1
        ids.append(stable_id(doc_id, digest, occurrence))
    return ids
