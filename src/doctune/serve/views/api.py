"""`/api/state`: what an open page polls to learn that a run changed the data since it was
rendered (the manifest's version stamp, one stat of one file) and whether a run holds the
output folder now."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from doctune.serve.overview import running
from doctune.serve.templating import state_of


async def api_state(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse(
        {"version": state.version(), "running": running(state.out)},
        headers={"Cache-Control": "no-store"},
    )


routes: list[BaseRoute] = [Route("/api/state", api_state, name="api_state")]
