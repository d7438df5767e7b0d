"""Recipe `knowledge_distillation` (the talk's larger, broader dataset): the teacher maps the
corpus into topics, asks questions per topic and facet, and answers each with retrieved context.

1. Topics: one call per document over an outline of its chunks (headings and opening words);
   topics are merged across documents by normalised name and capped at `max_topics`, favouring
   topics several documents mention, then each document's most important ones in turn. A merged
   topic has a home: of the documents naming it, the one whose hash with the topic's key is
   lowest. Its name, category and summary are the home's, and its context comes from the home.
2. Questions: per topic x facet, with the chunks BM25 ranks highest for the topic and facet in
   context, searched in the home document only (BM25 statistics of that document alone). The
   target size is dealt over the cells: each gets the same quota, and the cells of lowest hash
   (of topic key and facet) one more, so the total meets the target exactly (unless
   `max_questions_per_facet` caps it). A cell's call asks for the quota plus one and keeps what
   it was dealt, so an extra question that comes or goes costs one answer call at most.
3. Answers: one call per question with that question's own best chunks. Not batched: each
   question retrieves different context, a failed reply costs one record rather than a batch,
   and the cache then holds one entry per record, so a resumed run repeats nothing.

What a rerun keeps when a document is added: every prompt of a cell depends on its topic's home
document, its key, its facet and its quota only, never on rank or on other documents' chunks.
So the records of the other documents stay as they were (same calls from the cache, same ids,
same chunks, so the same split groups), except where:
- a topic the new document also names makes it its home: for a topic k documents name, with
  probability 1 / (k + 1); that topic's records then come from the new document;
- more topics are found than `max_topics` keeps: the new document's topics join the cut like
  any document's, and as many of the others' least important ones leave it with their records
  (a teacher listing 20 topics per document saturates the cut on a few documents);
- the quota is not capped and the new cells cannot share it as it was: they take their share
  from other cells' extra questions, which drop their last record and make no call; the quota
  itself drops, and every cell asks again, only once the extras run out.
An edit reaches only the cells whose home is the edited document (its index alone changes),
unless the teacher lists other topics for it (then as above, for the topics it names).

The questions wait for every document's topic list: which topics make the `max_topics` cut
depends on how many documents name each, and each cell's question count on how many topics
there are, so no question prompt is final before the last list is back (starting one early
could pay for a prompt that then changes). The wait is kept short instead: topic calls go
first under the stage's scheduler (generation.scheduler), the other recipes' calls fill the
endpoint, the home documents' indexes are built in a thread, and each cell's answers start as
soon as its own questions are back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from doctune.foundation import retrieval
from doctune.foundation.aio import gather_all
from doctune.foundation.config import DistillationConfig
from doctune.foundation.records import Chunk, QARecord, RejectedRecord, stable_id
from doctune.foundation.retrieval import ChunkIndex, Window, window_of
from doctune.generation.common import (
    RecipeOutput,
    Teacher,
    chunk_text_layout,
    context_layout,
    invalid_output,
    kept_chunks,
)
from doctune.generation.recipes.distillation_plan import (
    Cell,
    MergedTopic,
    merge_topics,
    plan_cells,
    plan_counts,
    quota,
    topic_key,
)
from doctune.generation.scheduler import Priority
from doctune.generation.schemas import (
    ANSWER_CHARS,
    QUESTION_CHARS,
    KDAnswer,
    Topic,
    TopicOverview,
    facet_questions_model,
)
from doctune.models.base import Message
from doctune.models.fitting import Layout
from doctune.prompts import load_prompt

# The plan's names are part of this module's interface (the dry run plans with plan_counts).
__all__ = ["Cell", "MergedTopic", "generate", "merge_topics", "plan_cells", "plan_counts"]
__all__ += ["quota", "topic_key"]
RECIPE = "knowledge_distillation"
STAGE = "synthesize"
TOPICS_PROMPT, QUESTIONS_PROMPT, ANSWER_PROMPT = "kd_topics", "kd_questions", "kd_answer"
TOPICS_PER_DOCUMENT = 20
OUTLINE_CHARS = 8000
_SNIPPET_CHARS = 120


def document_outline(chunks: Sequence[Chunk], max_chars: int = OUTLINE_CHARS) -> str:
    """Headings and opening words of a document's chunks, evenly thinned to fit `max_chars`."""
    ordered = sorted(chunks, key=lambda c: c.index)
    keep = max(1, max_chars // (_SNIPPET_CHARS + 60))
    if len(ordered) > keep:
        step = (len(ordered) - 1) / max(keep - 1, 1)
        ordered = [ordered[round(i * step)] for i in range(keep)]
    lines, section = [], None
    for chunk in ordered:
        if chunk.section and chunk.section != section:
            lines.append(f"## {chunk.section}")
            section = chunk.section
        snippet = " ".join(chunk.text.split())[:_SNIPPET_CHARS]
        lines.append(f"- {snippet}...")
    return "\n".join(lines)[:max_chars]


def documents(chunks: Sequence[Chunk]) -> list[list[Chunk]]:
    """Chunks grouped by source file, in order of first appearance. The records of one CSV or
    JSONL file (`substances.csv#3`) are one group: a topic call per row would cost a 10,000-row
    database export 10,000 calls before the first question."""
    groups: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        groups.setdefault(chunk.path.split("#", 1)[0], []).append(chunk)
    return list(groups.values())


def topics_layout(doc: Sequence[Chunk], limit: int) -> Layout:
    """The topics prompt; too long for the teacher, the outline loses its start."""
    return chunk_text_layout(
        document_outline(doc),
        lambda outline: load_prompt(TOPICS_PROMPT).render(
            source=doc[0].path, outline=outline, limit=limit
        ),
    )


def topics_messages(doc: Sequence[Chunk], limit: int) -> list[Message]:
    return topics_layout(doc, limit).build((), 0)


def topics_reply_chars(limit: int) -> int:
    return limit * 460 + 40


async def generate(
    chunks: Sequence[Chunk], config: DistillationConfig, teacher: Teacher
) -> RecipeOutput:
    out = RecipeOutput()
    docs = documents(chunks)
    limit = min(TOPICS_PER_DOCUMENT, config.max_topics)
    if teacher.tick is not None:
        teacher.tick.total(len(docs))
    asking = asyncio.ensure_future(gather_all(_doc_topics(doc, limit, teacher) for doc in docs))
    preloading = asyncio.ensure_future(_preload(teacher))
    try:
        results = await asking
    finally:
        await preloading
    overviews = []
    for doc, (topics, rejected) in zip(docs, results, strict=True):
        overviews.append((doc[0].doc_id, topics))
        out.rejected.extend(rejected)
    all_topics = merge_topics(overviews)
    topics = all_topics[: config.max_topics]
    cells = plan_cells(topics, config.facets, config.target_size, config.max_questions_per_facet)
    planned = sum(c.n for c in cells)
    if teacher.tick is not None:
        teacher.tick.total(len(docs) + len(cells) + planned)
    by_doc = {doc[0].doc_id: doc for doc in docs}
    # In a thread: on the event loop it would hold every call of the stage for as long as it
    # takes (a home document can be a table of thousands of rows).
    indexes = await asyncio.to_thread(home_indexes, topics, by_doc)
    cell_results = await gather_all(
        _cell(
            cell,
            indexes[cell.topic.home],
            by_doc[cell.topic.home],
            config.context_chunks,
            config.context_window,
            teacher,
        )
        for cell in cells
    )
    for records, rejected in cell_results:
        out.records.extend(records)
        out.rejected.extend(rejected)
    out.summary = {
        "documents": len(docs),
        "topics_found": len(all_topics),
        "topics": len(topics),
        "cells": len(cells),
        "target_size": config.target_size,
        "planned": planned,
        "records": len(out.records),
        "failed_calls": len(out.rejected),
        **teacher.fitting.summary(),
    }
    out.sidecar["topics"] = topic_tree(topics, cells, by_doc)
    return out


async def _preload(teacher: Teacher) -> None:
    """The indexes' import (bm25s with scipy, 0.1-0.3 s) in a thread while the topic calls are
    out, instead of after their replies: started once the stage's first calls are sending, as
    an import beside them would hold up their requests."""
    if teacher.scheduler is not None:
        await teacher.scheduler.dispatched()
    await asyncio.to_thread(retrieval.preload)


def home_indexes(
    topics: Sequence[MergedTopic], by_doc: dict[str, list[Chunk]]
) -> dict[str, ChunkIndex]:
    """One BM25 index per home document: its scores, and so every context it gives, depend on
    that document's chunks alone."""
    return {home: ChunkIndex(by_doc[home]) for home in dict.fromkeys(t.home for t in topics)}


def topic_tree(
    topics: Sequence[MergedTopic], cells: Sequence[Cell], by_doc: dict[str, list[Chunk]]
) -> dict[str, Any]:
    """The topics by category, with their documents, home and planned questions, for
    inspection."""
    planned: dict[str, int] = {}
    for cell in cells:
        planned[cell.topic.key] = planned.get(cell.topic.key, 0) + cell.n
    tree: dict[str, list[dict[str, Any]]] = {}
    for topic in topics:
        tree.setdefault(topic.category, []).append(
            {
                "name": topic.name,
                "summary": topic.summary,
                "documents": [by_doc[d][0].path for d in topic.doc_ids],
                "home": by_doc[topic.home][0].path,  # where its questions' context comes from
                "questions": planned.get(topic.key, 0),
            }
        )
    return tree


async def _doc_topics(
    doc: Sequence[Chunk], limit: int, teacher: Teacher
) -> tuple[list[Topic], list[RejectedRecord]]:
    fitted = teacher.fit(topics_layout(doc, limit), TopicOverview, topics_reply_chars(limit))
    result = await teacher.ask(fitted, TopicOverview, topics_reply_chars(limit), Priority.PLAN)
    if result.value is not None:
        return list(result.value.topics), []
    prompt = load_prompt(TOPICS_PROMPT)
    key = (RECIPE, "topics", doc[0].doc_id, prompt.hash, teacher.spec)
    record = {"recipe": RECIPE, "call": "topics", "doc_id": doc[0].doc_id, "path": doc[0].path}
    return [], [invalid_output(STAGE, key, result, record)]


def _context(
    index: ChunkIndex,
    query: str,
    k: int,
    window: int,
    fallback: Sequence[Chunk],
    within: Window | None = None,
) -> list[Chunk]:
    """The k best chunks for a query inside one window of the corpus (see
    `ChunkIndex.search_window`); a query that matches nothing gets `fallback`'s first k."""
    found = index.search_window(query, k, window, within=within)
    return found or list(fallback[:k])


def questions_messages(cell: Cell, context: Sequence[Chunk]) -> list[Message]:
    t = cell.topic
    return load_prompt(QUESTIONS_PROMPT).render(
        topic=t.name,
        category=t.category,
        summary=t.summary,
        facet=cell.facet,
        chunks=context,
        n=cell.asked,
    )


def answer_messages(cell: Cell, question: str, context: Sequence[Chunk]) -> list[Message]:
    return load_prompt(ANSWER_PROMPT).render(
        topic=cell.topic.name, facet=cell.facet, question=question, chunks=context
    )


async def _cell(
    cell: Cell,
    index: ChunkIndex,
    home: Sequence[Chunk],
    k: int,
    window: int,
    teacher: Teacher,
) -> tuple[list[QARecord], list[RejectedRecord]]:
    """Questions for one topic and facet, then their answers (concurrently). Every record of a
    cell takes its context from the window of the cell's context in the topic's home document,
    so a cell's records share sources with each other and with no other window."""
    query = f"{cell.topic.name} {cell.topic.summary} {cell.facet}"
    context = _context(index, query, k, window, home)
    qprompt = load_prompt(QUESTIONS_PROMPT)
    layout = context_layout(context, lambda chunks: questions_messages(cell, chunks))
    output_type, reply_chars = facet_questions_model(cell.asked), cell.asked * QUESTION_CHARS
    result = await teacher.ask(
        teacher.fit(layout, output_type, reply_chars), output_type, reply_chars, Priority.EXPAND
    )
    if result.value is None:
        key = (RECIPE, "questions", cell.topic.key, cell.facet, qprompt.hash, teacher.spec)
        record = {
            "recipe": RECIPE,
            "call": "questions",
            "topic": cell.topic.name,
            "facet": cell.facet,
        }
        if teacher.tick is not None:  # the answers this cell would have asked for never come
            teacher.tick.advance(cell.n)
        return [], [invalid_output(STAGE, key, result, record)]
    questions = result.value.questions[: cell.n]  # type: ignore[attr-defined]
    answers = await gather_all(
        _answer(cell, i, q.strip(), index, context, k, window, teacher)
        for i, q in enumerate(questions)
    )
    records = [r for r, _ in answers if r is not None]
    rejected = [x for _, x in answers if x is not None]
    return records, rejected


async def _answer(
    cell: Cell,
    i: int,
    question: str,
    index: ChunkIndex,
    cell_context: Sequence[Chunk],
    k: int,
    window: int,
    teacher: Teacher,
) -> tuple[QARecord | None, RejectedRecord | None]:
    context = _context(
        index,
        f"{question} {cell.topic.name}",
        k,
        window,
        cell_context,
        within=window_of(cell_context[0], window) if cell_context else None,
    )
    qprompt, aprompt = load_prompt(QUESTIONS_PROMPT), load_prompt(ANSWER_PROMPT)
    key = (
        RECIPE,
        cell.topic.key,
        cell.facet,
        i,
        question,
        qprompt.hash,
        aprompt.hash,
        teacher.spec,
    )
    layout = context_layout(context, lambda chunks: answer_messages(cell, question, chunks))
    fitted = teacher.fit(layout, KDAnswer, ANSWER_CHARS + 40)
    result = await teacher.ask(fitted, KDAnswer, ANSWER_CHARS + 40)
    if result.value is None:
        record = {
            "recipe": RECIPE,
            "call": "answer",
            "topic": cell.topic.name,
            "facet": cell.facet,
            "question": question,
        }
        return None, invalid_output(STAGE, key, result, record)
    return (
        QARecord(
            id=stable_id(*key),
            recipe=RECIPE,
            question=question,
            answer=result.value.answer.strip(),
            topic=cell.topic.name,
            facet=cell.facet,
            # The chunks the answer was written from: those the fitted prompt kept.
            provenance=teacher.provenance(kept_chunks(context, fitted.kept), qprompt, aprompt),
        ),
        None,
    )
