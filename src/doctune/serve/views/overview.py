"""The overview: the stages and their state, counts, costs, the last run's errors, links."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from doctune.serve.templating import render


async def overview(request: Request) -> Response:
    return render(request, "overview.html", {"title": "Overview"})


routes: list[BaseRoute] = [Route("/", overview, name="overview")]
