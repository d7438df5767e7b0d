"""The fake server's rate-limit mode, read over real HTTP with httpx."""

from __future__ import annotations

import time

import httpx

from doctune.models.pacing import RateLimits
from doctune.testing.fake_openai import FakeOpenAIServer, RateLimit

BODY = {
    "model": "fake-model",
    "messages": [{"role": "user", "content": "The coupling runs at 40 °C for 12 h."}],
    "max_tokens": 20,
}


def post(client: httpx.Client, server: FakeOpenAIServer) -> httpx.Response:
    return client.post(f"{server.base_url}/chat/completions", json=BODY)


def test_every_reply_says_what_is_left_and_a_refusal_says_when_to_come_back() -> None:
    with FakeOpenAIServer(rate_limit=RateLimit(requests=3, window_s=30.0)) as server:
        with httpx.Client() as client:
            replies = [post(client, server) for _ in range(5)]
        assert [r.status_code for r in replies[:3]] == [200, 200, 200]
        limits = [RateLimits.from_headers(r.headers) for r in replies]
        assert [x.remaining_requests for x in limits] == [2, 1, 0, 0, 0]
        assert all(x.limit_requests == 3 for x in limits)
        assert all(0 < (x.reset_requests_s or 0) <= 30 for x in limits)
        refused = replies[3:]  # the first window starts with the server: it is whole
        assert [r.status_code for r in refused] == [429, 429]
        assert server.counts["429"] == server.counts["rate_limited"] == 2
        assert all(RateLimits.from_headers(r.headers).retry_after_s for r in refused)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert server.completions == 3


def test_the_quota_comes_back_with_the_next_window() -> None:
    quota = RateLimit(requests=1, window_s=0.3)
    with FakeOpenAIServer(rate_limit=quota) as server, httpx.Client() as client:
        post(client, server)
        wait = RateLimits.from_headers(post(client, server).headers).reset_requests_s
        assert wait is not None and wait <= 0.3
        time.sleep(wait + 0.05)
        assert post(client, server).status_code == 200


def test_a_token_quota_refuses_a_request_that_would_overspend_it() -> None:
    with FakeOpenAIServer(rate_limit=RateLimit(requests=100, window_s=30.0, tokens=40)) as server:
        with httpx.Client() as client:
            first, second = post(client, server), post(client, server)
        assert first.status_code == 200 and second.status_code == 429
        limits = RateLimits.from_headers(first.headers)
        assert limits.limit_tokens == 40 and limits.remaining_tokens is not None
        assert 0 <= limits.remaining_tokens < 40 - 20  # the prompt plus max_tokens reserved


def test_without_a_quota_no_rate_limit_headers_are_sent() -> None:
    with FakeOpenAIServer() as server, httpx.Client() as client:
        reply = post(client, server)
    assert reply.status_code == 200
    assert not any(k.lower().startswith("x-ratelimit") for k in reply.headers)
