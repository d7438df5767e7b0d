"""The questions each suite asks, built from the artifacts of earlier stages.

- train_qa / test_qa: the train / test split of each QA dataset (did it learn, did it generalise);
- rephrased_qa: reworded questions whose original is in `evaluate.rephrased_from`, judged against
  the original's answer (language generalisation);
- task / task_prompted: the multiple-choice quizzes (knowledge generalisation), the same items
  with and without the knowledge statement.

Item ids are the records' own content-hash ids, so the same question has the same id in every
run and for every model, which is what paired before/after comparisons join on. A sample of
`max_items` is drawn with a seed from the records sorted by id: it does not depend on the order
in which a stage happened to write its file.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from doctune.context import RunContext
from doctune.foundation.evalrecords import EvalItem
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.recipes import record_type
from doctune.foundation.records import QARecord, QuizRecord, RephrasedRecord

R = TypeVar("R", QARecord, RephrasedRecord, QuizRecord)


def sample(records: Sequence[R], max_items: int | None, seed: int, *key: str) -> list[R]:
    """A seeded sample of at most `max_items`, in id order (all of them when fewer)."""
    ordered = sorted(records, key=lambda r: r.id)
    if max_items is None or len(ordered) <= max_items:
        return ordered
    rng = random.Random("\x1f".join([str(seed), *key]))
    return sorted(rng.sample(ordered, max_items), key=lambda r: r.id)


def qa_item(suite: str, record: QARecord) -> EvalItem:
    return EvalItem(
        id=record.id,
        suite=suite,
        dataset=record.recipe,
        question=record.question,
        reference=record.answer,
        meta={"split": record.split, "chunk_ids": record.provenance.chunk_ids},
    )


def rephrased_item(record: RephrasedRecord) -> EvalItem:
    return EvalItem(
        id=record.id,
        suite="rephrased_qa",
        dataset=record.recipe,
        question=record.question,
        reference=record.answer,
        meta={
            "split": record.split,
            "source_id": record.source_id,
            "original_question": record.original_question,
        },
    )


def quiz_item(suite: str, record: QuizRecord) -> EvalItem:
    return EvalItem(
        id=record.id,
        suite=suite,
        question=record.question,
        options=dict(record.options),
        answer=record.answer,
        knowledge=record.knowledge,
        meta={"numeric": record.numeric is not None},
    )


def qa_datasets(ctx: RunContext) -> list[str]:
    """The datasets to ask about: the configured ones, else every recipe the split stage wrote."""
    found = list(dict.fromkeys(a.recipe for a in ctx.inputs("dataset", stage="split") if a.recipe))
    wanted = ctx.config.evaluate.datasets
    return [d for d in found if d in wanted] if wanted else found


def split_records(ctx: RunContext, recipe: str, split: str) -> list[QARecord]:
    records: list[QARecord] = []
    for artifact in ctx.inputs("dataset", stage="split", recipe=recipe, split=split):
        records.extend(read_jsonl(ctx.path(artifact), record_type(recipe)))
    return records


def rephrased_records(ctx: RunContext, recipe: str) -> list[RephrasedRecord]:
    allowed = set(ctx.config.evaluate.rephrased_from)
    records: list[RephrasedRecord] = []
    for artifact in ctx.inputs("rephrased", recipe=recipe):
        records.extend(
            r for r in read_jsonl(ctx.path(artifact), RephrasedRecord) if r.split in allowed
        )
    return records


def quiz_records(ctx: RunContext) -> list[QuizRecord]:
    return [r for a in ctx.inputs("quiz") for r in read_jsonl(ctx.path(a), QuizRecord)]
