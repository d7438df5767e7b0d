"""`openai:<model>`: any OpenAI-compatible chat endpoint through the official `openai` SDK.

OpenAI itself, vLLM, Ollama, llama.cpp's server and TGI all speak this API. Retries are the SDK's:
exponential backoff with jitter on 408/409/429/5xx, timeouts and connection errors, honouring
Retry-After; `max_retries` and the per-request `timeout` come from the config. Every HTTP reply,
the retried ones included, has its rate-limit headers read into the client's limiter
(`pacing.report_headers`, an httpx response hook): the SDK backs off the call it retries, the
limiter holds the calls not yet sent, so no request waits twice.

The SDK (~0.5-0.8 s to import, most of a rerun's start) is imported when a request is first sent,
not when the backend is built: a stage whose calls all come from the call cache never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json
import math
import os
import re
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse, Message, Usage
from doctune.models.identity import backend_identity
from doctune.models.pacing import report_headers, requeue
from doctune.models.spec import ModelSpec
from doctune.models.structured import openai_strict_schema, schema_instructions
from doctune.models.tokens import get_token_counter, is_estimate

if TYPE_CHECKING:
    import openai

# Local servers (vLLM, Ollama, llama.cpp) accept any key; the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"
# Statuses the SDK retries (with 5xx): still failing after the retries may pass on a later run.
TRANSIENT_STATUS = frozenset({408, 409, 429})
# Chat formatting per message and the reply's priming (OpenAI's cookbook counts 3 + 3; servers
# with other templates spend a few more).
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3
# The ~4 characters per token estimate is low for numbers, formulas and non-Latin text: without
# the model's tokenizer, counts are raised by this much so a fitted prompt errs on the short side.
ESTIMATE_MARGIN = 1.25


def resolve_endpoint(spec: str, settings: ModelSettings) -> tuple[str | None, str]:
    """(base URL, API key) of an `openai:` spec: `models.settings.<spec>` first, then
    OPENAI_BASE_URL / OPENAI_API_KEY. The key is a secret: keep it out of logs, files and errors
    (see `scrub_secret`); it is "" for a local server that needs none."""
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = (
        settings.api_key.get_secret_value()
        if settings.api_key
        else os.environ.get("OPENAI_API_KEY")
    )
    if not key and not base_url:
        raise ModelError(
            f"{spec}: no endpoint: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a local "
            "server), or models.settings.<spec>.base_url/api_key in doctune.yaml"
        )
    return base_url, key or ""


def scrub_secret(text: str, secret: str, limit: int = 300) -> str:
    """Never let the key reach a log or an exception, even echoed back by a server."""
    # Replace before cutting: a key straddling the cut would otherwise leave its prefix behind.
    text = text.replace(secret, "***") if secret else text
    return text[:limit]


@contextlib.contextmanager
def sdk_errors(label: str, secret: str, doing: str = "") -> Iterator[None]:
    """The SDK's errors (raised once its own retries are spent) as one-line ModelErrors, with
    the key scrubbed even where a server echoed it back."""
    prefix = f"{label}: {doing}: " if doing else f"{label}: "
    openai = _sdk()
    try:
        yield
    except openai.APIStatusError as exc:
        # The SDK's message repeats the status ("Error code: 400 - ..."): said once here.
        message = re.sub(r"^Error code: \d+ - ", "", exc.message)
        raise ModelError(
            f"{prefix}HTTP {exc.status_code} after retries: {scrub_secret(message, secret)}",
            transient=exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500,
        ) from None
    except openai.APITimeoutError:
        raise ModelError(f"{prefix}timed out after retries", transient=True) from None
    except openai.APIConnectionError as exc:
        raise ModelError(
            f"{prefix}cannot connect: {scrub_secret(str(exc), secret)}", transient=True
        ) from None


def _sdk() -> Any:
    """The `openai` module, imported on first use: a lazy import of a heavy third-party SDK for
    the start-up time of runs answered from the call cache (no import cycle is involved)."""
    import openai

    return openai


def read_completion(spec: str, reply: Any) -> tuple[str, Usage, str | None]:
    """Text, usage and finish reason of a chat completion's JSON (the first choice), read as
    leniently as the SDK builds its ChatCompletion: missing usage counts 0, no text is ""."""
    if not isinstance(reply, dict):
        raise ModelError(f"{spec}: the endpoint's reply is not a JSON object")
    choices = reply.get("choices")
    if not choices:
        raise ModelError(f"{spec}: the endpoint returned no choices")
    choice = choices[0]
    usage = reply.get("usage") or {}
    counts = Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
    )
    return (choice.get("message") or {}).get("content") or "", counts, choice.get("finish_reason")


async def _report(response: Any) -> None:
    # The SDK's own httpx fork's Response (httpx2 in recent SDKs): status_code and headers.
    if report_headers(response.status_code, response.headers) and response.status_code == 429:
        # A paced call's 429 is retried through the limiter (`_post`), not on the SDK's timer.
        response.headers["x-should-retry"] = "false"


def tls_context(sdk: Any) -> Any:
    """The TLS context the SDK's HTTP library builds by default (its trust store loaded from
    SSL_CERT_FILE / SSL_CERT_DIR or the system's), built once per process and per value of those
    variables: loading the store takes 35-50 ms, and a client is built for every model and every
    event loop (each stage's). None where the library has no public `create_ssl_context`: the
    client then builds its own, as the SDK does."""
    client_class = next(
        (c for c in sdk.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient"), None
    )
    if client_class is None:
        return None
    library = client_class.__module__.partition(".")[0]  # httpx2 in recent SDKs, else httpx
    return _tls_context(library, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(library: str, cert_file: str | None, cert_dir: str | None) -> Any:
    # The variables are the cache's key: the library reads them itself.
    create = getattr(importlib.import_module(library), "create_ssl_context", None)
    return create() if create is not None else None


def http_client(sdk: Any, transport: str, **kwargs: Any) -> Any:
    """The SDK's async HTTP client on `transport`: "aiohttp" (`DefaultAioHttpClient`, SDK >= 1.89
    with aiohttp installed; its connection pool costs less per request than httpx's, which
    checks every idle connection's socket on each one) or "httpx" (`DefaultAsyncHttpxClient`).
    Both are httpx clients to the SDK: same retries, timeouts, proxies from the environment,
    errors and response hooks. Both verify TLS with the process's one default context
    (`tls_context`) unless the caller passes its own `verify`."""
    if "verify" not in kwargs and (context := tls_context(sdk)) is not None:
        kwargs["verify"] = context
    if transport == "aiohttp":
        try:
            return sdk.DefaultAioHttpClient(**kwargs)
        except (AttributeError, RuntimeError, ImportError) as exc:
            warnings.warn(
                f"client.http: aiohttp is not available to this openai SDK ({exc}); using httpx",
                stacklevel=2,
            )
    return sdk.DefaultAsyncHttpxClient(**kwargs)


class OpenAIBackend(ChatBackend):
    def __init__(
        self,
        spec: ModelSpec,
        settings: ModelSettings,
        *,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        http: str = "aiohttp",
    ) -> None:
        self.spec = str(spec)
        self.model = spec.model
        self.settings = settings
        base_url, key = resolve_endpoint(self.spec, settings)
        self._secret = key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._http = http
        self._sdk_client: openai.AsyncOpenAI | None = None
        self._sdk_loop: asyncio.AbstractEventLoop | None = None
        self.enforces_schema = settings.structured_output == "json_schema"

    @property
    def _client(self) -> openai.AsyncOpenAI:
        """The SDK client with its connection pool, built (and the SDK imported) at the first
        request, and again in a new event loop: a pool's connections belong to the loop that
        opened them (aiohttp's cannot be used from another one)."""
        loop = asyncio.get_running_loop()
        if self._sdk_client is None or self._sdk_loop is not loop:
            sdk = _sdk()
            self._sdk_loop = loop
            self._sdk_client = sdk.AsyncOpenAI(
                api_key=self._secret or PLACEHOLDER_KEY,
                base_url=self._base_url,
                timeout=self._timeout_s,
                max_retries=self._max_retries,
                http_client=http_client(
                    sdk, self._http, timeout=self._timeout_s, event_hooks={"response": [_report]}
                ),
            )
        return self._sdk_client

    def _messages(self, request: ChatRequest) -> list[dict[str, str]]:
        messages = list(request.messages)
        if request.json_schema is not None and self.settings.structured_output != "json_schema":
            # Servers without schema support get the schema in the prompt ("JSON" must appear in the
            # messages for json_object mode, which these instructions guarantee).
            last = messages[-1]
            messages[-1] = Message(
                role=last.role,
                content=f"{last.content}\n\n{schema_instructions(request.json_schema)}",
            )
        return [m.model_dump() for m in messages]

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        p = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(request),
            "temperature": p.temperature,
        }
        if p.max_tokens is not None:
            kwargs["max_tokens"] = p.max_tokens
        if p.top_p is not None:
            kwargs["top_p"] = p.top_p
        if p.seed is not None:
            kwargs["seed"] = p.seed
        if p.stop:
            kwargs["stop"] = list(p.stop)
        if request.json_schema is not None:
            if self.settings.structured_output == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.schema_name or "output",
                        "schema": openai_strict_schema(request.json_schema),
                        "strict": True,
                    },
                }
            elif self.settings.structured_output == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        # `post` is the SDK's documented way to send a body as is: same auth, retries, backoff
        # and errors as `chat.completions.create`, without its recursive transform of typed
        # params, which costs ~1.5 ms of CPU per call (measured in
        # benchmarks/synthesis_throughput.py) and caps throughput at high concurrency.
        with sdk_errors(self.spec, self._secret):
            reply = await self._post(self._kwargs(request))
        text, usage, finish_reason = read_completion(self.spec, reply)
        return ChatResponse(
            text=text,
            usage=usage,
            finish_reason=finish_reason,
            latency_s=time.perf_counter() - started,
        )

    async def _post(self, body: dict[str, Any]) -> Any:
        """The reply's JSON as the SDK read it (`cast_to=object`): building its typed
        ChatCompletion (~70 µs of CPU a reply) only to read three fields is left out."""
        client = self._client
        for attempt in range(self._max_retries + 1):
            try:
                return await client.post("/chat/completions", body=body, cast_to=object)
            except _sdk().RateLimitError:
                if attempt == self._max_retries or not await requeue():
                    raise
        raise AssertionError("unreachable")

    @property
    def identity(self) -> str:
        return backend_identity(self.spec, self.settings)

    @property
    def context_length(self) -> int | None:
        return self.settings.context_length

    def prompt_tokens(self, request: ChatRequest) -> int:
        """The prompt as sent (schema instructions included; a json_schema response format is
        counted too, since providers bill it as prompt), in the configured tokenizer or the
        estimate raised by ESTIMATE_MARGIN."""
        count = get_token_counter(self.settings.tokenizer)
        margin = ESTIMATE_MARGIN if is_estimate(count) else 1.0
        texts = [m["content"] for m in self._messages(request)]
        if request.json_schema is not None and self.settings.structured_output == "json_schema":
            texts.append(json.dumps(request.json_schema))
        content = sum(math.ceil(count(t) * margin) for t in texts)
        return content + TOKENS_PER_MESSAGE * len(request.messages) + TOKENS_PER_REPLY

    async def aclose(self) -> None:
        # A backend that never sent a request has no client to close (and no SDK imported).
        # One built in an event loop that has ended holds nothing open that could be closed.
        if self._sdk_client is not None:
            client, loop = self._sdk_client, self._sdk_loop
            self._sdk_client = self._sdk_loop = None
            if loop is asyncio.get_running_loop():
                await client.close()
