"""What the Datasets and record pages share: the app's record index and review store, the
filtered selection a position refers to, a review action checked and stored, and the passage of
a source chunk that supports an answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request

from doctune.foundation.manifest import Manifest
from doctune.foundation.reviews import Review, ReviewStore, review_user, reviews_path
from doctune.serve.dataset_index import PENDING, DatasetIndex, Filters, Row, select
from doctune.serve.state import ServeState

ACTIONS = ("approve", "reject", "edit", "pending")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"\w+")


def serve_state(request: Request) -> ServeState:
    return request.app.state.doctune


def dataset_index(request: Request) -> DatasetIndex:
    """One index per app, made on first use (the app's state holds it for its lifetime)."""
    index = getattr(request.app.state, "dataset_index", None)
    if index is None:
        index = request.app.state.dataset_index = DatasetIndex()
    return index


def review_store(request: Request) -> ReviewStore:
    return ReviewStore(reviews_path(serve_state(request).project))


def statuses(reviews: Mapping[str, Review]) -> dict[str, str]:
    return {rid: r.status for rid, r in reviews.items()}


@dataclass
class Current:
    """The filtered selection a page shows, with everything the page needs to place itself."""

    manifest: Manifest
    rows: list[Row]  # every record, unfiltered
    selected: list[Row]
    reviews: dict[str, Review]
    filters: Filters


def current(request: Request, params: Mapping[str, str] | None = None) -> Current:
    state = serve_state(request)
    manifest = state.manifest()
    rows = dataset_index(request).rows(manifest)
    filters = Filters.from_query(params if params is not None else request.query_params)
    reviews = {r.record_id: r for r in review_store(request).all()}
    return Current(manifest, rows, select(rows, filters, statuses(reviews)), reviews, filters)


def position_of(selected: list[Row], record_id: str, hint: int | None) -> int | None:
    """The 1-based position of `record_id` in the selection (the hint first: the query string
    carries where the user came from, so the common case costs no search)."""
    if hint is not None and 1 <= hint <= len(selected) and selected[hint - 1].id == record_id:
        return hint
    for i, row in enumerate(selected, start=1):
        if row.id == record_id:
            return i
    return None


def int_param(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def record_url(row_id: str, filters: Filters, at: int | None) -> str:
    query = {**filters.query(), **({"at": str(at)} if at else {})}
    return f"/records/{row_id}" + (f"?{urlencode(query)}" if query else "")


def list_url(filters: Filters, at: int | None = None, anchor: str | None = None) -> str:
    query = {**filters.query(), **({"at": str(at)} if at else {})}
    return (
        "/datasets" + (f"?{urlencode(query)}" if query else "") + (f"#{anchor}" if anchor else "")
    )


def shown_text(row: Row, review: Review | None) -> tuple[str, str]:
    """The question and answer as they will train: the reviewer's edit, else the record as
    synthesis wrote it (not split's copy, which holds an edit a review may have undone since)."""
    question, answer = row.as_written.question, row.as_written.answer
    if review is not None and review.status == "edited":
        question = review.question if review.question is not None else question
        answer = review.answer if review.answer is not None else answer
    return question, answer


def apply_action(
    store: ReviewStore, state: ServeState, row: Row, form: Mapping[str, Any]
) -> Review:
    """Store the review the form asks for; a bad form is a 400 naming the problem."""
    action = str(form.get("action", ""))
    if action not in ACTIONS:
        raise HTTPException(400, f"unknown review action '{action}' (one of {', '.join(ACTIONS)})")
    prior = store.get(row.id)
    question, answer = shown_text(row, prior)
    before = {"status": prior.status if prior else PENDING, "question": question, "answer": answer}
    kwargs: dict[str, Any] = {}
    if action == "reject":
        kwargs["reason"] = str(form.get("reason", "")).strip()
    if action == "edit":
        new_q = _text(form, "question")
        new_a = _text(form, "answer")
        kwargs["question"] = new_q if new_q != row.as_written.question else None
        kwargs["answer"] = new_a if new_a != row.as_written.answer else None
        if kwargs["question"] is None and kwargs["answer"] is None:
            # Edited back to the record's own text: the edit is undone, not stored as one.
            action = "pending"
            kwargs = {}
    status = {"approve": "approved", "reject": "rejected", "edit": "edited"}.get(action, action)
    try:
        return store.set(row.id, status, review_user(state.config), before=before, **kwargs)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def _text(form: Mapping[str, Any], name: str) -> str:
    # Browsers send textarea line ends as CRLF; the record's text has plain LF.
    return str(form.get(name, "")).replace("\r\n", "\n").strip()


def supporting_passage(chunk_text: str, answer: str) -> str:
    """The sentence of the chunk sharing the most words with the answer (what the chunk page
    highlights); the chunk's first sentence when none shares any."""
    wanted = {w.casefold() for w in _WORD.findall(answer)}
    best, best_score = "", 0
    for sentence in _SENTENCE.split(chunk_text):
        sentence = sentence.strip()
        score = len(wanted & {w.casefold() for w in _WORD.findall(sentence)})
        if sentence and (score > best_score or not best):
            best, best_score = sentence, max(score, best_score)
    return best
