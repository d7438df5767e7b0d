"""Pacing by the provider's own limits: an adaptive concurrency limit and the rate-limit headers.

OpenAI-compatible servers say on every reply how much of the current window is left
(`x-ratelimit-remaining-requests/-tokens`) and when it resets (`x-ratelimit-reset-*`, "6m0s",
"20ms"); a 429 says when to come back (`retry-after`, `retry-after-ms`). The limiter keeps the
calls in flight between a floor and the configured concurrency (AIMD: +1 per window of
unthrottled replies, halved on a 429) and holds new calls until the reset once the window is
nearly spent, so a run at concurrency 64 against a rate-limited account slows down instead of
burning retries. Only timing changes: the requests and their order of results do not.

The backend reports what it saw through `report_headers`, which finds the call's ticket in a
context variable set by `AdaptiveLimiter.slot`: backends need no reference to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

# "1s", "6m0s", "20ms", "1m30.5s", "2h0m0s", "150us" (Go durations), or plain seconds ("0.5").
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# Never trust a server to hold us longer than this (a garbled header must not stall a run).
MAX_HOLD_S = 120.0
# Past a reset before sending again: a reset header is rounded, and our clock is not the server's.
RESET_MARGIN_S = 0.05


def parse_duration(value: str | None) -> float | None:
    """Seconds in a reset or retry header, or None when it cannot be read."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimits:
    """What one reply said about the window; None where the server did not say."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None
    retry_after_s: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimits:
        get = {k.lower(): v for k, v in headers.items()}.get
        retry = parse_duration(get("retry-after-ms"))
        retry = retry / 1000 if retry is not None else parse_duration(get("retry-after"))
        return cls(
            limit_requests=_int(get("x-ratelimit-limit-requests")),
            remaining_requests=_int(get("x-ratelimit-remaining-requests")),
            reset_requests_s=parse_duration(get("x-ratelimit-reset-requests")),
            limit_tokens=_int(get("x-ratelimit-limit-tokens")),
            remaining_tokens=_int(get("x-ratelimit-remaining-tokens")),
            reset_tokens_s=parse_duration(get("x-ratelimit-reset-tokens")),
            retry_after_s=retry,
        )


@dataclass
class Ticket:
    """One call's place in the limiter: `seq` orders calls by when they started, so a reply's
    remaining count is discounted by the calls started after it (the server may not have
    counted them yet)."""

    limiter: AdaptiveLimiter
    seq: int
    started: float
    throttled: bool = False
    holding: bool = True


_CURRENT: ContextVar[Ticket | None] = ContextVar("doctune_pacing_ticket", default=None)


def report_headers(status: int, headers: Mapping[str, str]) -> bool:
    """Called by a backend for every HTTP reply (retried ones included) of the current call;
    True when a limiter paces the call (a backend then leaves its 429s to `requeue`)."""
    ticket = _CURRENT.get()
    if ticket is None:
        return False
    ticket.limiter.observe(ticket, status, RateLimits.from_headers(headers))
    return True


async def requeue() -> bool:
    """Give up the current call's place after a 429 and wait for a new one, behind the hold the
    429 set: a retry then goes out paced with the other calls, not on its own timer. False when
    no limiter paces this call."""
    ticket = _CURRENT.get()
    if ticket is None:
        return False
    await ticket.limiter.requeue(ticket)
    return True


class AdaptiveLimiter:
    """Calls in flight between `floor` and `ceiling`, paced by what the server says."""

    def __init__(
        self, ceiling: int, *, floor: int = 2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        # Start open: an endpoint without limits must run at full concurrency from the start.
        self.limit = self.ceiling
        self.clock = clock
        self.inflight = 0
        self.throttles = 0
        self.holds = 0
        self._started = 0
        self._grown = 0
        self._cut_seq = -1  # 429s of calls started before the last cut do not cut again
        self._hold_until = 0.0
        self._seen_seq = -1
        # What the last reply read left, less the other calls in flight then (they may not have
        # reached the server yet); `_left_since` is `_started` at that time.
        self._requests_left: int | None = None
        self._tokens_left: int | None = None
        self._left_since = 0
        self._tokens_per_call = 0.0
        self._reset_requests_at = 0.0
        self._reset_tokens_at = 0.0
        self._wake: asyncio.Event | None = None

    # -- what the server said ---------------------------------------------------------------
    def observe(self, ticket: Ticket, status: int, limits: RateLimits) -> None:
        now = self.clock()
        if status in (429, 503):
            ticket.throttled = True
            self.throttles += 1
            wait = limits.retry_after_s
            if wait is None:
                wait = limits.reset_requests_s if limits.remaining_requests == 0 else 1.0
            self._hold(now + min(wait, MAX_HOLD_S) + RESET_MARGIN_S)
            if ticket.seq > self._cut_seq:
                self.limit = max(self.floor, self.limit // 2)
                self._cut_seq = self._started
                self._grown = 0
        if ticket.seq < self._seen_seq:
            return  # an older reply than one already read says less
        self._seen_seq = ticket.seq
        others = max(0, self.inflight - 1)
        self._left_since = self._started
        if limits.remaining_requests is not None:
            self._requests_left = limits.remaining_requests - others
            if limits.remaining_requests <= 0 and limits.reset_requests_s is not None:
                self._hold(now + min(limits.reset_requests_s, MAX_HOLD_S) + RESET_MARGIN_S)
        if limits.remaining_tokens is not None:
            self._tokens_left = limits.remaining_tokens - round(others * self._tokens_per_call)
        self._reset_requests_at = now + min(limits.reset_requests_s or 0.0, MAX_HOLD_S)
        self._reset_tokens_at = now + min(limits.reset_tokens_s or 0.0, MAX_HOLD_S)
        self._reset_requests_at += RESET_MARGIN_S
        self._reset_tokens_at += RESET_MARGIN_S

    def note_tokens(self, tokens: int) -> None:
        """Tokens a reply used (prompt + completion): what a token window is spent by."""
        self._tokens_per_call += (tokens - self._tokens_per_call) * 0.2

    def _hold(self, until: float) -> None:
        if until > self._hold_until:
            self._hold_until = until
            self.holds += 1

    def _done(self, ticket: Ticket, ok: bool) -> None:
        self.inflight -= 1
        if ok and not ticket.throttled and self.limit < self.ceiling:
            self._grown += 1
            if self._grown >= self.limit:  # additive increase: +1 per window of replies
                self.limit += 1
                self._grown = 0

    # -- when a call may start ---------------------------------------------------------------
    def delay(self) -> float:
        """Seconds until a new call may start for the window's sake (0: now)."""
        now = self.clock()
        if now < self._hold_until:
            return self._hold_until - now
        ahead = self._started - self._left_since  # started after the last reply read
        if self._requests_left is not None and self._requests_left - ahead <= 0:
            if now < self._reset_requests_at:
                return self._reset_requests_at - now
            self._requests_left = None  # the window has reset: unknown until the next reply
        per_call = self._tokens_per_call
        if self._tokens_left is not None and self._tokens_left - ahead * per_call < per_call:
            if now < self._reset_tokens_at:
                return self._reset_tokens_at - now
            self._tokens_left = None
        return 0.0

    async def _admit(self) -> Ticket:
        while True:
            wait = self.delay()
            if wait <= 0 and self.inflight < self.limit:
                break
            if self._wake is None:
                self._wake = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait if wait > 0 else None)
        ticket = Ticket(self, self._started, self.clock())
        self._started += 1
        self.inflight += 1
        return ticket

    async def requeue(self, ticket: Ticket) -> None:
        self._release(ticket, False)
        again = await self._admit()
        ticket.seq, ticket.started, ticket.holding = again.seq, again.started, True

    def _release(self, ticket: Ticket, ok: bool) -> None:
        if not ticket.holding:
            return
        ticket.holding = False
        self._done(ticket, ok)
        if self._wake is not None:  # every waiter looks again; a new event for the next ones
            self._wake.set()
            self._wake = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        """Hold one place for a backend call; the backend's reports reach this ticket."""
        ticket = await self._admit()
        token = _CURRENT.set(ticket)
        ok = False
        try:
            yield ticket
            ok = True
        finally:
            _CURRENT.reset(token)
            self._release(ticket, ok)
