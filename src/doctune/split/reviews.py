"""The project's reviews, applied before a dataset is split (so a rejected record reaches no
split and no export, and an edited one is split and exported with its new text).

The reviews file is an input of this stage: its state goes into the stage's fingerprint
(`fingerprint`), so a review change reruns split, and through split's outputs evalsets and
export, and nothing earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from doctune.context import RunContext
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import QARecord, RejectedRecord
from doctune.foundation.reviews import Applied, Review, ReviewStore, apply_reviews, reviews_path

STAGE = "split"


class _Id(BaseModel):
    """Only a record's id, whatever its recipe's schema."""

    model_config = ConfigDict(extra="ignore")
    id: str


def store(ctx: RunContext) -> ReviewStore:
    return ReviewStore(reviews_path(ctx.project_dir))


def fingerprint(ctx: RunContext) -> str:
    """The reviews' state and `review.require_approval` (not `review.user`, which only names
    reviewers still to come)."""
    return f"reviews={store(ctx).digest()};require_approval={ctx.config.review.require_approval}"


def load(ctx: RunContext) -> dict[str, Review]:
    return {r.record_id: r for r in store(ctx).all()}


def edited(
    ctx: RunContext, records: list[QARecord], reviews: dict[str, Review]
) -> tuple[list[QARecord], Applied]:
    """Every record, the edited ones with their new text, and what the reviews decide."""
    applied = apply_reviews(
        records, reviews, require_approval=ctx.config.review.require_approval, stage=STAGE
    )
    if records and not applied.kept and applied.counts["not_approved"]:
        # Said once here, at the cause: train and evaluate then meet empty splits.
        ctx.log(
            f"split {records[0].recipe}: no record approved yet ({applied.counts['not_approved']} "
            "awaiting review, review.require_approval: true): its splits are empty until a "
            "reviewer approves some (`doctune serve` or `doctune review`)"
        )
    reviewed = {r.id: r for r in applied.kept}
    return [reviewed.get(r.id, r) for r in records], applied


def drop_unreviewed(
    splits: dict[str, list[QARecord]],
    rejected: list[RejectedRecord],
    report: dict[str, Any],
    applied: Applied,
) -> None:
    """Take the records the reviews drop out of the splits they were assigned to, with the
    review's reason (one the split dropped anyway keeps the split's reason)."""
    keep = {r.id for r in applied.kept}
    placed = {r.id for records in splits.values() for r in records}
    rejected[:0] = [r for r in applied.dropped if r.id in placed]
    for name, records in splits.items():
        splits[name] = [r for r in records if r.id in keep]
    report["sizes"] = {name: len(records) for name, records in splits.items()}
    report["chunks"] = {
        n: len({c for r in records for c in r.provenance.chunk_ids})
        for n, records in splits.items()
    }
    report["reviews"] = applied.counts


def curated_ids(ctx: RunContext) -> set[str]:
    """Every record curate saw, kept or dropped: a review of one of them is not orphaned."""
    ids: set[str] = set()
    for artifact in ctx.inputs("dataset", stage="curate"):
        ids.update(r.id for r in read_jsonl(ctx.path(artifact), _Id))
    for artifact in ctx.inputs("rejected", stage="curate"):
        ids.update(r.id for r in read_jsonl(ctx.path(artifact), _Id))
    return ids


def orphaned(ctx: RunContext, reviews: Iterable[Review]) -> list[dict[str, Any]]:
    """Reviews of records curate no longer holds: listed in the stage's report, never lost."""
    existing = curated_ids(ctx)
    found = [
        {"record_id": r.record_id, "status": r.status, "user": r.user, "at": r.at}
        for r in reviews
        if r.record_id not in existing and r.status != "pending"
    ]
    if found:
        ctx.log(
            f"split: {len(found)} reviews match no record any more (kept; "
            "`doctune review PROJECT --orphaned` lists them)"
        )
    return found


def totals(reports: dict[str, dict[str, Any]], orphaned: list[dict[str, Any]]) -> dict[str, int]:
    """The review counts of every recipe's report, summed, and the orphaned reviews."""
    keys = ("reviewed", "approved", "edited", "rejected", "not_approved")
    out = {k: sum(r["reviews"].get(k, 0) for r in reports.values()) for k in keys}
    out["orphaned"] = len(orphaned)
    return out
