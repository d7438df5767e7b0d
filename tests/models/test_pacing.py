"""Pacing: rate-limit headers read, the AIMD limit, and a real client slowed by a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from doctune.foundation.config import ModelSettings
from doctune.models.base import Message
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.openai import OpenAIBackend
from doctune.models.pacing import AdaptiveLimiter, RateLimits, Ticket, parse_duration
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer, RateLimit

TEXT = "The nickel-catalysed coupling runs at 40 °C for 12 h under nitrogen."


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("2h0m0s", 7200.0),
        ("0.5", 0.5),
        ("17", 17.0),
        (" 250ms ", 0.25),
        ("150us", 0.00015),
    ],
)
def test_reset_durations_in_their_real_world_forms(value: str, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "1x", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_unreadable_durations_are_none(value: str | None) -> None:
    assert parse_duration(value) is None


def test_headers_read_case_insensitively_and_retry_after_ms_preferred() -> None:
    limits = RateLimits.from_headers(
        {
            "X-RateLimit-Limit-Requests": "60",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-tokens": "6m0s",
            "retry-after": "2",
            "retry-after-ms": "1500",
        }
    )
    assert (limits.limit_requests, limits.remaining_requests) == (60, 59)
    assert limits.reset_requests_s == 1.0 and limits.reset_tokens_s == 360.0
    assert limits.remaining_tokens == 149984
    assert limits.retry_after_s == 1.5
    assert RateLimits.from_headers({"Retry-After": "3"}).retry_after_s == 3.0
    assert RateLimits.from_headers({}) == RateLimits()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ticket(limiter: AdaptiveLimiter, seq: int) -> Ticket:
    return Ticket(limiter, seq, limiter.clock())


def test_a_429_halves_the_limit_once_per_burst_down_to_the_floor() -> None:
    limiter = AdaptiveLimiter(64, floor=2, clock=Clock())
    limiter._started = 10
    assert limiter.limit == 64  # open from the start: an unlimited endpoint loses nothing
    for seq in range(10):  # one burst of 429s from calls already in flight: one cut
        limiter.observe(ticket(limiter, seq), 429, RateLimits(retry_after_s=0.1))
    assert limiter.limit == 32
    for round_ in range(10):
        limiter._started += 1
        limiter.observe(ticket(limiter, limiter._started), 429, RateLimits())
        assert limiter.limit == max(2, 32 >> (round_ + 1))
    assert limiter.limit == 2


def test_unthrottled_replies_grow_the_limit_by_one_per_window_up_to_the_ceiling() -> None:
    limiter = AdaptiveLimiter(6, floor=1, clock=Clock())
    limiter.limit = 2
    grown = []
    for seq in range(20):
        limiter.inflight += 1
        limiter._done(ticket(limiter, seq), ok=True)
        grown.append(limiter.limit)
    assert grown[:7] == [2, 3, 3, 3, 4, 4, 4]  # +1 after `limit` replies
    assert max(grown) == 6 and grown[-1] == 6
    limiter.limit = 3
    throttled = ticket(limiter, 99)
    throttled.throttled = True
    for _ in range(5):
        limiter.inflight += 1
        limiter._done(throttled, ok=True)
    assert limiter.limit == 3  # a throttled reply is no reason to grow


def test_a_spent_window_holds_new_calls_until_its_reset() -> None:
    clock = Clock()
    limiter = AdaptiveLimiter(8, clock=clock)
    limiter._started = 4
    limiter.observe(ticket(limiter, 3), 200, RateLimits(remaining_requests=3, reset_requests_s=2))
    assert limiter.delay() == 0  # three left and none sent since that reply
    limiter._started = 7  # three more sent: the window is spent
    assert limiter.delay() == pytest.approx(2.05)
    clock.now += 2.1
    assert limiter.delay() == 0  # reset: open until the next reply says otherwise
    limiter.observe(ticket(limiter, 1), 200, RateLimits(remaining_requests=0, reset_requests_s=9))
    assert limiter.delay() == 0  # an older reply than one already read is ignored
    limiter.observe(ticket(limiter, 7), 429, RateLimits(retry_after_s=1.5))
    assert limiter.delay() == pytest.approx(1.55)


def test_the_limiter_admits_no_more_than_its_limit() -> None:
    async def run() -> int:
        limiter = AdaptiveLimiter(3, floor=1)
        peak = 0

        async def call() -> None:
            nonlocal peak
            async with limiter.slot():
                peak = max(peak, limiter.inflight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(call() for _ in range(12)))
        assert limiter.inflight == 0
        return peak

    assert asyncio.run(run()) == 3


def paced_client(server: FakeOpenAIServer, tmp_path: Path | None = None) -> ModelClient:
    settings = ModelSettings(base_url=server.base_url, api_key="sk-test")
    backend = OpenAIBackend(parse_spec("openai:fake-model"), settings, timeout_s=10, max_retries=8)
    cache = CallCache(tmp_path / "calls.sqlite") if tmp_path else None
    return ModelClient(backend, settings=settings, cache=cache, concurrency=32)


def prompts(n: int) -> list[list[Message]]:
    return [[Message(role="user", content=f"Document {i}. {TEXT}")] for i in range(n)]


async def paced_run(server: FakeOpenAIServer, n: int) -> list[str]:
    client = paced_client(server)
    try:
        replies = await asyncio.gather(*(client.chat(m) for m in prompts(n)))
    finally:
        await client.aclose()
    return [r.text for r in replies]


async def bare_run(server: FakeOpenAIServer, n: int) -> None:
    """The same calls through the bare SDK with a fixed semaphore: what pacing replaces."""
    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=8)
    gate = asyncio.Semaphore(32)

    async def one(messages: list[Message]) -> None:
        async with gate:
            await sdk.chat.completions.create(
                model="fake-model", messages=[m.model_dump() for m in messages]
            )

    try:
        await asyncio.gather(*(one(m) for m in prompts(n)))
    finally:
        await sdk.close()


@pytest.mark.slow
def test_rate_limit_headers_spread_the_calls_over_the_windows() -> None:
    quota = RateLimit(requests=40, window_s=1.0)  # 32 in flight could send 1,600 a second
    with FakeOpenAIServer(latency_s=0.02, rate_limit=quota) as server:
        texts = asyncio.run(paced_run(server, 120))
        paced = dict(server.counts)
    with FakeOpenAIServer(latency_s=0.02, rate_limit=quota) as server:
        asyncio.run(bare_run(server, 120))
        bare = dict(server.counts)
    with FakeOpenAIServer(latency_s=0.02) as server:
        assert asyncio.run(paced_run(server, 120)) == texts  # only the timing changed
    assert paced["ok"] == bare["ok"] == 120
    # The client waits for each reset instead of retrying into the limit: at most a few 429s
    # (a reply's count races the calls sent after it), where the fixed semaphore gets many.
    assert paced.get("429", 0) <= 4, paced
    assert bare["429"] >= 20 + 3 * paced.get("429", 0), bare


def test_a_cache_hit_never_waits_for_the_limiter(tmp_path: Path) -> None:
    async def run(server: FakeOpenAIServer) -> None:
        client = paced_client(server, tmp_path)
        try:
            first = await client.chat(prompts(1)[0])
            client.limiter._hold(client.limiter.clock() + 3600)  # a window spent for an hour
            again = await asyncio.wait_for(client.chat(prompts(1)[0]), timeout=5)
            assert again.cached and again.text == first.text
        finally:
            await client.aclose()

    with FakeOpenAIServer() as server:
        asyncio.run(run(server))
        assert server.counts["requests"] == 1
