"""Failures are not answers: what the client caches, what it records as a failure, and how a
failed call is isolated to its item. Against the loopback server, with a real SQLite cache."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import ChatRequest, ChatResponse, Message
from doctune.models.cache import CallCache, request_key
from doctune.models.client import DOWN_AFTER, CallFailed, ModelClient
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec
from doctune.models.structured import parse_reply, reask_messages, schema_for
from doctune.testing.fake_openai import FakeOpenAIServer, Faults
from doctune.testing.fake_replies import HTTPFault

SECRET = "sk-test-secret-value"


class Verdict(BaseModel):
    score: int


def client_for(server: FakeOpenAIServer, cache: CallCache | None, retries: int = 0) -> ModelClient:
    settings = ModelSettings(base_url=server.base_url, api_key=SECRET)  # type: ignore[arg-type]
    backend = OpenAIBackend(
        parse_spec("openai:fake-model"), settings, timeout_s=5, max_retries=retries
    )
    return ModelClient(backend, settings=settings, cache=cache, structured_retries=1, stage="t")


def ask(i: int = 0) -> list[Message]:
    return [Message(role="user", content=f"Rate answer {i}.")]


def run(client: ModelClient, coro: Any) -> Any:
    async def go() -> Any:
        try:
            return await coro
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_an_invalid_chain_is_not_cached_and_a_later_run_asks_again(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    with FakeOpenAIServer(responder=lambda body: "not JSON") as bad:
        client = client_for(bad, cache)
        result = run(client, client.structured(ask(), Verdict))
        assert not result.ok and bad.completions == 2  # the first ask and one re-ask
    assert len(cache) == 0
    [failure] = cache.failures()
    assert (
        failure.spec == "openai:fake-model" and "invalid reply after 2 attempts" in failure.reason
    )
    # The endpoint recovered: the same call is asked again, answered, stored, the failure gone.
    with FakeOpenAIServer(responder=lambda body: '{"score": 7}') as good:
        client = client_for(good, cache)
        result = run(client, client.structured(ask(), Verdict))
        assert result.ok and result.value.score == 7 and good.completions == 1
    assert len(cache) == 1 and cache.failures() == []


def test_a_chain_that_ends_valid_is_stored_whole_and_replayed(tmp_path: Path) -> None:
    replies = iter(["almost JSON {", '{"score": 4}'])
    cache = CallCache(tmp_path / "calls.sqlite")
    with FakeOpenAIServer(responder=lambda body: next(replies)) as server:
        client = client_for(server, cache)
        first = run(client, client.structured(ask(), Verdict))
        assert first.ok and first.attempts == 2
    assert len(cache) == 2  # the invalid first reply belongs to a chain that became an answer
    with FakeOpenAIServer(responder=lambda body: "unused") as other:
        client = client_for(other, cache)
        again = run(client, client.structured(ask(), Verdict))
        assert other.completions == 0 and again.value == first.value and again.attempts == 2


def test_a_failed_call_is_recorded_without_secrets_and_never_served(tmp_path: Path) -> None:
    def echo_key(body: dict[str, Any]) -> str:
        raise HTTPFault(503, f"overloaded (key {SECRET})")

    cache = CallCache(tmp_path / "calls.sqlite")
    with FakeOpenAIServer(responder=echo_key) as server:
        client = client_for(server, cache)
        with pytest.raises(ModelError, match="HTTP 503") as err:
            run(client, client.chat(ask()))
        assert err.value.transient
        row = client.ledger.row(client.spec, "t")
        assert (row.failed_calls, row.calls) == (1, 0)
    [failure] = cache.failures()
    assert "HTTP 503" in failure.reason and SECRET not in failure.reason
    assert len(cache) == 0
    cache.close()
    assert SECRET.encode() not in (tmp_path / "calls.sqlite").read_bytes()


def test_invalid_replies_an_older_version_cached_are_forgotten_and_asked_again(
    tmp_path: Path,
) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    with FakeOpenAIServer(responder=lambda body: '{"score": 9}') as server:
        client = client_for(server, cache)
        # What doctune before this change left behind: a whole failed chain (the first ask and
        # its re-ask), cached as if it were an answer.
        convo = tuple(ask())
        keys = []
        for _ in range(2):
            request = ChatRequest(
                messages=convo,
                params=client.params(),
                json_schema=schema_for(Verdict),
                schema_name="Verdict",
            )
            key = request_key(client.backend.identity, request)
            cache.put(key, client.spec, request, ChatResponse(text="Rating: good"), 0.0)
            keys.append(key)
            error = parse_reply("Rating: good", Verdict)[1] or ""
            convo = reask_messages(convo, "Rating: good", error)
        result = run(client, client.structured(ask(), Verdict))
        assert result.ok and result.value.score == 9 and server.completions == 1
    # The stale replies are gone; the first ask now holds the real answer.
    assert len(cache) == 1 and cache.get(keys[1]) is None
    assert cache.get(keys[0])[0].text == '{"score": 9}'  # type: ignore[index]


def test_identical_calls_in_flight_share_one_backend_call(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    with FakeOpenAIServer(responder=lambda body: '{"score": 5}', latency_s=0.2) as server:
        client = client_for(server, cache)

        async def both() -> list[Any]:
            return list(await asyncio.gather(*(client.structured(ask(), Verdict) for _ in "ab")))

        results = run(client, both())
        assert [r.value.score for r in results] == [5, 5] and server.completions == 1
        assert client.ledger.row(client.spec, "t").cache_hits == 1
    assert len(cache) == 1


def test_isolated_turns_a_transient_failure_into_one_excluded_call() -> None:
    def some_fail(body: dict[str, Any]) -> str:
        if "answer 1." in body["messages"][-1]["content"]:
            raise HTTPFault(500)
        return "fine"

    with FakeOpenAIServer(responder=some_fail) as server:
        client = client_for(server, None)

        async def three() -> list[Any]:
            return [await client.isolated(client.chat(ask(i))) for i in range(3)]

        outcomes = run(client, three())
    assert isinstance(outcomes[1], CallFailed) and "HTTP 500" in outcomes[1].reason
    assert [o.text for o in (outcomes[0], outcomes[2])] == ["fine", "fine"]
    client.raise_if_down()  # two calls answered: the model is up


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_refused_request_is_raised_at_once(status: int) -> None:
    def refuse(body: dict[str, Any]) -> str:
        raise HTTPFault(status, "model not found")

    with FakeOpenAIServer(responder=refuse) as server:
        client = client_for(server, None)
        with pytest.raises(ModelError, match=f"HTTP {status}"):
            run(client, client.isolated(client.chat(ask())))


def test_a_model_that_answers_nothing_is_down() -> None:
    with FakeOpenAIServer(faults=Faults(rate_500=1.0)) as server:
        client = client_for(server, None)

        async def until_raised() -> list[Any]:
            return [await client.isolated(client.chat(ask(i))) for i in range(DOWN_AFTER + 5)]

        with pytest.raises(ModelError, match="HTTP 500"):
            run(client, until_raised())
        # Each of the first DOWN_AFTER - 1 failures was one item's; the next one ended it.
        assert server.counts["500"] == DOWN_AFTER
    with FakeOpenAIServer(faults=Faults(rate_500=1.0)) as server:
        client = client_for(server, None)
        outcome = run(client, client.isolated(client.chat(ask())))
        assert isinstance(outcome, CallFailed)
        # A suite with fewer items than DOWN_AFTER, every one failed: still the stage's error.
        with pytest.raises(ModelError, match=r"every call failed \(1\).*HTTP 500"):
            client.raise_if_down()


def test_the_failures_table_lives_in_the_same_file(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    cache.record_failure("k1", "openai:x", "HTTP 500 after retries:\n  internal error " + "x" * 400)
    cache.close()
    with sqlite3.connect(tmp_path / "calls.sqlite") as db:
        [(reason,)] = db.execute("SELECT reason FROM failures WHERE key = 'k1'").fetchall()
    assert reason.startswith("HTTP 500 after retries: internal error") and len(reason) == 300
