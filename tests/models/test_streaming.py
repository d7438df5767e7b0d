"""Streamed answers through the client layer: the openai: backend against the loopback server
speaking Server-Sent Events (several pieces, joined into the answer a plain call gets, stored in
the call cache and booked), a failed stream as a one-line error without the key, and a backend
that cannot stream answering in one piece."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.models.test_openai_backend import SECRET, TEXT, make_client

from doctune.foundation.errors import ModelError
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse, Message
from doctune.models.client import ModelClient
from doctune.models.streaming import stream_reply
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import HTTPFault

REPLY = "The bromination runs at 30-40 °C. The coupling runs at 40 °C for 12 h under nitrogen."


def request() -> ChatRequest:
    return ChatRequest(messages=(Message(role="user", content=TEXT),))


async def pieces(client: ModelClient) -> list[str]:
    return [piece async for piece in stream_reply(client, request())]


def test_a_streamed_answer_comes_in_pieces_and_is_cached(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.responder = lambda body: REPLY
    client = make_client(fake_openai, tmp_path)

    async def scenario() -> tuple[list[str], ChatResponse, list[str]]:
        streamed = await pieces(client)
        plain = await client.complete(request())
        again = await pieces(client)
        await client.aclose()
        return streamed, plain, again

    streamed, plain, again = asyncio.run(scenario())
    assert len(streamed) > 1 and "".join(streamed) == REPLY
    assert fake_openai.bodies[0]["stream"] is True
    assert plain.cached and plain.text == REPLY  # stored under the plain request's key
    assert again == [REPLY]  # from the cache: one piece
    assert fake_openai.completions == 1
    row = client.ledger.row(client.spec, "test")
    assert (row.calls, row.cache_hits) == (3, 2)
    assert row.completion_tokens == 3 * (len(REPLY) // 4 + 1)  # the stream's usage chunk
    assert row.new_cost_usd > 0


def test_a_refused_stream_is_one_line_without_the_key(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    def refuse(body: dict) -> str:
        raise HTTPFault(400, f"model not found (key {SECRET})")

    fake_openai.responder = refuse
    client = make_client(fake_openai, tmp_path, retries=0)

    async def scenario() -> str:
        try:
            await pieces(client)
        except ModelError as exc:
            return str(exc)
        finally:
            await client.aclose()
        raise AssertionError("no error")

    message = asyncio.run(scenario())
    assert "HTTP 400" in message and "model not found" in message
    assert SECRET not in message and "\n" not in message
    assert client.ledger.row(client.spec, "test").failed_calls == 1
    assert client.cache is not None and len(client.cache.failures()) == 1


class FakeWholeAnswerBackend(ChatBackend):
    """A model boundary without streaming: it answers every request with the whole text."""

    spec = "fake:whole"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text=REPLY)


def test_a_backend_without_streaming_answers_in_one_piece() -> None:
    client = ModelClient(FakeWholeAnswerBackend(), stage="test")
    assert asyncio.run(pieces(client)) == [REPLY]
    assert client.ledger.row("fake:whole", "test").calls == 1
