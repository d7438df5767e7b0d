"""Stable ids: a document's id comes from its path, a chunk's from its own text and which repeat
of that text it is, so an edit or an added document changes only the ids of what it touched."""

from __future__ import annotations

import asyncio
import json
import random
import shutil

from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk
from doctune.ingest import stage as ingest_stage
from doctune.ingest.chunking import Chunker, chunk_ids, document_id, to_chunks
from doctune.ingest.document import Extracted, TextBuilder
from doctune.models.tokens import estimate_tokens

WORDS = [
    "bromine",
    "catalyst",
    "iron",
    "reactor",
    "mixture",
    "temperature",
    "ester",
    "yield",
    "acid",
    "sodium",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words)).capitalize() + "."


def paragraphs(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(sentence(rng, rng.randint(4, 14)) for _ in range(rng.choice([1, 2, 3, 5])))
        for _ in range(count)
    ]


def document(sections: list[list[str]]) -> Extracted:
    builder = TextBuilder()
    for number, paras in enumerate(sections, start=1):
        builder.heading(f"{number} Section {number}", 1)
        for para in paras:
            builder.block(para)
    return builder.build()


def chunks_of(doc: Extracted) -> list[Chunk]:
    spans = Chunker(estimate_tokens, 120, 24).split(doc)
    return to_chunks(doc, spans, path="a.md", doc_id=document_id("a.md"), min_chars=0)


def test_an_edited_sentence_changes_only_the_chunks_that_hold_it() -> None:
    sections = [paragraphs(1, 8), paragraphs(2, 10), paragraphs(3, 8)]
    before = chunks_of(document(sections))
    old_sentence = sections[1][4].split(". ")[0]
    new_sentence = "Stir the mixture for twelve hours at reflux under nitrogen"  # longer
    sections[1][4] = sections[1][4].replace(old_sentence, new_sentence, 1)
    doc = document(sections)
    after = chunks_of(doc)
    at = doc.text.index(new_sentence)
    end = at + len(new_sentence)

    old_ids = {c.id for c in before}
    changed = [c for c in after if c.id not in old_ids]
    assert changed  # the edit is seen
    assert all(c.start < end and c.end > at for c in changed)  # each holds the edit
    kept = [c for c in after if c.id in old_ids]
    assert len(kept) == len(after) - len(changed) >= len(before) - 3
    # Chunks after the edit moved in the text and kept their ids (offsets are not in the id).
    old_start = {c.id: c.start for c in before}
    assert any(old_start[c.id] != c.start for c in kept)


def test_an_added_sentence_changes_no_chunk_of_the_other_sections() -> None:
    sections = [paragraphs(4, 8), paragraphs(5, 12), paragraphs(6, 8)]
    before = chunks_of(document(sections))
    sections[1][5] += " The filtrate was washed twice with cold heptane."
    after = chunks_of(document(sections))
    old_ids = {c.id for c in before}
    changed = {c.section for c in after if c.id not in old_ids}
    assert changed == {"2 Section 2"}
    for section in ("1 Section 1", "3 Section 3"):
        assert [c.id for c in before if c.section == section] == [
            c.id for c in after if c.section == section
        ]


def repeated_document(copies: int) -> Extracted:
    """The same heading and paragraph `copies` times, one other section after the first."""
    builder = TextBuilder()
    for copy in range(copies):
        builder.heading("Work-up", 1)
        builder.block("Wash the solid with water. Dry it at 60 °C under vacuum.")
        if copy == 0:
            builder.heading("Analysis", 1)
            builder.block("Another step entirely.")
    return builder.build()


def test_duplicate_paragraphs_get_distinct_ids() -> None:
    chunks = chunks_of(repeated_document(3))
    repeated = [c for c in chunks if c.section == "Work-up"]
    assert len(repeated) == 3 and len({c.text for c in repeated}) == 1
    assert len({c.id for c in chunks}) == len(chunks)
    # The copies there were keep their ids when one more is added after them.
    more = chunks_of(repeated_document(4))
    assert [c.id for c in more if c.section == "Work-up"][:3] == [c.id for c in repeated]
    same = repeated[0].text
    assert chunk_ids("d", [same, same]) != chunk_ids("e", [same, same])  # per document


# -- the stage ----------------------------------------------------------------------------------
def md(seed: int) -> str:
    return "# Procedure\n\n" + "\n\n".join(paragraphs(seed, 10))


CSV = (
    "name,CAS number,boiling point\nIsobutylbenzene,538-93-2,172.8 °C at 1 atm\n"
    "Bromine,7726-95-6,{} °C at 1 atm\n"
)


def ingest(ctx) -> list[Chunk]:
    asyncio.run(ingest_stage.run(ctx))
    return read_jsonl(ctx.out_dir / "ingest" / "chunks.jsonl", Chunk)


def test_adding_a_document_changes_no_existing_chunk_id(make_project) -> None:
    ctx = make_project({"b.md": md(7), "d/c.md": md(8)})
    before = ingest(ctx)
    (ctx.documents_dir / "a.md").write_text(md(9), encoding="utf-8")  # sorts first
    (ctx.documents_dir / "d" / "b2.md").write_text(md(10), encoding="utf-8")
    after = ingest(ctx)
    assert {c.id for c in before} < {c.id for c in after}
    assert {c.doc_id for c in after} == {
        document_id(p) for p in ("a.md", "b.md", "d/b2.md", "d/c.md")
    }


def test_an_edited_document_keeps_its_id_and_the_report_tells_the_edit(make_project) -> None:
    ctx = make_project({"a.md": md(11), "t.csv": CSV.format(58.8)})
    before = ingest(ctx)
    report = ctx.out_dir / "ingest" / "report.json"
    sha_before = {f["path"]: f["sha256"] for f in json.loads(report.read_text())["files"]}
    text = md(11) + " A last sentence about the yield."
    (ctx.documents_dir / "a.md").write_text(text, encoding="utf-8")
    (ctx.documents_dir / "t.csv").write_text(CSV.format(59.0), encoding="utf-8")
    after = ingest(ctx)
    files = json.loads(report.read_text())["files"]
    assert all(f["sha256"] != sha_before[f["path"]] for f in files)  # the cache saw both edits
    assert all(not f["cached"] for f in files)
    doc_ids = {c.path: c.doc_id for c in after}
    assert doc_ids == {c.path: c.doc_id for c in before}
    assert doc_ids == {p: document_id(p) for p in ("a.md", "t.csv#1", "t.csv#2")}
    # Only the last chunk of a.md and the second record changed.
    changed = {c.path for c in after if c.id not in {b.id for b in before}}
    assert changed == {"a.md", "t.csv#2"}
    assert [c.id for c in after if c.path == "a.md"][:-1] == [
        c.id for c in before if c.path == "a.md"
    ][:-1]


def test_a_renamed_document_gets_the_ids_a_fresh_read_gives(make_project) -> None:
    ctx = make_project({"a.md": md(12), "r.csv": CSV.format(58.8)})
    ingest(ctx)
    (ctx.documents_dir / "a.md").rename(ctx.documents_dir / "moved.md")
    (ctx.documents_dir / "r.csv").rename(ctx.documents_dir / "s.csv")
    from_cache = ingest(ctx)
    assert {c.path.split("#")[0] for c in from_cache} == {"moved.md", "s.csv"}
    shutil.rmtree(ctx.out_dir / "ingest" / "cache")
    assert ingest(ctx) == from_cache
