"""`create_app`: the Starlette application over one project (routes from `views/`, the guard from
`security.py`, the static files shipped in the package)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from doctune.serve.chatting import close_chat
from doctune.serve.security import Guard
from doctune.serve.state import ServeState
from doctune.serve.templating import STATIC_DIR
from doctune.serve.views import VIEWS


class StampVersion:
    """Notes the manifest's version stamp as a request starts, before its view reads any data
    (`render` puts it in the page): a run that lands while a page is being made then shows as a
    change, never as the page's own version."""

    def __init__(self, app: ASGIApp, state: ServeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["data_version"] = self.state.version()
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await close_chat(app.state)


def create_app(
    project: Path,
    config_file: Path | None = None,
    out: Path | None = None,
    token: str | None = None,
) -> Starlette:
    """The app for `project` (its config from `config_file` or doctune.yaml, its outputs in `out`
    or the config's). With `token`, every request must carry it (cookie from /signin?token=, or
    `Authorization: Bearer`)."""
    state = ServeState.load(project, config_file, out, token)
    routes: list[BaseRoute] = [route for view in VIEWS for route in view.routes]
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    middleware = [Middleware(Guard, state=state), Middleware(StampVersion, state=state)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=_lifespan)
    app.state.doctune = state
    return app
