"""The fake server's account quota: N requests (and optionally T tokens) per fixed window, with
the `x-ratelimit-*` headers OpenAI sends on every reply and Retry-After on a refusal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class RateLimit:
    """A quota per fixed window, counted when a request arrives (a refused one counts nothing).
    Tokens are the prompt's (4 characters each) plus `max_tokens`, as providers reserve them."""

    requests: int
    window_s: float = 60.0
    tokens: int | None = None


def duration(seconds: float) -> str:
    """A reset time the way OpenAI writes it: "20ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if minutes else f"{rest:.3g}s"


def request_tokens(body: dict[str, Any]) -> int:
    chars = sum(len(str(m.get("content", ""))) + 1 for m in body.get("messages", []))
    return chars // 4 + 1 + int(body.get("max_tokens") or 0)


class QuotaWindows:
    """Fixed windows counted from construction, so the first one is whole."""

    def __init__(self, quota: RateLimit) -> None:
        self.quota = quota
        self._epoch = time.monotonic()
        self._lock = threading.Lock()
        self._window = (0, 0, 0)  # (window index, requests, tokens) of the current window

    def take(self, body: dict[str, Any]) -> tuple[bool, dict[str, str]]:
        """(allowed, headers) for a request arriving now; counted when allowed."""
        quota = self.quota
        now = time.monotonic() - self._epoch
        cost = request_tokens(body)
        with self._lock:
            index = int(now // quota.window_s)
            window, used, spent = self._window
            if window != index:
                used, spent = 0, 0
            allowed = used < quota.requests and (
                quota.tokens is None or spent + cost <= quota.tokens
            )
            if allowed:
                used, spent = used + 1, spent + cost
            self._window = (index, used, spent)
        reset = (index + 1) * quota.window_s - now
        headers = {
            "x-ratelimit-limit-requests": str(quota.requests),
            "x-ratelimit-remaining-requests": str(max(0, quota.requests - used)),
            "x-ratelimit-reset-requests": duration(reset),
        }
        if quota.tokens is not None:
            headers["x-ratelimit-limit-tokens"] = str(quota.tokens)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, quota.tokens - spent))
            headers["x-ratelimit-reset-tokens"] = duration(reset)
        if not allowed:
            headers["retry-after-ms"] = str(max(1, round(reset * 1000)))
            headers["Retry-After"] = str(max(1, round(reset)))
        return allowed, headers
