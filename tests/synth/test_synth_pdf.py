"""Recipe pdf_synthetic through the stage: exactly N pairs per chunk, provenance, rejection."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import QARecord, RejectedRecord
from doctune.prompts import load_prompt
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import default_responder

from .helpers import (
    TEACHER,
    context,
    is_reask,
    items_asked,
    make_chunks,
    make_project,
    reply,
    run,
    user_text,
)

PDF_ONLY = {
    "synthesize": {"recipes": ["pdf_synthetic"], "pdf_synthetic": {"questions_per_chunk": 3}}
}


def test_exactly_n_pairs_per_chunk_with_provenance(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    chunks = make_chunks()
    ctx = context(make_project(tmp_path, PDF_ONLY), chunks)
    result = run(ctx, "synthesize")

    art = ctx.manifest.one("dataset", stage="synthesize", recipe="pdf_synthetic")
    records = read_jsonl(ctx.path(art), QARecord)
    assert art.records == len(records) == 3 * len(chunks)
    assert result.summary["pdf_synthetic_records"] == 18
    assert result.summary["pdf_synthetic_failed_calls"] == 0
    # Chunk order, N per chunk, ids unique.
    assert [r.provenance.chunk_ids[0] for r in records] == [c.id for c in chunks for _ in range(3)]
    assert len({r.id for r in records}) == len(records)
    prompt = load_prompt("pdf_synthetic")
    by_id = {c.id: c for c in chunks}
    for r in records:
        c = by_id[r.provenance.chunk_ids[0]]
        assert r.recipe == "pdf_synthetic"
        assert r.provenance.doc_ids == [c.doc_id]
        assert r.provenance.sources == [c.path]
        assert r.provenance.pages == c.pages
        assert r.provenance.model == TEACHER
        assert r.provenance.prompt == prompt.label
        assert r.provenance.prompt_hash == prompt.hash
        assert r.provenance.config_hash == ctx.config.section_hash("synthesize")
    # One call per chunk, each asking for exactly N items, with the chunk in the prompt.
    assert fake_openai.completions == len(chunks)
    assert all(items_asked(body, "pairs") == 3 for body in fake_openai.bodies)
    for c in chunks:
        assert sum(c.text in user_text(b) for b in fake_openai.bodies) == 1
    rejected = ctx.manifest.one("rejected", stage="synthesize", recipe="pdf_synthetic")
    assert rejected.records == 0


def test_max_chunks_takes_the_first_chunks(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    chunks = make_chunks()
    cfg = {
        "synthesize": {
            "recipes": ["pdf_synthetic"],
            "pdf_synthetic": {"questions_per_chunk": 2, "max_chunks": 2},
        }
    }
    ctx = context(make_project(tmp_path, cfg), chunks)
    run(ctx, "synthesize")
    records = read_jsonl(ctx.path(ctx.manifest.one("dataset", recipe="pdf_synthetic")), QARecord)
    assert [r.provenance.chunk_ids[0] for r in records] == [chunks[0].id] * 2 + [chunks[1].id] * 2


def test_invalid_output_after_reasks_is_rejected_not_dropped(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    chunks = make_chunks()
    bad = chunks[3]

    def qa(body: dict) -> str:
        if bad.text in user_text(body):
            return '{"pairs": [{"question": "truncated'  # invalid JSON, every time
        return default_responder(body)

    fake_openai.responders["QAPairs"] = qa
    ctx = context(make_project(tmp_path, PDF_ONLY), chunks)
    result = run(ctx, "synthesize")

    records = read_jsonl(ctx.path(ctx.manifest.one("dataset", recipe="pdf_synthetic")), QARecord)
    assert len(records) == 3 * (len(chunks) - 1)
    assert bad.id not in {r.provenance.chunk_ids[0] for r in records}
    rejected = read_jsonl(
        ctx.path(ctx.manifest.one("rejected", recipe="pdf_synthetic")), RejectedRecord
    )
    assert len(rejected) == 1
    assert rejected[0].reason == "invalid_output"
    assert rejected[0].stage == "synthesize"
    assert rejected[0].record["chunk_id"] == bad.id
    assert "after 2 attempts" in rejected[0].detail  # structured_retries=1: asked twice
    assert rejected[0].record["last_reply"].startswith('{"pairs"')
    assert result.summary["pdf_synthetic_failed_calls"] == 1
    asked_bad = [b for b in fake_openai.bodies if bad.text in user_text(b)]
    assert len(asked_bad) == 2 and is_reask(asked_bad[1])


def test_answers_that_cite_their_source_are_reasked(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    good = "Aluminium chloride is the Lewis acid catalyst of the Friedel-Crafts acylation of isobutylbenzene."

    def qa(body: dict) -> str:
        n = items_asked(body, "pairs")
        answer = good if is_reask(body) else "According to the passage, aluminium chloride is used."
        pairs = [
            {"question": f"Which catalyst is used in acylation step {i}?", "answer": answer}
            for i in range(n)
        ]
        return reply({"pairs": pairs})

    fake_openai.responders["QAPairs"] = qa
    chunks = make_chunks()[:1]
    ctx = context(make_project(tmp_path, PDF_ONLY), chunks)
    run(ctx, "synthesize")
    records = read_jsonl(ctx.path(ctx.manifest.one("dataset", recipe="pdf_synthetic")), QARecord)
    assert [r.answer for r in records] == [good] * 3
    reask = fake_openai.bodies[1]["messages"][-1]["content"]
    assert "refers to its source" in reask


@pytest.mark.parametrize("n", [1, 5])
def test_wrong_item_count_is_invalid(tmp_path: Path, fake_openai: FakeOpenAIServer, n: int) -> None:
    def qa(body: dict) -> str:
        pairs = [
            {
                "question": f"What is step {i} of the route?",
                "answer": "It is the acylation of isobutylbenzene.",
            }
            for i in range(items_asked(body, "pairs") + 1)
        ]
        return reply({"pairs": pairs})

    fake_openai.responders["QAPairs"] = qa
    cfg = {
        "synthesize": {
            "recipes": ["pdf_synthetic"],
            "pdf_synthetic": {"questions_per_chunk": n, "max_chunks": 1},
        }
    }
    ctx = context(make_project(tmp_path, cfg), make_chunks())
    run(ctx, "synthesize")
    assert ctx.manifest.one("dataset", recipe="pdf_synthetic").records == 0
    rejected = read_jsonl(
        ctx.path(ctx.manifest.one("rejected", recipe="pdf_synthetic")), RejectedRecord
    )
    assert [r.reason for r in rejected] == ["invalid_output"]
    assert "pairs" in rejected[0].detail
