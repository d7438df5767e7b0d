"""Knowledge distillation rerun after a document is added: the other documents' records stay.

The synthesize stage runs twice against the loopback fake teacher, the second time with one
more document, which lists a topic of its own and two topics other documents already list: one
whose home (distillation_plan.home_rank) stays where it was and one whose home the new document
becomes. What may change is only what the recipe's module doc says may change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from doctune.foundation.config import SplitSizes
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk, QARecord, text_sha256
from doctune.generation.recipes.distillation_plan import home_rank, merge_topics, topic_key
from doctune.generation.schemas import Topic
from doctune.split.stage import split_records
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import context, make_chunks, make_project, reply, run, schema_of, user_text

OLD_TOPICS = {
    "boots_route.md": ["Friedel-Crafts acylation", "Darzens reaction", "Boots process"],
    "bromination.pdf": ["Bromination of isobutylbenzene", "Carbon tetrachloride", "Workup"],
    "bhc_route.txt": ["BHC process", "Carbonylation", "Raney nickel"],
}
NEW_DOC = "crystallisation.md"
NEW_ID = text_sha256(NEW_DOC)[:12]
NEW_TEXTS = [
    "Crude ibuprofen is recrystallised from heptane at 4 mL per gram of crude acid. "
    "The suspension is heated to 70 °C until the solid dissolves completely.",
    "The solution is cooled at 10 °C per hour to 20 °C and held at 5 °C for two hours. "
    "The crystals are washed with cold heptane and dried at 40 °C under vacuum.",
]
FACETS = ["description", "conditions of reaction"]
PER_CELL = 2
SIZES = SplitSizes(train=0.5, validation=0.25, test=0.25)


def doc_id(path: str) -> str:
    return text_sha256(path)[:12]  # as helpers.make_chunks makes them


def old_homes() -> dict[str, str]:
    overviews = [(doc_id(d), [topic(n) for n in names]) for d, names in OLD_TOPICS.items()]
    return {t.key: t.home for t in merge_topics(overviews)}


def topic(name: str) -> Topic:
    return Topic(name=name, category="process", summary=f"What the document says about {name}.")


def shared_topics() -> tuple[str, str]:
    """An old topic whose home stays when the new document lists it too, and one whose home
    becomes the new document (chosen by the hashes, so the test holds for any hash values)."""
    names = [n for ns in OLD_TOPICS.values() for n in ns]
    homes = old_homes()

    def moves(name: str) -> bool:
        key = topic_key(name)
        return home_rank(key, NEW_ID) < home_rank(key, homes[key])

    return next(n for n in names if not moves(n)), next(n for n in names if moves(n))


def new_chunks() -> list[Chunk]:
    out, start = [], 0
    for i, text in enumerate(NEW_TEXTS):
        out.append(
            Chunk(
                id=f"{NEW_ID}-{i}",
                doc_id=NEW_ID,
                path=NEW_DOC,
                index=i,
                text=text,
                pages=[],
                section="Crystallisation",
                start=start,
                end=start + len(text),
                n_tokens=len(text) // 4,
                sha256=text_sha256(text),
            )
        )
        start += len(text)
    return out


def topics_responder(new_doc_topics: list[str]):
    listed = {**OLD_TOPICS, NEW_DOC: new_doc_topics}

    def respond(body: dict) -> str:
        doc = next(d for d in listed if f"Document: {d}" in user_text(body))
        return reply({"topics": [topic(n).model_dump() for n in listed[doc]]})

    return respond


def records_of(ctx) -> dict[str, QARecord]:
    path = ctx.path(ctx.manifest.one("dataset", recipe="knowledge_distillation"))
    return {r.id: r for r in read_jsonl(path, QARecord)}


def placed(records: dict[str, QARecord], seed: int) -> dict[str, str]:
    # The leak check is left out (threshold 1: exact repeats only): the fake's questions quote
    # the prompt's instructions, so nearly all of them are near-duplicates of one another.
    outcome = split_records(
        list(records.values()), SIZES, seed=seed, leak_threshold=1.0, recipe="kd"
    )
    assert all(outcome.splits.values())
    return {r.id: name for name, rs in outcome.splits.items() for r in rs}


# Seeds whose hashes leave no split empty: with this corpus's few groups (one per chunk cited)
# seeds 0-2 leave one empty before or after, and split's rescue of an empty split moves a group
# chosen by its size (split.stage._rescue_empty), which is not what this test is about.
@pytest.mark.parametrize("seed", [3, 42])
def test_adding_a_document_keeps_the_other_documents_records_and_their_split(
    tmp_path: Path, fake_openai: FakeOpenAIServer, seed: int
) -> None:
    stays, moves = shared_topics()
    # The new document lists the shared topics in its own words (spelling, summary).
    fake_openai.responders["TopicOverview"] = topics_responder(
        ["Recrystallisation from heptane", f"the {stays.upper()}", moves.lower()]
    )
    config = {
        "synthesize": {
            "recipes": ["knowledge_distillation"],
            "knowledge_distillation": {
                "facets": FACETS,
                "context_chunks": 1,
                "context_window": 1,
                "target_size": 1000,  # capped: PER_CELL per cell
                "max_questions_per_facet": PER_CELL,
                "max_topics": 50,
            },
        }
    }
    project = make_project(tmp_path, config)
    old_chunks = make_chunks()
    before = records_of(_synthesize(project, old_chunks))
    first_calls = len(fake_openai.bodies)
    after = records_of(_synthesize(project, [*old_chunks, *new_chunks()]))
    new_bodies = fake_openai.bodies[first_calls:]

    # Every record of a topic whose home stayed is kept as it was, chunks and id alike.
    moved_key = topic_key(moves)
    kept = {i: r for i, r in before.items() if topic_key(r.topic) != moved_key}
    assert len(kept) == len(before) - len(FACETS) * PER_CELL
    assert {i: after.get(i) for i in kept} == kept
    # What is new cites the new document only: its own topic and the topic it became home of.
    added = [r for i, r in after.items() if i not in before]
    assert {topic_key(r.topic) for r in added} == {
        topic_key("Recrystallisation from heptane"),
        moved_key,
    }
    assert all(r.provenance.doc_ids == [NEW_ID] for r in added)
    assert len(after) == len(kept) + len(added)

    # New calls: the new document's topic list, then the two cells of each of those two topics
    # and their answers; nothing for the topic it shares without being its home.
    by_schema: dict[str, list[dict]] = {}
    for body in new_bodies:
        by_schema.setdefault(body["response_format"]["json_schema"]["name"], []).append(body)
    assert len(by_schema["TopicOverview"]) == 1
    asked = by_schema["FacetQuestions"]
    assert len(asked) == 2 * len(FACETS)
    assert not any(f"Topic: {stays}" in user_text(b) for b in asked)
    assert all("questions" in schema_of(b)["properties"] for b in asked)
    assert len(by_schema["KDAnswer"]) == 2 * len(FACETS) * PER_CELL
    assert set(by_schema) == {"TopicOverview", "FacetQuestions", "KDAnswer"}

    # The split: every kept record stays in its split.
    a, b = placed(before, seed), placed(after, seed)
    assert {i: a.get(i) for i in kept} == {i: b.get(i) for i in kept}
    assert any(i in b for i in (r.id for r in added))  # the new records were placed


def _synthesize(project: Path, chunks: list[Chunk]):
    ctx = context(project, chunks)
    run(ctx, "synthesize")
    return ctx
