"""The openai: backend and the client layer against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import Message
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer, Faults

SECRET = "sk-test-secret-value"
TEXT = (
    "Isobutylbenzene is brominated with a molar ratio of isobutylbenzene to bromine of 1:1.05. "
    "The reaction runs at 30-40 °C in carbon tetrachloride. "
    "The nickel-catalysed coupling runs at 40 °C for 12 h under nitrogen."
)


class Pair(BaseModel):
    question: str = Field(max_length=300)
    answer: str


class Pairs(BaseModel):
    pairs: list[Pair] = Field(min_length=2, max_length=2)


def make_client(
    server: FakeOpenAIServer,
    tmp_path: Path | None = None,
    *,
    timeout: float = 5.0,
    retries: int = 6,
    mode: str = "json_schema",
) -> ModelClient:
    settings = ModelSettings(
        base_url=server.base_url,
        api_key=SECRET,
        structured_output=mode,  # type: ignore[arg-type]
        price_input_per_mtok=1.0,
        price_output_per_mtok=2.0,
    )
    backend = OpenAIBackend(
        parse_spec("openai:fake-model"), settings, timeout_s=timeout, max_retries=retries
    )
    cache = CallCache(tmp_path / "calls.sqlite") if tmp_path else None
    return ModelClient(backend, settings=settings, cache=cache, concurrency=8, stage="test")


def ask(i: int) -> list[Message]:
    return [Message(role="user", content=f"Document {i}. {TEXT}")]


def test_structured_reply_validates_and_usage_is_booked(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        client = make_client(server, tmp_path)
        result = asyncio.run(client.structured(ask(0), Pairs))
        assert result.ok and len(result.value.pairs) == 2
        row = client.ledger.row(client.spec, "test")
        assert row.calls == 1 and row.prompt_tokens > 0 and row.new_cost_usd > 0
        sent = server.bodies[0]["response_format"]
        assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
        assert server.auth_headers[0] == f"Bearer {SECRET}"


@pytest.mark.parametrize("mode", ["json_object", "instructions"])
def test_servers_without_schema_support_get_the_schema_in_the_prompt(
    tmp_path: Path, mode: str
) -> None:
    with FakeOpenAIServer() as server:
        client = make_client(server, tmp_path, mode=mode)
        assert asyncio.run(client.structured(ask(1), Pairs)).ok
        body = server.bodies[0]
        assert "JSON schema" in body["messages"][-1]["content"]
        assert body.get("response_format", {}).get("type") == (
            "json_object" if mode == "json_object" else None
        )


def test_every_record_survives_injected_faults(tmp_path: Path) -> None:
    faults = Faults(rate_429=0.2, rate_500=0.1, rate_truncated=0.05, retry_after_s=0.01)
    with FakeOpenAIServer(faults=faults, seed=7) as server:
        client = make_client(server, tmp_path)

        async def go() -> list:
            return await asyncio.gather(*[client.structured(ask(i), Pairs) for i in range(120)])

        results = asyncio.run(go())
        assert all(r.ok for r in results)
        assert (
            server.counts["429"] > 0 and server.counts["500"] > 0 and server.counts["truncated"] > 0
        )
        # A truncated reply was re-asked, and the re-ask booked as such.
        assert client.ledger.row(client.spec, "test").invalid_replies == server.counts["truncated"]


def test_a_hang_past_the_timeout_is_retried(tmp_path: Path) -> None:
    with FakeOpenAIServer(faults=Faults(rate_hang=1.0, hang_s=2.0)) as server:
        client = make_client(server, tmp_path, timeout=0.3, retries=1)
        with pytest.raises(ModelError, match="timed out"):
            asyncio.run(client.chat(ask(2)))
        assert server.counts["hang"] == 2  # the first try and one retry


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    import time

    with FakeOpenAIServer(faults=Faults(rate_429=1.0, retry_after_s=0.4)) as server:
        client = make_client(server, tmp_path, retries=2)
        started = time.perf_counter()
        with pytest.raises(ModelError, match="HTTP 429"):
            asyncio.run(client.chat(ask(3)))
        assert server.counts["429"] == 3
        assert time.perf_counter() - started >= 0.8  # two waits of Retry-After: 0.4


def test_secret_never_reaches_errors_or_cache(tmp_path: Path) -> None:
    def leaky(body: dict) -> str:  # a server that echoes the key back in an error
        raise AssertionError

    with FakeOpenAIServer(faults=Faults(rate_500=1.0)) as server:
        client = make_client(server, tmp_path, retries=0)
        with pytest.raises(ModelError) as err:
            asyncio.run(client.chat(ask(4)))
        assert SECRET not in str(err.value)
    with FakeOpenAIServer() as server:
        client = make_client(server, tmp_path)
        asyncio.run(client.chat(ask(5)))
        client.cache.close()
    raw = (tmp_path / "calls.sqlite").read_bytes()
    assert SECRET.encode() not in raw and b"127.0.0.1" not in raw


def test_rerun_is_served_from_the_cache(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        client = make_client(server, tmp_path)
        first = asyncio.run(client.structured(ask(6), Pairs))
        served = server.completions
    # A new server on another port: the cache key ignores the endpoint, so nothing is asked.
    with FakeOpenAIServer() as other:
        again = make_client(other, tmp_path)
        second = asyncio.run(again.structured(ask(6), Pairs))
        assert other.completions == 0 and served == 1
        assert second.value == first.value and second.responses[0].cached
        row = again.ledger.row(again.spec, "test")
        assert row.cache_hits == 1 and row.new_cost_usd == 0 and row.cost_usd > 0


def test_invalid_output_is_reasked_then_reported_not_dropped(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=lambda body: '{"pairs": [{"question": "only one"}]}') as server:
        client = make_client(server, tmp_path)
        client.structured_retries = 2
        result = asyncio.run(client.structured(ask(7), Pairs))
        assert not result.ok and result.attempts == 3 and "pairs" in (result.error or "")
        assert server.completions == 3
        # The re-ask tells the model what was wrong.
        assert "not valid" in server.bodies[-1]["messages"][-1]["content"]
        row = client.ledger.row(client.spec, "test")
        assert row.failed_structured == 1 and row.invalid_replies == 3


def test_no_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        OpenAIBackend(parse_spec("openai:gpt-4o"), ModelSettings())


def test_identical_requests_in_flight_share_one_call(tmp_path: Path) -> None:
    """Two generators asking the same thing at once must not pay twice."""
    with FakeOpenAIServer(latency_s=0.2) as server:
        client = make_client(server, tmp_path)

        async def go() -> list:
            return await asyncio.gather(
                *[client.chat(ask(42)) for _ in range(5)], client.chat(ask(43))
            )

        replies = asyncio.run(go())
        assert server.completions == 2
        assert len({r.text for r in replies[:5]}) == 1
        row = client.ledger.row(client.spec, "test")
        assert row.calls == 6 and row.cache_hits == 4


CACHED_RUN = """
import asyncio, json, sys
from pathlib import Path
from doctune.foundation.config import ModelSettings
from doctune.models.base import Message
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec

