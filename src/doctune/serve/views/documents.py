"""Documents and chunks: every document with its ingest status and reason, a document's chunks
with pages and section, and one chunk with a passage highlighted (`/chunks/{id}?q=`)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from doctune.serve.chunks import all_chunks, chunk_by_id, documents, highlight
from doctune.serve.templating import render, state_of


async def document_list(request: Request) -> Response:
    state = state_of(request)
    chunks = all_chunks(state)
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.path] = counts.get(chunk.path, 0) + 1
    context = {"title": "Documents", "documents": documents(state), "counts": counts}
    return render(request, "documents.html", context)


async def document(request: Request) -> Response:
    path = request.path_params["path"]
    # Chunks are looked up by the path ingest recorded, never opened from disk: nothing to traverse.
    chunks = [c for c in all_chunks(state_of(request)) if c.path == path]
    if not chunks:
        raise HTTPException(404)
    return render(request, "document.html", {"title": path, "doc_path": path, "chunks": chunks})


async def chunk(request: Request) -> Response:
    found = chunk_by_id(state_of(request), request.path_params["chunk_id"])
    if found is None:
        raise HTTPException(404)
    passage = request.query_params.get("q")
    segments, matched = highlight(found.text, passage)
    context = {
        "title": f"chunk {found.id}",
        "chunk": found,
        "segments": segments,
        "passage": passage,
        "matched": matched,
    }
    return render(request, "chunk.html", context)


routes: list[BaseRoute] = [
    Route("/documents", document_list, name="documents"),
    Route("/documents/{path:path}", document, name="document"),
    Route("/chunks/{chunk_id}", chunk, name="chunk"),
]
