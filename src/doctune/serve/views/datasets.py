"""The Datasets page: every record of every recipe and split, filtered, searched and paged on the
server, the position always shown; and the bulk review of the current selection."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from doctune.foundation.reviews import STATUSES, Change, Review, review_user
from doctune.serve.dataset_index import PAGE_SIZE, PENDING, Filters, facets, page_of
from doctune.serve.reviewing import (
    Current,
    current,
    dataset_index,
    int_param,
    list_url,
    record_url,
    review_store,
    serve_state,
    shown_text,
)
from doctune.serve.templating import render

BULK = {"approve": "approved", "reject": "rejected"}
_SAME = ("approved", "edited")


async def datasets(request: Request) -> Response:
    view = current(request)
    total = len(view.selected)
    at = int_param(request.query_params.get("at"))
    page = page_of(at) if at else int_param(request.query_params.get("page")) or 1
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(page, pages)
    first = (page - 1) * PAGE_SIZE
    items = []
    for pos, row in enumerate(view.selected[first : first + PAGE_SIZE], start=first + 1):
        review = view.reviews.get(row.id)
        question, answer = shown_text(row, review)
        items.append(
            {
                "row": row,
                "pos": pos,
                "question": question,
                "answer": answer,
                "status": review.status if review else PENDING,
                "url": record_url(row.id, view.filters, pos),
            }
        )
    context = {
        "title": "Datasets",
        "items": items,
        "total": total,
        "all": len(view.rows),
        "first": first + 1 if total else 0,
        "last": first + len(items),
        "at": at,
        "page": page,
        "pages": pages,
        "filters": view.filters,
        "facets": {**facets(view.rows), "status": list(STATUSES)},
        "orphaned": _orphaned(request, view),
        "prev_url": _page_url(view.filters, page - 1) if page > 1 else None,
        "next_url": _page_url(view.filters, page + 1) if page < pages else None,
    }
    return render(request, "datasets.html", context)


def _orphaned(request: Request, view: Current) -> list[Review]:
    """Reviews whose record no stage holds any more: kept in the store, listed here."""
    index = dataset_index(request)
    return [
        r
        for rid, r in view.reviews.items()
        if r.status != PENDING and index.get(view.manifest, rid) is None
    ]


def _page_url(filters: Filters, page: int) -> str:
    return list_url(filters, at=(page - 1) * PAGE_SIZE + 1)


async def bulk(request: Request) -> Response:
    """Approve or reject every record of the selection the form carries (its filters). Records
    already in that state are left alone, so their audit trail gets no empty entries."""
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in BULK:
        raise HTTPException(400, f"bulk action '{action}' is not one of approve, reject")
    reason = str(form.get("reason", "")).strip()
    if action == "reject" and not reason:
        raise HTTPException(400, "a bulk reject needs a reason")
    params = {k: str(v) for k, v in form.items()}
    view = current(request, params)
    store = review_store(request)
    user = review_user(serve_state(request).config)
    status = BULK[action]
    changes = []
    for row in view.selected:
        prior = view.reviews.get(row.id)
        # An edited record is an approved one (its edit is what trains).
        if prior is not None and (prior.status == status or (status, prior.status) == _SAME):
            continue
        question, answer = shown_text(row, prior)
        before = {
            "status": prior.status if prior else PENDING,
            "question": question,
            "answer": answer,
        }
        changes.append(Change(row.id, status, reason=reason or None, before=before))
    # One transaction for the whole selection (one audit row per record all the same).
    store.set_many(changes, user)
    return RedirectResponse(list_url(view.filters, int_param(params.get("at"))), status_code=303)


routes: list[BaseRoute] = [
    Route("/datasets", datasets, name="datasets"),
    Route("/datasets/bulk", bulk, methods=["POST"], name="datasets_bulk"),
]
