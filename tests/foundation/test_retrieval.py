"""BM25 chunk retrieval: relevant chunks first, deterministic ties, no noise results."""

from __future__ import annotations

from doctune.foundation.records import Chunk, text_sha256
from doctune.foundation.retrieval import ChunkIndex, tokenize


def chunk(i: int, text: str, section: str | None = None) -> Chunk:
    return Chunk(
        id=f"c{i}",
        doc_id="d",
        path="doc.md",
        index=i,
        text=text,
        section=section,
        start=0,
        end=len(text),
        n_tokens=len(text) // 4,
        sha256=text_sha256(text),
    )


CHUNKS = [
    chunk(0, "Isobutylbenzene is acylated with acetic anhydride and aluminium chloride."),
    chunk(1, "The molar ratio of isobutylbenzene to bromine is 1:1.05 in the bromination."),
    chunk(2, "Ibuprofen is purified by recrystallisation from hexane."),
    chunk(3, "Carbonylation uses carbon monoxide and a palladium catalyst.", "BHC route"),
]


def test_tokenize_splits_names_and_drops_stop_words() -> None:
    assert tokenize("The 1-Bromo-4-isobutylbenzene, in CCl4!") == [
        "1",
        "bromo",
        "4",
        "isobutylbenzene",
        "ccl4",
    ]


def test_search_ranks_the_chunk_that_names_the_subject_first() -> None:
    index = ChunkIndex(CHUNKS)
    hits = index.search("What solvent is used for the bromination of isobutylbenzene?", 2)
    assert [c.id for c, _ in hits] == ["c1", "c0"]
    assert hits[0][1] > hits[1][1] > 0


def test_section_headings_are_searchable() -> None:
    hits = ChunkIndex(CHUNKS).search("BHC route", 3)
    assert [c.id for c, _ in hits] == ["c3"]


def test_ties_break_by_position_and_are_stable() -> None:
    same = [chunk(i, "Hydrogenation over Raney nickel gives the alcohol.") for i in range(5)]
    for _ in range(3):
        hits = ChunkIndex(same).search("raney nickel", 3)
        assert [c.id for c, _ in hits] == ["c0", "c1", "c2"]
        assert len({s for _, s in hits}) == 1


def test_no_match_returns_nothing_and_k_bounds_results() -> None:
    index = ChunkIndex(CHUNKS)
    assert index.search("quantum chromodynamics", 3) == []
    assert index.search("the of and", 3) == []  # only stop words
    assert len(index.search("isobutylbenzene", 10)) == 2
    assert index.search("isobutylbenzene", 0) == []


def test_empty_index_and_empty_chunks() -> None:
    assert ChunkIndex([]).search("anything", 3) == []
    index = ChunkIndex([chunk(0, "..."), chunk(1, "Bromine is added dropwise.")])
    assert [c.id for c, _ in index.search("bromine", 3)] == ["c1"]
    assert len(index.scores("bromine")) == 2