settings = ModelSettings(base_url=sys.argv[1], api_key="sk-test-secret-value")
backend = OpenAIBackend(parse_spec("openai:fake-model"), settings, timeout_s=5, max_retries=0)
client = ModelClient(backend, settings=settings, cache=CallCache(Path(sys.argv[2])), stage="test")

async def go():
    reply = await client.chat([Message(role="user", content=sys.argv[3])])
    await client.aclose()
    return reply

reply = asyncio.run(go())
print(json.dumps({"text": reply.text, "sdk_loaded": "openai" in sys.modules}))
"""


def test_a_run_answered_by_the_cache_never_imports_the_sdk(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        client = make_client(server, tmp_path)
        first = asyncio.run(client.chat(ask(8)))
        base_url = server.base_url
    # The server is gone: a request would fail, so the reply can only come from the cache.
    args = [base_url, str(tmp_path / "calls.sqlite"), ask(8)[0].content]
    done = subprocess.run(
        [sys.executable, "-c", CACHED_RUN, *args], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {"text": first.text, "sdk_loaded": False}
    # A miss imports it and is sent as before.
    args[-1] = ask(9)[0].content
    with FakeOpenAIServer() as server:
        args[0] = server.base_url
        done = subprocess.run(
            [sys.executable, "-c", CACHED_RUN, *args], capture_output=True, text=True, check=True
        )
        assert json.loads(done.stdout)["sdk_loaded"] is True and server.completions == 1
