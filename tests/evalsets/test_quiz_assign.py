"""Which chunks get quizzes, how many and at which letters: fixed by each chunk's own id, so a
rerun after an edit or an added document re-asks (pays for) the chunks it touched, not every
chunk after the change."""

from __future__ import annotations

from collections import Counter

import pytest

from doctune.evalsets import quiz
from doctune.foundation.records import Chunk


def chunk(cid: str, index: int = 0) -> Chunk:
    text = f"Chunk {cid}: the acylation is run at 0-5 °C."
    return Chunk(
        id=cid,
        doc_id=cid.split(":")[0],
        path=f"{cid.split(':')[0]}.md",
        index=index,
        text=text,
        start=0,
        end=len(text),
        n_tokens=12,
        sha256="0" * 64,
    )


def plan(chunks: list[Chunk], count: int) -> dict[str, tuple[int, int]]:
    return {a.chunk.id: (a.n, a.first) for a in quiz.assign(chunks, count)}


CHUNKS = [chunk(f"d{i % 7}:c{i}", i) for i in range(77)]


@pytest.mark.parametrize("count", [12, 87, 200])
def test_the_count_is_exact_and_the_spread_even(count: int) -> None:
    found = plan(CHUNKS, count)
    assert sum(n for n, _ in found.values()) == count
    per = [n for n, _ in found.values()]
    assert max(per) - min(per) <= 1 and (count >= len(CHUNKS) or len(found) == count)


@pytest.mark.parametrize("count", [12, 87, 200])
def test_an_edited_chunk_re_asks_itself_and_at_most_one_other(count: int) -> None:
    before = plan(CHUNKS, count)
    edited = [chunk("d3:c10-edited", 10) if c.id == "d3:c10" else c for c in CHUNKS]
    after = plan(edited, count)
    changed = {c for c in before if c != "d3:c10" and before.get(c) != after.get(c)}
    # The edited chunk's rank moved: one chunk may have crossed the edge of the extras.
    assert len(changed) <= 1, changed


@pytest.mark.parametrize("count", [12, 87])
def test_an_added_document_re_asks_few_of_the_others(count: int) -> None:
    before = plan(CHUNKS, count)
    after = plan([*CHUNKS, *(chunk(f"new:c{i}", i) for i in range(5))], count)
    changed = [c for c in before if before.get(c) != after.get(c)]
    # Five ranks entered; each can push at most one chunk over the edge.
    assert len(changed) <= 5, changed
    # The old assignment, by running position, changed 10 of 12 and 70 of 77 here.


def test_the_answer_key_is_balanced_over_many_chunks() -> None:
    chunks = [chunk(f"d:c{i}", i) for i in range(800)]
    letters = Counter(
        quiz.LETTERS[(a.first + j) % 4] for a in quiz.assign(chunks, 800) for j in range(a.n)
    )
    # 800 draws of four letters: 200 each, two standard deviations are 24.5.
    assert all(abs(letters[x] - 200) <= 25 for x in quiz.LETTERS), letters
