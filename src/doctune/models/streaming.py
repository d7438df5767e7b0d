"""Answers streamed as the model writes them (the Chat page shows each piece as it comes).

Streaming is an optional backend capability: a backend with a `stream(request)` method yields
`Delta`s, and the `openai:` backend streams through its SDK client's `stream=True` chat
completions (`openai_stream`, kept here so the backend module stays the one-call path); any
other backend answers through `ModelClient.complete`, the whole answer as one piece (an `hf:`
model decodes in batches on its worker thread, where a per-token streamer has no place). Above the
backend, `stream_reply` keeps what the client layer promises for every call: an answer already
in the call cache is served from it (one piece), and a streamed answer that ran to its end is
booked in the usage ledger and stored in the call cache under the same key as the same request
sent without streaming, so a rerun or a plain call pays nothing for it. A stream cut off before
its end (the page closed, the connection lost) is not an answer and is not stored.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from doctune.foundation.errors import ModelError
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse, Usage
from doctune.models.cache import Stored, request_key
from doctune.models.client import ModelClient
from doctune.models.usage import cost_of

if TYPE_CHECKING:
    from doctune.models.openai import OpenAIBackend


@dataclass(frozen=True)
class Delta:
    """A piece of the answer's text; the last one of a stream may carry the usage and the
    finish reason instead (either field set, text possibly empty)."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@runtime_checkable
class StreamingBackend(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]: ...


async def stream_reply(client: ModelClient, request: ChatRequest) -> AsyncIterator[str]:
    """The answer to `request`, piece by piece, through `client`'s cache and ledger."""
    backend = client.backend
    key = request_key(backend.identity, request)
    cached = client.cache is not None and client.cache.get(key) is not None
    streamer = _streamer(backend)
    if cached or streamer is None:
        response = await client.complete(request)  # books the hit, or calls and stores
        yield response.text
        return
    row = client.ledger.row(client.spec, client.stage)
    started = time.perf_counter()
    parts: list[str] = []
    usage: Usage | None = None
    finish: str | None = None
    try:
        async for delta in streamer(request):
            if delta.usage is not None:
                usage = delta.usage
            if delta.finish_reason is not None:
                finish = delta.finish_reason
            if delta.text:
                parts.append(delta.text)
                yield delta.text
    except ModelError as exc:
        row.failed_calls += 1
        if client.cache is not None:
            client.cache.record_failure(key, client.spec, str(exc))
        raise
    response = ChatResponse(
        text="".join(parts),
        usage=usage or Usage(),
        finish_reason=finish,
        latency_s=time.perf_counter() - started,
    )
    cost = cost_of(client.settings, response)
    row.calls += 1
    row.prompt_tokens += response.usage.prompt_tokens
    row.completion_tokens += response.usage.completion_tokens
    row.cost_usd += cost
    row.new_cost_usd += cost
    if client.cache is not None:
        client.cache.put_many(client.spec, [Stored(key, request, response, cost)])


def _streamer(backend: ChatBackend) -> Callable[[ChatRequest], AsyncIterator[Delta]] | None:
    if isinstance(backend, StreamingBackend):
        return backend.stream
    # An OpenAIBackend exists only once its module (and the SDK) is imported: checked without
    # importing it, so a chat with an hf: model never loads the openai SDK.
    module = sys.modules.get("doctune.models.openai")
    if module is not None and isinstance(backend, module.OpenAIBackend):
        return functools.partial(openai_stream, backend)
    return None


async def openai_stream(backend: OpenAIBackend, request: ChatRequest) -> AsyncIterator[Delta]:
    """A chat completion streamed by the openai SDK (`stream=True`, the usage asked for in the
    last chunk), with the backend's own SDK client, request body and key. Errors are the
    one-line ModelErrors of `sdk_errors`, the key scrubbed; the SDK's retries cover the request
    that opens the stream, not a stream cut off midway."""
    # Lazily, for speed: the openai SDK takes ~0.2 s to import, and chat (so every command)
    # imports this module; it loads only when an openai: model streams.
    import httpx

    from doctune.models.openai import scrub_secret, sdk_errors

    secret = backend._secret
    with sdk_errors(backend.spec, secret):
        stream = await backend._client.chat.completions.create(
            **backend._kwargs(request), stream=True, stream_options={"include_usage": True}
        )
        try:
            async for chunk in stream:
                usage = None
                if chunk.usage is not None:
                    usage = Usage(
                        prompt_tokens=chunk.usage.prompt_tokens,
                        completion_tokens=chunk.usage.completion_tokens,
                    )
                choice = chunk.choices[0] if chunk.choices else None
                text = (choice.delta.content or "") if choice is not None else ""
                finish = choice.finish_reason if choice is not None else None
                if text or usage is not None or finish is not None:
                    yield Delta(text=text, usage=usage, finish_reason=finish)
        except httpx.HTTPError as exc:
            # A connection lost midway: the SDK retries nothing once a stream has begun.
            raise ModelError(
                f"{backend.spec}: the stream was cut off: {scrub_secret(str(exc), secret)}",
                transient=True,
            ) from None
        finally:
            await stream.close()
