"""Recipe knowledge_distillation: topic merge, size targeting, context provenance."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import QARecord, RejectedRecord
from doctune.generation.recipes.distillation import (
    document_outline,
    merge_topics,
    plan_counts,
    topic_key,
)
from doctune.generation.recipes.distillation_plan import (
    MergedTopic,
    cell_rank,
    home_rank,
    plan_cells,
)
from doctune.generation.schemas import Topic
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import (
    context,
    items_asked,
    make_chunks,
    make_project,
    reply,
    run,
    schema_of,
    user_text,
)

TOPICS = {
    "boots_route.md": [
        ("Friedel-Crafts acylation", "reaction"),
        ("Darzens reaction", "reaction"),
        ("4-Isobutylacetophenone", "substance"),
        ("Boots process", "process"),
    ],
    "bromination.pdf": [
        ("Bromination of isobutylbenzene", "reaction"),
        ("friedel–crafts  Acylation", "reaction"),  # same topic, other spelling
        ("Carbon tetrachloride", "substance"),
    ],
    "bhc_route.txt": [
        ("BHC process", "process"),
        ("The 4-isobutylacetophenone", "substance"),  # same topic again
        ("Carbonylation", "reaction"),
    ],
}
MERGED_ORDER = [
    "Friedel-Crafts acylation",  # two documents
    "4-Isobutylacetophenone",  # two documents
    "Bromination of isobutylbenzene",  # then each document's first topics in turn
    "BHC process",
    "Darzens reaction",
    "Carbon tetrachloride",
    "Carbonylation",
    "Boots process",
]


def topics_responder(body: dict) -> str:
    text = user_text(body)
    doc = next(d for d in TOPICS if f"Document: {d}" in text)
    return reply(
        {
            "topics": [
                {"name": n, "category": c, "summary": f"What the document says about {n}."}
                for n, c in TOPICS[doc]
            ]
        }
    )


def kd_config(**kd: object) -> dict:
    base = {"facets": ["description", "conditions of reaction"], "context_chunks": 2}
    return {
        "synthesize": {
            "recipes": ["knowledge_distillation"],
            "knowledge_distillation": {**base, **kd},
        }
    }


def topic(name: str, category: str = "reaction") -> Topic:
    return Topic(name=name, category=category, summary=f"About {name} in general.")


def test_topic_key_ignores_case_punctuation_and_article() -> None:
    assert topic_key("The Friedel–Crafts  acylation!") == topic_key("friedel-crafts acylation")
    assert topic_key("Bromination") != topic_key("Bromine")


def test_merge_topics_dedupes_favours_shared_and_caps() -> None:
    overviews = [(doc, [topic(n, c) for n, c in items]) for doc, items in TOPICS.items()]
    merged = merge_topics(overviews, limit=100)
    assert [t.key for t in merged] == [topic_key(n) for n in MERGED_ORDER]
    assert merged[0].doc_ids == ["boots_route.md", "bromination.pdf"]
    assert [t.key for t in merge_topics(overviews, limit=3)] == [t.key for t in merged[:3]]
    for t in merged:  # name, category and summary come from the home document's listing
        assert t.home == min(t.doc_ids, key=lambda d: home_rank(t.key, d))
        listed = next(x for x in dict(overviews)[t.home] if topic_key(x.name) == t.key)
        assert (t.name, t.category, t.summary) == (listed.name, listed.category, listed.summary)


def test_a_topics_home_does_not_depend_on_the_other_documents() -> None:
    overviews = [(doc, [topic(n, c) for n, c in items]) for doc, items in TOPICS.items()]
    homes = {t.key: t.home for t in merge_topics(overviews)}
    for drop in TOPICS:  # any document left out: the others' topics keep their homes
        rest = [(d, ts) for d, ts in overviews if d != drop]
        for t in merge_topics(rest):
            if homes[t.key] != drop:
                assert t.home == homes[t.key]
    # The two homes of shared topics are not both the first document in order.
    shared = [t for t in merge_topics(overviews) if len(t.doc_ids) > 1]
    assert len(shared) == 2 and {t.home for t in shared} != {"boots_route.md"}


def test_plan_counts_meets_target_within_cap() -> None:
    counts = plan_counts(13, topics=5, facets=2, cap=8)
    assert sum(map(sum, counts)) == 13
    assert [row[0] for row in counts] == [2, 2, 2, 1, 1]  # the remainder goes to facet 0 first
    assert [row[1] for row in counts] == [1] * 5
    capped = plan_counts(1000, topics=3, facets=2, cap=4)
    assert capped == [[4, 4]] * 3
    sparse = plan_counts(3, topics=4, facets=2, cap=8)
    assert sum(map(sum, sparse)) == 3 and max(map(max, sparse)) == 1
    assert plan_counts(10, topics=0, facets=5, cap=3) == []


def test_cells_keep_their_counts_and_asks_when_a_topic_is_added() -> None:
    def counts(names: list[str]) -> dict[tuple[str, str], tuple[int, int]]:
        topics = [MergedTopic(topic_key(n), n, "process", "") for n in names]
        cells = plan_cells(topics, ["description", "function"], target=50, cap=8)
        return {(c.topic.key, c.facet): (c.n, c.asked) for c in cells}

    names = [f"Topic {i}" for i in range(9)]
    before, after = counts(names), counts([*names, "Topic 9"])
    assert sum(n for n, _ in before.values()) == sum(n for n, _ in after.values()) == 50
    assert counts(names[::-1]) == before  # by key, not by rank
    # 18 cells: 2 each and 14 extras; 20 cells: 2 each and 10 extras. The old cells only lose
    # extras (as many as the new cells take), and every cell asks for 3 questions in both runs,
    # so a lost extra costs no call.
    assert {asked for _, asked in [*before.values(), *after.values()]} == {3}
    assert all(after[c][0] in (before[c][0], before[c][0] - 1) for c in before)
    lost = sum(before[c][0] - after[c][0] for c in before)
    gained = sum(after[c][0] for c in after if c not in before)
    assert lost == gained and 4 <= gained <= 6  # the new cells' 2 each, plus extras they drew


def test_outline_is_thinned_to_fit() -> None:
    def snippets(outline: str) -> list[str]:
        return [line for line in outline.splitlines() if line.startswith("- ")]

    chunks = make_chunks()[:3]
    full = document_outline(chunks)
    assert "## Boots route > Darzens reaction" in full and len(snippets(full)) == 3
    short = document_outline(chunks, max_chars=400)
    assert len(short) <= 400 and len(snippets(short)) == 2
    assert "Darzens" not in short and "Nitrile" in short  # first and last chunk kept


def test_run_targets_size_and_records_context(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.responders["TopicOverview"] = topics_responder
    chunks = make_chunks()
    ctx = context(make_project(tmp_path, kd_config(target_size=13, max_topics=5)), chunks)
    result = run(ctx, "synthesize")

    records = read_jsonl(
        ctx.path(ctx.manifest.one("dataset", recipe="knowledge_distillation")), QARecord
    )
    assert len(records) == 13
    assert result.summary["knowledge_distillation"]["topics_found"] == 8
    assert result.summary["knowledge_distillation"]["topics"] == 5
    keys = [topic_key(n) for n in MERGED_ORDER[:5]]
    assert sorted({topic_key(r.topic) for r in records}) == sorted(keys)
    # 13 over 10 cells: one each, and one more for the 3 cells of lowest rank (a hash)
    facets = ["description", "conditions of reaction"]
    lucky = sorted(((k, f) for k in keys for f in facets), key=lambda c: cell_rank(*c))[:3]
    per_cell = Counter((topic_key(r.topic), r.facet) for r in records)
    assert per_cell == {(k, f): 1 + ((k, f) in lucky) for k in keys for f in facets}
    assert len({r.id for r in records}) == 13
    # calls: one per document, one per topic x facet, one per question
    assert fake_openai.completions == 3 + 10 + 13
    question_calls = [b for b in fake_openai.bodies if "questions" in schema_of(b)["properties"]]
    assert len(question_calls) == 10
    assert all(items_asked(b, "questions") == 2 for b in question_calls)  # quota + 1

    answers = [
        b for b in fake_openai.bodies if b["response_format"]["json_schema"]["name"] == "KDAnswer"
    ]
    for r in records:
        assert r.recipe == "knowledge_distillation"
        assert 1 <= len(r.provenance.chunk_ids) <= 2
        assert r.provenance.prompt == "kd_questions@1+kd_answer@1"
        body = next(
            b
            for b in answers
            if f"Question: {r.question}\n" in user_text(b) and r.topic in user_text(b)
        )
        given = {c.id for c in chunks if c.text in user_text(body)}
        assert given == set(r.provenance.chunk_ids)
        assert r.answer in user_text(body)  # the fake answers with sentences of the prompt

    tree = json.loads(
        (ctx.out_dir / "synthesize" / "knowledge_distillation.topics.json").read_text()
    )
    assert [topic_key(t["name"]) for t in tree["reaction"]] == [
        topic_key(n)
        for n in ("Friedel-Crafts acylation", "Bromination of isobutylbenzene", "Darzens reaction")
    ]
    first = tree["reaction"][0]
    assert first["home"] in first["documents"]
    assert first["questions"] == per_cell[(keys[0], facets[0])] + per_cell[(keys[0], facets[1])]


def test_cap_limits_size_and_topic_failures_are_rejected(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    def flaky_topics(body: dict) -> str:
        if "Document: bhc_route.txt" in user_text(body):
            return "not json at all"
        return topics_responder(body)

    fake_openai.responders["TopicOverview"] = flaky_topics
    cfg = kd_config(target_size=1000, max_topics=3, max_questions_per_facet=1)
    ctx = context(make_project(tmp_path, cfg), make_chunks())
    result = run(ctx, "synthesize")
    records = read_jsonl(
        ctx.path(ctx.manifest.one("dataset", recipe="knowledge_distillation")), QARecord
    )
    assert len(records) == 3 * 2 * 1
    assert (
        result.summary["knowledge_distillation"]["topics_found"] == 6
    )  # 4 + 3 - 1 shared; BHC has none
    rejected = read_jsonl(
        ctx.path(ctx.manifest.one("rejected", recipe="knowledge_distillation")), RejectedRecord
    )
    assert [(r.reason, r.record["call"], r.record["path"]) for r in rejected] == [
        ("invalid_output", "topics", "bhc_route.txt")
    ]


def test_context_falls_back_to_the_topic_documents() -> None:
    from doctune.foundation.retrieval import ChunkIndex
    from doctune.generation.recipes.distillation import _context

    chunks = make_chunks()
    index = ChunkIndex(chunks)
    assert _context(index, "bromine ratio", 1, 4, chunks[:2]) == [chunks[3]]
    assert _context(index, "quantum chromodynamics", 2, 4, chunks[4:]) == chunks[4:6]


def test_context_stays_inside_one_window_of_the_corpus() -> None:
    """Records that draw context from one window only can be split by source without loss."""
    from doctune.foundation.retrieval import ChunkIndex, window_of
    from doctune.generation.recipes.distillation import _context

    chunks = make_chunks()
    index = ChunkIndex(chunks)
    for query in ("bromine ratio", "nickel coupling temperature", "hydrolysis pH ibuprofen"):
        for size in (1, 2, 3):
            context = _context(index, query, 3, size, chunks[:1])
            assert len({window_of(c, size) for c in context}) == 1
            assert len(context) <= size
    # Inside a given window, whatever the query matches elsewhere.
    first = window_of(chunks[0], 2)
    pinned = _context(index, "bromine ratio", 2, 2, chunks[:1], within=first)
    assert pinned and all(window_of(c, 2) == first for c in pinned)


def test_the_records_of_one_table_share_one_topic_call() -> None:
    from doctune.foundation.records import Chunk, text_sha256
    from doctune.generation.recipes.distillation import documents

    rows = [
        Chunk(
            id=f"r{i}",
            doc_id=f"row{i}",
            path=f"substances.csv#{i}",
            index=0,
            text=f"name: s{i}",
            pages=[],
            section=None,
            start=0,
            end=9,
            n_tokens=3,
            sha256=text_sha256(f"name: s{i}"),
        )
        for i in range(50)
    ]
    assert [len(d) for d in documents(rows)] == [50]
