"""Chat: the QA chatbot against any model spec, role or experiment, with the RAG toggle showing
the passages retrieved. A plain form POST answers with the whole page (no JS needed); the page's
script posts to /chat/stream instead and shows the passages as soon as they are retrieved and
the answer as the model writes it (NDJSON events: start, sources, a token per piece of the
answer, then the whole answer with the conversation to carry)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from doctune.chat import Reply
from doctune.foundation.errors import DoctuneError
from doctune.models import Message
from doctune.serve.chatting import ChatEngine, chat_engine, dump_history, parse_history, source_view
from doctune.serve.reviewing import serve_state
from doctune.serve.templating import render

DEFAULT_MODEL = "student"


def _engine(request: Request) -> ChatEngine:
    return chat_engine(request.app.state, serve_state(request))


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {
        "model": str(form.get("model", "")).strip() or DEFAULT_MODEL,
        "rag": form.get("rag") in ("on", "1", "true"),
        "question": str(form.get("question", "")).strip(),
        "history": parse_history(str(form.get("history", ""))),
    }


def _page(request: Request, asked: dict[str, Any], **extra: Any) -> Response:
    history: list[Message] = extra.pop("history", asked.get("history", []))
    status = extra.pop("status", 200)
    context = {
        "title": "Chat",
        "model": asked.get("model", DEFAULT_MODEL),
        "rag": asked.get("rag", False),
        "models": _engine(request).models(),
        "turns": history,
        "history_json": dump_history(history),
        **extra,
    }
    return render(request, "chat.html", context, status_code=status)


async def chat_page(request: Request) -> Response:
    rag = request.query_params.get("rag") in ("on", "1", "true")
    model = request.query_params.get("model", DEFAULT_MODEL)
    return _page(request, {"model": model, "rag": rag, "history": []})


async def chat_post(request: Request) -> Response:
    asked = await _form(request)
    if asked["question"] == "/reset" or not asked["question"]:
        return _page(request, asked, history=[])
    try:
        spec, session = _engine(request).session(asked["model"], asked["rag"], asked["history"])
        reply: Reply = await session.ask(asked["question"])
    except DoctuneError as exc:
        return _page(request, asked, error=str(exc), status=400)
    return _page(request, asked, history=session.history, spec=spec, sources=source_view(reply))


async def chat_stream(request: Request) -> Response:
    asked = await _form(request)
    return StreamingResponse(_events(request, asked), media_type="application/x-ndjson")


async def _events(request: Request, asked: dict[str, Any]) -> AsyncIterator[str]:
    def event(**data: Any) -> str:
        return json.dumps(data, ensure_ascii=False) + "\n"

    if not asked["question"]:
        yield event(event="error", message="ask a question")
        return
    try:
        spec, session = _engine(request).session(asked["model"], asked["rag"], asked["history"])
        yield event(event="start", spec=spec)
        # Retrieval first, on its own, so the passages show while the model is still answering
        # (`ask` searches again: BM25 is cheap and an embedded query is cached by the retriever).
        if session.retriever is not None:
            found = session.retriever.search(asked["question"], session.k)
            yield event(event="sources", sources=source_view(Reply("", found)))
        parts = []
        async for piece in session.ask_streamed(asked["question"]):
            parts.append(piece)
            yield event(event="token", text=piece)
    except DoctuneError as exc:
        yield event(event="error", message=str(exc))
        return
    yield event(event="answer", text="".join(parts), history=dump_history(session.history))


routes: list[BaseRoute] = [
    Route("/chat", chat_page, name="chat"),
    Route("/chat", chat_post, methods=["POST"], name="chat_post"),
    Route("/chat/stream", chat_stream, methods=["POST"], name="chat_stream"),
]
