"""The one interface every model backend implements: answer one chat request.

Everything else (caching, bounded concurrency, structured output with re-asks, usage and cost)
lives once in `doctune.models.client`, above the backends, so a new backend is one small class.
Retries on transient failures belong to the backend, because only it knows which errors are
transient (the openai SDK already backs off with jitter and honours Retry-After).
"""

from __future__ import annotations

import abc
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class GenerationParams(BaseModel):
    """Sampling parameters; part of the cache key, so two calls that differ here never collide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = 0.0
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[Message, ...]
    params: GenerationParams = Field(default_factory=GenerationParams)
    json_schema: dict[str, Any] | None = Field(
        None, description="Constrain the reply to this JSON schema (structured output)."
    )
    schema_name: str | None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatResponse(BaseModel):
    text: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    latency_s: float = 0.0
    cached: bool = False


class Loglik(BaseModel):
    """Log-probabilities of continuations after one context (MMLU scored the harness's way)."""

    logprobs: list[float]
    prompt_tokens: int
    cut: int = Field(0, description="Tokens dropped from the context's start to fit the model.")
    latency_s: float = 0.0
    cached: bool = False


class ChatBackend(abc.ABC):
    """A model that answers chat requests. Implementations: openai.py, hf.py."""

    #: The spec string the backend was built from, e.g. "openai:gpt-4o-mini".
    spec: str

    #: True when the backend itself enforces `json_schema` while decoding.
    enforces_schema: bool = False

    @abc.abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer one request. Raise `doctune.foundation.errors.ModelError` once retries are exhausted."""

    @property
    def identity(self) -> str:
        """What the call cache keys on: the spec, plus whatever else decides the replies (an
        `hf:` backend adds a fingerprint of its local weights, so a retrained adapter at the
        same path is never answered from the old adapter's cache)."""
        return self.spec

    def count_tokens(self, text: str) -> int | None:
        """Tokens of `text` in this model's own tokenizer, if the backend has one locally."""
        return None

    @property
    def context_length(self) -> int | None:
        """Tokens of prompt and reply together the model accepts; None when unknown (then no
        prompt is fitted: it goes as it is and the server decides)."""
        return None

    def prompt_tokens(self, request: ChatRequest) -> int:
        """Tokens the prompt of `request` takes as this backend sends it (chat template and
        whatever the backend adds included). Used with `context_length` to fit prompts; a
        backend without its own tokenizer may overestimate, never underestimate on purpose."""
        raise NotImplementedError(f"{self.spec}: cannot count prompt tokens")

    def loglikelihoods(self, context: str, continuations: list[str]) -> Loglik:
        """Score each continuation after `context`, without a chat template. Blocking (it runs
        the model; the client calls it in a worker thread); only backends whose capabilities
        say `loglikelihood` have it."""
        raise NotImplementedError(f"{self.spec}: no log-likelihood scoring")

    @property
    def max_concurrency(self) -> int | None:
        """A backend-imposed cap on requests in flight (None: the client's setting decides)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections, threads or GPU memory."""
