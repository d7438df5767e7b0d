"""What the loopback fakes share: a threaded HTTP server on 127.0.0.1 with a life cycle, and a
handler that speaks JSON over keep-alive connections the way real API servers do."""

from __future__ import annotations

import email.parser
import email.policy
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="LoopbackServer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops connections at concurrency 32

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-request (a cancelled task, a client timeout) is expected in
        # these tests; anything else is a bug in the fake and keeps its traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class JSONHandler(BaseHTTPRequestHandler):
    """Keep-alive, no Nagle, quiet; `owner` is the server object the handler belongs to."""

    owner: Any
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK adds
    # ~40 ms to every reply: the fake's artefact, which a benchmark would book as the client's.
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def send_json(
        self,
        status: int,
        payload: dict[str, Any] | bytes | str,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if isinstance(payload, bytes):
            raw = payload
        else:
            raw = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LoopbackServer:
    """Start with `with Server() as server:`; point clients at `server.base_url`."""

    handler: ClassVar[type[JSONHandler]]
    thread_name: ClassVar[str] = "fake-server"

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self._httpd: _Server | None = None

    def start(self: S) -> S:
        handler = type("BoundHandler", (self.handler,), {"owner": self})
        self._httpd = _Server(("127.0.0.1", self.port), handler)
        threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=self.thread_name,
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"


def cursor_page(
    items: list[dict[str, Any]], query: dict[str, str], default_limit: int
) -> dict[str, Any]:
    """A cursor page: `after` is the id of the last item of the previous page."""
    if "after" in query:
        ids = [item["id"] for item in items]
        items = items[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
    limit = int(query.get("limit", default_limit))
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], str, bytes]:
    """The form fields, file name and file bytes of a multipart/form-data upload."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    filename, content = "", b""
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            filename, content = part.get_filename(), payload
        elif name:
            fields[name] = payload.decode()
    return fields, filename, content
