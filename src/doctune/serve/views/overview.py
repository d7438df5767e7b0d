"""The overview: the stages and their state, counts, costs, the last run's errors, links."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from doctune.serve.overview import StateCache, problems, running, stage_rows
from doctune.serve.templating import render, state_of

# Where each stage's outputs are browsed in the app.
STAGE_LINKS = {
    "ingest": "/documents",
    "synthesize": "/datasets",
    "curate": "/datasets",
    "split": "/datasets",
    "evaluate": "/compare",
    "report": "/report/",
}


def shown_path(path: Path, project: Path) -> str:
    """Relative to the project when inside it: shorter, and no home folder on a shared screen."""
    return path.relative_to(project).as_posix() if path.is_relative_to(project) else str(path)


async def overview(request: Request) -> Response:
    state = state_of(request)
    cache = getattr(request.app.state, "overview_states", None)
    if cache is None:
        cache = request.app.state.overview_states = StateCache()
    rows = stage_rows(state, cache)
    context = {
        "title": "Overview",
        "stages": rows,
        "problems": problems(state),
        "total_cost": sum(r.cost_usd for r in rows),
        "total_calls": sum(r.calls for r in rows),
        "has_report": (state.out / "report" / "index.html").is_file(),
        "out_dir": shown_path(state.out, state.project),
        "stage_links": STAGE_LINKS,
        "running": running(state.out),
    }
    return render(request, "overview.html", context)


routes: list[BaseRoute] = [Route("/", overview, name="overview")]
