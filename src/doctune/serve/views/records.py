"""One record: its question, answer and provenance, the chunks it came from, the review form
(approve, reject with a reason, edit in place) and its audit trail. The query string carries the
list's filters and the position, so next/previous and "back to the list" keep the user's place."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from doctune.serve.chunks import all_chunks
from doctune.serve.dataset_index import PENDING, Row
from doctune.serve.reviewing import (
    Current,
    apply_action,
    current,
    dataset_index,
    int_param,
    list_url,
    position_of,
    record_url,
    review_store,
    serve_state,
    shown_text,
    supporting_passage,
)
from doctune.serve.templating import render


async def record(request: Request) -> Response:
    view = current(request)
    row = _row(request, view)
    at = position_of(view.selected, row.id, int_param(request.query_params.get("at")))
    review = view.reviews.get(row.id)
    question, answer = shown_text(row, review)
    context = {
        "title": f"Record {row.id}",
        "row": row,
        "question": question,
        "answer": answer,
        "review": review,
        "status": review.status if review else PENDING,
        "audit": review_store(request).audit(row.id),
        "provenance": {k: v for k, v in row.record.provenance.model_dump().items() if v},
        "sources": _sources(request, view, row, answer),
        "at": at,
        "total": len(view.selected),
        "filters": view.filters,
        "back_url": list_url(view.filters, at, anchor=f"r-{row.id}"),
        "prev_url": _neighbour(view, at, -1),
        "next_url": _neighbour(view, at, +1),
        "hidden": {**view.filters.query(), **({"at": str(at)} if at else {})},
    }
    return render(request, "record.html", context)


def _row(request: Request, view: Current) -> Row:
    record_id = request.path_params["record_id"]
    found = dataset_index(request).get(view.manifest, record_id)
    if found is None:
        raise HTTPException(404, f"no record '{record_id}' in this project's datasets")
    return found


def _neighbour(view: Current, at: int | None, step: int) -> str | None:
    if at is None:
        return None
    target = at + step
    if not 1 <= target <= len(view.selected):
        return None
    return record_url(view.selected[target - 1].id, view.filters, target)


def _sources(request: Request, view: Current, row: Row, answer: str) -> list[dict[str, Any]]:
    chunks = {c.id: c for c in all_chunks(serve_state(request))}
    out = []
    for chunk_id in row.record.provenance.chunk_ids:
        chunk = chunks.get(chunk_id)
        passage = supporting_passage(chunk.text, answer) if chunk else ""
        query = f"?{urlencode({'q': passage})}" if passage else ""
        out.append(
            {
                "id": chunk_id,
                "chunk": chunk,
                "passage": passage,
                "url": f"/chunks/{chunk_id}{query}",
            }
        )
    return out


async def review(request: Request) -> Response:
    """Store the review, then go on: approve and reject move to the next record of the
    selection (the one that took this one's place when the review took it out of the filter),
    an edit stays on the record to show what was saved."""
    form = await request.form()
    params = {k: str(v) for k, v in form.items() if k not in ("csrf", "question", "answer")}
    view = current(request, params)
    row = _row(request, view)
    apply_action(review_store(request), serve_state(request), row, form)
    after = current(request, params)
    hint = int_param(params.get("at"))
    at = position_of(after.selected, row.id, hint)
    if params.get("action") in ("approve", "reject") and after.selected:
        target = (at + 1) if at is not None else (hint or 1)
        target = min(max(target, 1), len(after.selected))
        if at is None or target != at:
            nxt = after.selected[target - 1]
            return RedirectResponse(record_url(nxt.id, after.filters, target), status_code=303)
    return RedirectResponse(record_url(row.id, after.filters, at or hint), status_code=303)


routes: list[BaseRoute] = [
    Route("/records/{record_id}", record, name="record"),
    Route("/records/{record_id}/review", review, methods=["POST"], name="record_review"),
]
