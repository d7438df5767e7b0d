"""The app's guard, in front of every route: the access token (when bound beyond loopback), and
for state-changing requests a same-origin check and the CSRF token; plus the path check every
endpoint that reads a file goes through."""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doctune.serve.state import ServeState

TOKEN_COOKIE = "doctune_token"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SIGNIN_PATH = "/signin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Forms and JSON edits only: a POST body is held in memory to check its CSRF field, so it is capped.
MAX_BODY = 4 * 1024 * 1024


def same(secret: str, given: str | None) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of it matched."""
    return given is not None and hmac.compare_digest(secret.encode(), given.encode())


def safe_path(root: Path, relative: str) -> Path:
    """`relative` under `root`, resolved (links followed); 404 for anything that lands outside it,
    or that is not a file, so a traversal attempt looks like any missing page."""
    root = root.resolve()
    try:
        target = (root / relative).resolve()
    except (OSError, ValueError):
        raise HTTPException(404) from None
    if not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(404)
    return target


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _same_origin(request: Request) -> bool:
    """A POST's Origin (or, without one, its Referer) must name this host. Neither header: allowed
    here, the CSRF token still has to match (non-browser clients send neither)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    parts = urlsplit(source)
    return parts.netloc == request.headers.get("host", "")


class Guard:
    """Pure ASGI middleware: checks before the route runs; a POST body is read here (forms are
    small) and replayed to the route, so the CSRF field is checked for every form at one place."""

    def __init__(self, app: ASGIApp, state: ServeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        request = Request(scope, receive)
        token = self.state.token
        if token is not None:
            if request.url.path == SIGNIN_PATH:
                await self._signin(request, token)(scope, receive, send)
                return
            if not (
                same(token, request.cookies.get(TOKEN_COOKIE)) or same(token, _bearer(request))
            ):
                await _refuse(401, "sign in with the URL `doctune serve` printed")(
                    scope, receive, send
                )
                return
        if request.method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if not _same_origin(request):
            await _refuse(403, "cross-site request refused")(scope, receive, send)
            return
        body = await _read_capped(request)
        if body is None:
            await _refuse(413, f"request body over {MAX_BODY:,} bytes")(scope, receive, send)
            return
        replay = _replay(body)
        if not await self._csrf_ok(Request(scope, replay)):
            await _refuse(403, "missing or wrong CSRF token (reload the page)")(
                scope, receive, send
            )
            return
        await self.app(scope, _replay(body, receive), send)

    def _signin(self, request: Request, token: str) -> Response:
        if not same(token, request.query_params.get("token")):
            return _refuse(401, "wrong or missing token")
        response = RedirectResponse(URL("/"), status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def _csrf_ok(self, request: Request) -> bool:
        if same(self.state.csrf_token, request.headers.get(CSRF_HEADER)):
            return True
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            return False
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return isinstance(value, str) and same(self.state.csrf_token, value)


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(status: int, message: str) -> Response:
    return PlainTextResponse(f"{status}: {message}\n", status_code=status)


# On every response: no framing by another site (a review button clicked through an invisible
# frame), no content-type sniffing of served files, no URL of ours in another site's Referer.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)

    return sending


def _replay(body: bytes, then: Receive | None = None) -> Receive:
    """The body once, then what the client does next (`then`): a streaming response listens
    for the disconnect and would stop at once if one were made up here."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then() if then is not None else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
