"""FakeOpenAIServer: a real HTTP server on loopback speaking the OpenAI chat completions API.

It stands in for a paid service in tests and benchmarks, and only there. Replies are
deterministic functions of the request: a structured request gets a valid instance of its JSON
schema whose strings are sentences of the prompt (so answers are grounded in their chunk), a
plain request gets prose drawn from the prompt. Faults are injected on demand: 429 with
Retry-After, 500, a hang past the client timeout, and truncated JSON. `RateLimit` makes it an
account with a quota: N requests (and optionally T tokens) per fixed window, the
`x-ratelimit-*` headers on every reply, 429 with Retry-After beyond the quota.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from doctune.testing.fake_replies import HTTPFault, Responder, default_responder, prompt_text
from doctune.testing.loopback import JSONHandler, LoopbackServer
from doctune.testing.quota import QuotaWindows, RateLimit


@dataclass
class Faults:
    """Fractions of requests that fail, each drawn independently per request."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_truncated: float = 0.0
    rate_hang: float = 0.0
    retry_after_s: float = 0.01
    hang_s: float = 3.0


class FakeOpenAIServer(LoopbackServer):
    """Start with `with FakeOpenAIServer() as server:`; point clients at `server.base_url`."""

    thread_name = "fake-openai"

    def __init__(
        self,
        *,
        responder: Responder = default_responder,
        responders: dict[str, Responder] | None = None,
        latency_s: float = 0.0,
        faults: Faults | None = None,
        rate_limit: RateLimit | None = None,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.responder = responder
        self.responders = dict(responders or {})
        self.latency_s = latency_s
        self.faults = faults or Faults()
        self.rate_limit = rate_limit
        self._quota = QuotaWindows(rate_limit) if rate_limit else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        # (arrived, answered, schema name or "") per completion served, time.monotonic() seconds:
        # tests read the order of a run's phases here, benchmarks the calls in flight.
        self.timeline: list[tuple[float, float, str]] = []

    @property
    def completions(self) -> int:
        """Successful chat completions served (what a client paid for)."""
        return self.counts["ok"] + self.counts["truncated"]

    # -- behaviour ----------------------------------------------------------------------------
    def draw_fault(self) -> str | None:
        f = self.faults
        with self._lock:
            roll = self._rng.random()
        for name, rate in (
            ("429", f.rate_429),
            ("500", f.rate_500),
            ("hang", f.rate_hang),
            ("truncated", f.rate_truncated),
        ):
            if roll < rate:
                return name
            roll -= rate
        return None

    def take_quota(self, body: dict[str, Any]) -> tuple[bool, dict[str, str]]:
        """(allowed, rate-limit headers) for a request arriving now; counts it when allowed."""
        if self._quota is None:
            return True, {}
        allowed, headers = self._quota.take(body)
        if not allowed:
            with self._lock:
                self.counts["rate_limited"] += 1
        return allowed, headers

    def reply_for(self, body: dict[str, Any]) -> str:
        fmt = body.get("response_format") or {}
        name = (fmt.get("json_schema") or {}).get("name")
        responder = self.responders.get(name, self.responder) if name else self.responder
        return responder(body)


class _Handler(JSONHandler):
    owner: FakeOpenAIServer

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(
                200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
            )
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        owner = self.owner
        arrived = time.monotonic()
        body = json.loads(self.read_body() or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        with owner._lock:
            owner.counts["requests"] += 1
            owner.auth_headers.append(self.headers.get("Authorization", ""))
        allowed, quota_headers = owner.take_quota(body)
        fault = owner.draw_fault()
        if owner.latency_s:
            time.sleep(owner.latency_s)
        if self._refused(allowed, fault, quota_headers):
            return
        try:
            # Streamed or not, a request gets the same reply (a responder seeds on the body).
            content = owner.reply_for({k: v for k, v in body.items() if k not in _STREAM_KEYS})
        except HTTPFault as refused:
            owner.counts[str(refused.status)] += 1
            self.send_json(refused.status, {"error": {"message": refused.message}})
            return
        if fault == "truncated":
            content = content[: max(1, len(content) // 2)]
        with owner._lock:
            owner.counts["truncated" if fault == "truncated" else "ok"] += 1
            owner.bodies.append(body)
            schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
            owner.timeline.append((arrived, time.monotonic(), schema or ""))
        finish = "length" if fault == "truncated" else "stop"
        if body.get("stream"):
            self.send_stream(body, content, finish, quota_headers)
        else:
            self.send_json(200, completion(body, content, finish), quota_headers)

    def _refused(self, allowed: bool, fault: str | None, quota_headers: dict[str, str]) -> bool:
        """Answer with the error the quota or the drawn fault calls for; False when neither does."""
        owner = self.owner
        if not allowed:
            owner.counts["429"] += 1
            error = {"message": "rate limit reached for requests", "type": "requests"}
            self.send_json(429, {"error": error}, quota_headers)
        elif fault == "429":
            owner.counts["429"] += 1
            self.send_json(
                429,
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                {"Retry-After": f"{owner.faults.retry_after_s:g}"},
            )
        elif fault == "500":
            owner.counts["500"] += 1
            self.send_json(500, {"error": {"message": "internal error"}})
        elif fault == "hang":
            owner.counts["hang"] += 1
            time.sleep(owner.faults.hang_s)
            self.send_json(500, {"error": {"message": "gave up"}})
        else:
            return False
        return True

    def send_stream(
        self,
        body: dict[str, Any],
        content: str,
        finish: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The reply as Server-Sent Events, a few words per chunk the way a server streams
        tokens, then the usage chunk when asked for (`stream_options.include_usage`) and
        `data: [DONE]`; sent with chunked transfer encoding, as real servers do."""
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0}
        base["model"] = body.get("model", "fake-model")
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in stream_pieces(content)]
        events = [
            {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt_tokens = len(prompt_text(body)) // 4 + 1
            completion_tokens = len(content) // 4 + 1
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            events.append({**base, "choices": [], "usage": usage})
        lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            for line in lines:
                raw = line.encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


def completion(body: dict[str, Any], content: str, finish: str) -> dict[str, Any]:
    """A chat.completion object for `content`, with token counts estimated from the characters."""
    prompt_chars = len(prompt_text(body))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_chars // 4 + 1,
            "completion_tokens": len(content) // 4 + 1,
            "total_tokens": prompt_chars // 4 + len(content) // 4 + 2,
        },
    }


_STREAM_KEYS = ("stream", "stream_options")
_PIECE = re.compile(r"\s*\S+\s*")


def stream_pieces(content: str, words: int = 2) -> list[str]:
    """`content` cut into pieces of a few words each (joined, they give it back exactly)."""
    found = _PIECE.findall(content)
    pieces = ["".join(found[i : i + words]) for i in range(0, len(found), words)]
    return pieces or ([content] if content else [])


FakeOpenAIServer.handler = _Handler


def main() -> None:
    """`python -m doctune.testing.fake_openai [--latency S] [--port N]`: serve until killed.

    Prints the base URL on its first line, so a benchmark or a demo can run the server in its own
    process (a server thread in the client's process would compete with it for the GIL).
    """
    import argparse

    parser = argparse.ArgumentParser(
        description="A fake OpenAI-compatible server on loopback (for tests and demos)."
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeOpenAIServer(latency_s=args.latency, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
