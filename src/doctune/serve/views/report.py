"""The report stage's output (out/report/: index.html and its plots), served read-only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from doctune.serve.security import safe_path
from doctune.serve.templating import render, state_of


async def report(request: Request) -> Response:
    relative = request.path_params.get("path") or "index.html"
    folder = state_of(request).out / "report"
    if relative == "index.html" and not (folder / "index.html").is_file():
        return render(request, "no_report.html", {"title": "Report", "folder": folder}, 404)
    return FileResponse(safe_path(folder, relative))


async def to_folder(request: Request) -> Response:
    # Relative links in index.html (plots/...) resolve only under the folder's own URL.
    return RedirectResponse("/report/", status_code=307)


routes: list[BaseRoute] = [
    Route("/report", to_folder),
    Route("/report/", report, name="report"),
    Route("/report/{path:path}", report),
]
