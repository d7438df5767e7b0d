"""The openai: backend's two HTTP transports (client.http: aiohttp | httpx) against a real
loopback server: the same requests and replies, the rate-limit headers reach the limiter, 429s,
timeouts and streams behave alike, a client works in a second event loop, every client verifies
TLS with the process's one default context, and an SDK without aiohttp falls back to httpx with a
warning."""

from __future__ import annotations

import asyncio
import ssl
import types
from typing import Any

import httpx
import openai
import pytest

from doctune.foundation.config import ClientConfig, ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.backends import _openai
from doctune.models.base import Message
from doctune.models.client import ModelClient
from doctune.models.openai import OpenAIBackend, http_client, tls_context
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer, Faults
from doctune.testing.quota import RateLimit

TRANSPORTS = ("aiohttp", "httpx")
TEXT = (
    "The nickel-catalysed coupling runs at 40 °C for 12 h under nitrogen. "
    "Hydrolysis of the methyl ester proceeds at 20-40 °C and the acid precipitates at pH 1-2."
)


def make_client(
    server: FakeOpenAIServer, http: str, *, timeout: float = 5.0, retries: int = 4
) -> ModelClient:
    settings = ModelSettings(base_url=server.base_url, api_key="sk-test")
    backend = OpenAIBackend(
        parse_spec("openai:fake-model"), settings, timeout_s=timeout, max_retries=retries, http=http
    )
    return ModelClient(backend, settings=settings, concurrency=8, stage="test")


def ask(i: int) -> list[Message]:
    return [Message(role="user", content=f"Item {i}. {TEXT}")]


async def replies(client: ModelClient, n: int) -> list[str]:
    try:
        done = await asyncio.gather(*(client.chat(ask(i)) for i in range(n)))
    finally:
        await client.aclose()
    return [r.text for r in done]


def test_both_transports_send_the_same_requests_and_read_the_same_replies() -> None:
    seen: dict[str, tuple[list[str], list[Any]]] = {}
    for http in TRANSPORTS:
        with FakeOpenAIServer() as server:
            texts = asyncio.run(replies(make_client(server, http), 12))
            bodies = sorted(server.bodies, key=lambda b: b["messages"][0]["content"])
            seen[http] = (texts, bodies)
    assert seen["aiohttp"] == seen["httpx"]
    assert len(set(seen["aiohttp"][0])) > 1  # replies differ by prompt: a real comparison


@pytest.mark.parametrize("http", TRANSPORTS)
def test_the_configured_transport_is_the_one_used(http: str) -> None:
    with FakeOpenAIServer() as server:
        client = make_client(server, http)

        async def transport_name() -> str:
            try:
                await client.chat(ask(0))
                sdk_client = client.backend._sdk_client  # type: ignore[attr-defined]
                return type(sdk_client._client._transport).__name__
            finally:
                await client.aclose()

        name = asyncio.run(transport_name())
    assert ("Aiohttp" in name) == (http == "aiohttp"), name


@pytest.mark.parametrize("http", TRANSPORTS)
def test_rate_limit_headers_reach_the_limiter(http: str) -> None:
    with FakeOpenAIServer(rate_limit=RateLimit(requests=6, window_s=0.6)) as server:
        client = make_client(server, http, retries=8)
        texts = asyncio.run(replies(client, 14))
        assert len(texts) == 14 and server.counts["ok"] == 14
        # The headers held the calls past each window's reset: few or no 429s, and the
        # limiter saw the spent windows (a transport that dropped the hook would see none).
        assert client.limiter.holds >= 1
        assert server.counts.get("429", 0) <= 3, dict(server.counts)


@pytest.mark.parametrize("http", TRANSPORTS)
def test_a_429_with_retry_after_is_retried_then_reported(http: str) -> None:
    with FakeOpenAIServer(faults=Faults(rate_429=1.0, retry_after_s=0.05)) as server:
        client = make_client(server, http, retries=2)
        with pytest.raises(ModelError, match="HTTP 429"):
            asyncio.run(client.chat(ask(1)))
        assert server.counts["429"] == 3


@pytest.mark.parametrize("http", TRANSPORTS)
def test_a_hang_past_the_timeout_is_a_timeout(http: str) -> None:
    with FakeOpenAIServer(faults=Faults(rate_hang=1.0, hang_s=1.5)) as server:
        client = make_client(server, http, timeout=0.3, retries=1)
        with pytest.raises(ModelError, match="timed out"):
            asyncio.run(client.chat(ask(2)))
        assert server.counts["hang"] == 2


@pytest.mark.parametrize("http", TRANSPORTS)
def test_a_client_keeps_working_in_a_new_event_loop(http: str) -> None:
    with FakeOpenAIServer() as server:
        client = make_client(server, http)
        first = asyncio.run(client.chat(ask(3)))

        async def again() -> str:
            try:
                return (await client.chat(ask(4))).text  # a new loop: a new connection pool
            finally:
                await client.aclose()

        second = asyncio.run(again())
        asyncio.run(client.aclose())  # closing again, from yet another loop, is harmless
    assert first.text and second and server.counts["ok"] == 2


def transport_tls(client: Any) -> Any:
    transport = client._transport  # aiohttp's keeps its context; httpx's, its pool's
    return getattr(transport, "ssl_context", None) or transport._pool._ssl_context


@pytest.mark.parametrize("http", TRANSPORTS)
def test_every_client_verifies_tls_with_the_one_default_context(
    http: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    context = tls_context(openai)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    first, second = (http_client(openai, http, timeout=1.0) for _ in range(2))
    assert transport_tls(first) is context and transport_tls(second) is context
    # A trust store named in the environment is another context, with that store loaded (an
    # empty folder of certificates: it trusts nothing).
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    other = tls_context(openai)
    assert other is not context and not other.get_ca_certs()
    assert transport_tls(http_client(openai, http, timeout=1.0)) is other


def test_client_http_from_the_config_reaches_the_backend() -> None:
    settings = ModelSettings(base_url="http://127.0.0.1:9", api_key="k")
    spec = parse_spec("openai:m")
    assert ClientConfig().http == "aiohttp"
    for http in TRANSPORTS:
        backend = _openai(spec, settings, ClientConfig(http=http))
        assert backend._http == http  # type: ignore[attr-defined]


def test_an_sdk_without_aiohttp_falls_back_to_httpx_with_a_warning() -> None:
    def missing(**kwargs: Any) -> Any:
        raise RuntimeError("To use the aiohttp client you must have installed the aiohttp extra")

    for sdk in (
        types.SimpleNamespace(DefaultAsyncHttpxClient=openai.DefaultAsyncHttpxClient),  # < 1.89
        types.SimpleNamespace(
            DefaultAioHttpClient=missing, DefaultAsyncHttpxClient=openai.DefaultAsyncHttpxClient
        ),
    ):
        with pytest.warns(UserWarning, match="client.http: aiohttp is not available"):
            client = http_client(sdk, "aiohttp", timeout=1.0)
        assert "Aiohttp" not in type(client._transport).__name__
        asyncio.run(client.aclose())
    plain = http_client(openai, "httpx", timeout=1.0)
    assert isinstance(plain, httpx.AsyncClient) or hasattr(plain, "send")
    asyncio.run(plain.aclose())
