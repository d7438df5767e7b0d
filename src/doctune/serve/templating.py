"""The Jinja2 templates every view renders with (autoescape on: every model-written text is
escaped), and the context every page gets (nav, CSRF token, the "data changed" notice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from doctune.serve.state import ServeState

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

NAV = (
    ("Overview", "/"),
    ("Documents", "/documents"),
    ("Datasets", "/datasets"),
    ("Compare", "/compare"),
    ("Chat", "/chat"),
    ("Report", "/report/"),
)

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
)


def state_of(request: Request) -> ServeState:
    return request.app.state.doctune


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The page `name` with the shared context. The page carries the manifest's version stamp,
    which static/stale.js compares with `/api/state`'s; `seen` (the manifest mtime a page was
    loaded with, from ?seen=) says the same without the script."""
    state = state_of(request)
    # Stamped as the request began (app.StampVersion), before the view read any data.
    version = getattr(request.state, "data_version", None) or state.version()
    seen = request.query_params.get("seen")
    changed = seen is not None and state.changed_since(_float(seen))
    shared = {
        "nav": NAV,
        "project_name": state.project.name,
        "csrf_token": state.csrf_token,
        "manifest_mtime": state.manifest_mtime,
        "data_version": version,
        "data_changed": changed,
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**shared, **context}, status_code=status_code)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
