"""Chunking: sizes against the token limit (estimate and a real BPE tokenizer), heading
boundaries, paragraph packing, sentence and word splits, overlap, offsets, min_chars."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import pytest

from doctune.ingest.chunking import Chunker, Span, sentence_spans, to_chunks
from doctune.ingest.document import Extracted, TextBuilder
from doctune.models.tokens import TokenCounter, estimate_tokens, get_token_counter

WORDS = [
    "isobutylbenzene",
    "bromine",
    "catalyst",
    "iron",
    "reactor",
    "mixture",
    "temperature",
    "hydrolysis",
    "ester",
    "yield",
    "acid",
    "sodium",
    "hydroxide",
    "methanol",
    "filtration",
    "crystals",
    "heptane",
    "nickel",
    "manganese",
    "coupling",
]


@pytest.fixture(scope="module")
def bpe_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small byte-level BPE tokenizer trained offline, saved as an hf tokenizer folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["[UNK]"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    rng = random.Random(1)
    tok.train_from_iterator([" ".join(rng.choices(WORDS, k=40)) for _ in range(200)], trainer)
    folder = tmp_path_factory.mktemp("bpe")
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(str(folder))
    return str(folder)


def random_sentence(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choices(WORDS, k=words))
    return f"{body[0].upper()}{body[1:]} at {rng.randint(20, 90)} °C for {rng.randint(1, 12)} h."


def random_document(seed: int) -> Extracted:
    """Sections (some nested, some back to back), paragraphs of 1-12 sentences, a few huge ones,
    one run-on 'sentence' with no full stop, list blocks joined by single newlines."""
    rng = random.Random(seed)
    builder = TextBuilder()
    for s in range(rng.randint(2, 6)):
        builder.heading(f"{s + 1} Section {s}", 1)
        if rng.random() < 0.3:
            builder.heading(f"{s + 1}.1 Sub {s}", 2)
        for _ in range(rng.randint(0, 6)):
            kind = rng.random()
            if kind < 0.1:
                builder.block(" ".join(rng.choices(WORDS, k=rng.randint(80, 300))))
            elif kind < 0.2:
                items = [f"- {random_sentence(rng, 5)}" for _ in range(rng.randint(2, 6))]
                builder.block("\n".join(items))
            else:
                n = rng.choice([1, 2, 3, 5, 12, 30])
                builder.block(" ".join(random_sentence(rng, rng.randint(4, 25)) for _ in range(n)))
    return builder.build()


def check_invariants(doc: Extracted, chunker: Chunker, count: TokenCounter) -> None:
    spans = chunker.split(doc)
    chunks = to_chunks(doc, spans, path="d.md", doc_id="d", min_chars=0)
    assert len(chunks) == len(spans)
    body = [b for b in doc.blocks if not b.heading]
    for chunk in chunks:
        # The slice, counted with the real counter, within the limit.
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.n_tokens == count(chunk.text) <= chunker.limit
        # One section per chunk: every paragraph it touches belongs to the chunk's section.
        touched = [b for b in body if b.start < chunk.end and b.end > chunk.start]
        assert {" > ".join(b.section) for b in touched} <= {chunk.section}
    # Together the chunks cover every word of every paragraph.
    covered = [False] * len(doc.text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    for block in doc.blocks:
        for i in range(block.start, block.end):
            assert covered[i] or doc.text[i].isspace(), (block, i)
    for prev, nxt in pairwise(chunks):
        assert nxt.start > prev.start and nxt.end > prev.end
        if nxt.start < prev.end:  # overlap: same section, sentences, within overlap_tokens
            assert nxt.section == prev.section
            assert count(doc.text[nxt.start : prev.end]) <= chunker.overlap
            assert nxt.start in {a for a, _ in sentence_spans(doc.text)} | {b.start for b in body}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("limit", "overlap"), [(40, 8), (96, 24), (384, 48), (64, 0)])
def test_invariants_with_estimate(seed: int, limit: int, overlap: int) -> None:
    check_invariants(
        random_document(seed), Chunker(estimate_tokens, limit, overlap), estimate_tokens
    )


@pytest.mark.parametrize("seed", range(6))
def test_invariants_with_real_tokenizer(bpe_tokenizer: str, seed: int) -> None:
    count = get_token_counter(bpe_tokenizer)
    assert count("isobutylbenzene") != estimate_tokens("isobutylbenzene")
    check_invariants(random_document(seed), Chunker(count, 64, 16), count)


def sentences_doc(n: int) -> Extracted:
    builder = TextBuilder()
    builder.heading("Procedure", 1)
    for p in range(n):
        builder.block(" ".join(f"Paragraph {p} sentence {s} is held at 40 °C." for s in range(4)))
    return builder.build()


def test_paragraphs_are_packed_whole_and_overlap_is_trailing_sentences() -> None:
    doc = sentences_doc(10)  # paragraphs of ~40 estimated tokens
    chunks = to_chunks(
        doc, Chunker(estimate_tokens, 100, 12).split(doc), path="p", doc_id="d", min_chars=0
    )
    ends = {b.end for b in doc.blocks}
    starts = {b.start for b in doc.blocks}
    assert len(chunks) > 3
    assert chunks[0].text.startswith("Procedure\n\nParagraph 0 sentence 0")
    for prev, nxt in pairwise(chunks):
        assert prev.end in ends  # no paragraph is cut when it fits a chunk
        overlap = doc.text[nxt.start : prev.end]
        assert overlap and overlap.endswith("is held at 40 °C.")
        assert estimate_tokens(overlap) <= 12
        new_part = doc.text[prev.end : nxt.end].lstrip()
        assert nxt.end - len(new_part) in starts  # fresh text starts at a paragraph


def test_heading_starts_a_chunk_without_overlap() -> None:
    builder = TextBuilder()
    builder.heading("A", 1)
    builder.block("Short text in section A, which ends here.")
    builder.heading("B", 1)
    builder.block("Short text in section B, which ends here too.")
    doc = builder.build()
    chunks = to_chunks(
        doc, Chunker(estimate_tokens, 200, 40).split(doc), path="p", doc_id="d", min_chars=0
    )
    assert [c.text for c in chunks] == [
        "A\n\nShort text in section A, which ends here.",
        "B\n\nShort text in section B, which ends here too.",
    ]
    assert [c.section for c in chunks] == ["A", "B"]


def test_oversized_paragraph_split_at_sentences() -> None:
    doc = sentences_doc(1)
    big = TextBuilder()
    big.block(
        " ".join(f"Sentence number {i} mentions 1.05 equiv and approx. 40 °C." for i in range(40))
    )
    doc = big.build()
    chunks = to_chunks(
        doc, Chunker(estimate_tokens, 60, 0).split(doc), path="p", doc_id="d", min_chars=0
    )
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number ") and chunk.text.endswith("40 °C.")
        assert chunk.n_tokens <= 60


def test_run_on_text_split_at_words() -> None:
    builder = TextBuilder()
    words = [f"w{i:03d}" for i in range(400)]
    builder.block(" ".join(words))
    doc = builder.build()
    chunks = to_chunks(
        doc, Chunker(estimate_tokens, 50, 10).split(doc), path="p", doc_id="d", min_chars=0
    )
    assert all(c.n_tokens <= 50 for c in chunks)
    seen = [w for c in chunks for w in c.text.split()]
    assert sorted(set(seen)) == words  # every word, none cut in half


def test_heading_is_not_left_alone_before_a_large_paragraph() -> None:
    builder = TextBuilder()
    builder.heading("2.3 A heading before a long paragraph", 2)
    builder.block(
        " ".join(f"Sentence {i} is about the reaction." for i in range(14))
    )  # ~fits alone
    doc = builder.build()
    limit = estimate_tokens(doc.text[doc.blocks[1].start : doc.blocks[1].end]) + 2
    spans = Chunker(estimate_tokens, limit, 0).split(doc)
    assert doc.text[spans[0].start : spans[0].end].startswith(
        "2.3 A heading before a long paragraph\n\nSentence 0"
    )
    assert all(s.n_tokens <= limit for s in spans)


def test_min_chars_drops_short_chunks_and_renumbers() -> None:
    builder = TextBuilder()
    builder.heading("A", 1)
    builder.block("Tiny.")
    builder.heading("B", 1)
    builder.block("This section is long enough to be kept as a chunk of its own.")
    doc = builder.build()
    chunks = to_chunks(
        doc, Chunker(estimate_tokens, 100, 10).split(doc), path="p", doc_id="d", min_chars=30
    )
    assert [(c.index, c.section) for c in chunks] == [(0, "B")]


def test_sentence_spans_respect_abbreviations_decimals_and_lines() -> None:
    text = "Add approx. 1.05 equiv of bromine, e.g. slowly. Stir 3 h at 35 °C! Filter.\n- item one\n- item two"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Add approx. 1.05 equiv of bromine, e.g. slowly.",
        "Stir 3 h at 35 °C!",
        "Filter.",
        "- item one",
        "- item two",
    ]


def test_chunks_are_deterministic_and_ids_stable(tmp_path: Path) -> None:
    doc = random_document(3)
    one = to_chunks(
        doc, Chunker(estimate_tokens, 96, 24).split(doc), path="a.md", doc_id="x", min_chars=10
    )
    two = to_chunks(
        doc, Chunker(estimate_tokens, 96, 24).split(doc), path="a.md", doc_id="x", min_chars=10
    )
    assert one == two
    assert len({c.id for c in one}) == len(one)


def test_a_word_larger_than_a_chunk_is_cut() -> None:
    builder = TextBuilder()
    builder.block("Intro words here. " + "X" * 1000 + " and the end.")
    doc = builder.build()
    chunks = to_chunks(
        doc, Chunker(estimate_tokens, 40, 8).split(doc), path="p", doc_id="d", min_chars=0
    )
    assert all(c.n_tokens <= 40 for c in chunks)
    assert "".join(c.text for c in chunks if set(c.text) == {"X"}).count("X") >= 800


def test_limit_holds_when_joins_cost_more_than_estimated() -> None:
    # A counter for which every paragraph join costs 6 tokens, not the 1 the packing estimate
    # assumes: chunks packed on the estimate overshoot and must hand paragraphs back.
    def count(text: str) -> int:
        return len(text.split()) + 5 * text.count("\n\n")

    builder = TextBuilder()
    builder.heading("Section", 1)
    for p in range(30):
        builder.block(" ".join(f"w{p}x{i}" for i in range(9)) + ".")
    doc = builder.build()
    chunker = Chunker(count, 100, 12)
    check_invariants(doc, chunker, count)
    spans = chunker.split(doc)
    assert max(s.n_tokens for s in spans) > 80  # packed close to the limit, not just safe


@pytest.mark.parametrize("seed", range(8))
def test_invariants_when_joins_cost_more_than_estimated(seed: int) -> None:
    def count(text: str) -> int:
        return estimate_tokens(text) + 6 * text.count("\n")

    check_invariants(random_document(seed), Chunker(count, 96, 16), count)


def test_boundary_regex_matches_what_the_plain_alternation_matches() -> None:
    """The sentence boundary is written for speed (a class first, then a branch on which
    character it was); on random text made of every character the rule looks at, and random
    bounds, it finds the same boundaries as the plain alternation."""
    import re

    from doctune.ingest.chunking import _BOUNDARY

    plain = re.compile(r"[.!?…][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
    rng = random.Random(7)
    alphabet = "ab A1.!?…\n\n \t\"')]([x-"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50)))
        start, end = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
        found = [(m.span(), m.group()) for m in _BOUNDARY.finditer(text, start, end)]
        assert found == [(m.span(), m.group()) for m in plain.finditer(text, start, end)], text
    assert [m.group() for m in _BOUNDARY.finditer("It ends. Then\n\nnext! (A")] == [
        ". ",
        "\n\n",
        "! ",
    ]


def test_chunk_lines_are_what_the_records_dump_to() -> None:
    """The reading path writes chunk rows without building records: each row is what its Chunk
    dumps to (fields in order), and its line what foundation.jsonl.dumps writes, for ASCII
    text, for text beyond ASCII, with DEL (escaped only by an ASCII encoder) and no section."""
    from doctune.foundation.jsonl import dumps
    from doctune.foundation.records import Chunk
    from doctune.ingest.chunking import chunk_rows
    from doctune.ingest.reading import chunk_line

    builder = TextBuilder()
    builder.heading("Säure", 1)
    builder.block("The acid is washed twice with water and dried at forty degrees.")
    builder.block("Die Säure wird zweimal gewaschen und bei 40 °C getrocknet, danach gewogen.")
    builder.block("A control character \x7f stays in this line of the batch record here.")
    doc = builder.build()
    spans = [Span(b.start, b.end, b.section, 5) for b in doc.blocks] + [
        Span(doc.blocks[1].start, doc.blocks[1].end, (), 5)
    ]
    rows = chunk_rows(doc, spans, path="notes/ä.md", doc_id="d1", min_chars=1)
    rows += chunk_rows(doc, spans[1:2], path="notes/a.md", doc_id="d2", min_chars=1)
    assert len(rows) == 6 and rows[4]["section"] is None
    for row in rows:
        chunk = Chunk(**row)
        assert list(row.items()) == list(chunk.model_dump(mode="json").items())
        assert chunk_line(row) == dumps(chunk)
