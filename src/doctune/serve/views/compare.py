"""Compare answers: every evaluation item with its question, reference and each model's answer
side by side (base, fine-tuned, +RAG), the judge's scores and rationale or the quiz letter read;
filtered by suite, dataset, exclusion and score difference, sorted by it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from doctune.foundation.evalrecords import EXCLUSION_LABELS, ItemResult
from doctune.serve.answer_index import (
    DIFF_FILTERS,
    PAGE_SIZE,
    AnswerIndex,
    Answers,
    CompareFilters,
    Item,
    item_score,
    select_items,
)
from doctune.serve.reviewing import int_param, serve_state
from doctune.serve.templating import render


def answer_index(request: Request) -> AnswerIndex:
    index = getattr(request.app.state, "answer_index", None)
    if index is None:
        index = request.app.state.answer_index = AnswerIndex()
    return index


async def compare(request: Request) -> Response:
    answers = answer_index(request).get(serve_state(request).manifest())
    filters = CompareFilters.from_query(request.query_params)
    selected = select_items(answers, filters)
    total = len(selected)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(max(int_param(request.query_params.get("page")) or 1, 1), pages)
    first = (page - 1) * PAGE_SIZE
    versus = filters.versus or next(iter(answers.finetuned()), "")
    context = {
        "title": "Compare answers",
        "filters": filters,
        "versus": versus,
        "base_of_versus": answers.roles[versus].base if versus in answers.roles else None,
        "items": [
            _item_view(answers, item, diff) for item, diff in selected[first : first + PAGE_SIZE]
        ],
        "total": total,
        "all": len(answers.items),
        "first": first + 1 if total else 0,
        "last": min(first + PAGE_SIZE, total),
        "page": page,
        "pages": pages,
        "suites": answers.suites,
        "datasets": sorted({i.dataset for i in answers.items if i.dataset}),
        "exclusions": [(k, EXCLUSION_LABELS.get(k, k)) for k in answers.exclusions],
        "diffs": DIFF_FILTERS,
        "finetuned": answers.finetuned(),
        "prev_url": _page_url(filters, page - 1) if page > 1 else None,
        "next_url": _page_url(filters, page + 1) if page < pages else None,
    }
    return render(request, "compare.html", context)


def _page_url(filters: CompareFilters, page: int) -> str:
    return "/compare?" + urlencode({**filters.query(), "page": str(page)})


def _item_view(answers: Answers, item: Item, diff: float | None) -> dict[str, Any]:
    cards = []
    for model, variant in answers.columns:
        result = item.results.get((model, variant))
        if result is not None:
            cards.append(_card(answers, model, variant, result))
    return {"item": item, "diff": diff, "cards": cards}


def _card(answers: Answers, model: str, variant: str, result: ItemResult) -> dict[str, Any]:
    role = answers.roles.get(model)
    verdict = next((j for j in result.judges if j.error is None), None)
    return {
        "label": model + (" +RAG" if variant == "rag" else ""),
        "kind": role.kind if role else "",
        "spec": result.spec,
        "answer": result.answer,
        "score_text": _score_text(result),
        "scores": {k: v for k, v in result.scores.items() if v is not None},
        "verdict": verdict,
        "judge_errors": [j.error for j in result.judges if j.error],
        "extracted": result.extracted,
        "extraction": result.extraction,
        "excluded": result.excluded,
        "cut_off": result.cut_off,
    }


def _score_text(result: ItemResult) -> str:
    score = item_score(result)
    if score is None:
        return ""
    if "correct" in result.scores:
        return "correct" if score else "wrong"
    return f"{score:.2f}"


routes: list[BaseRoute] = [Route("/compare", compare, name="compare")]
