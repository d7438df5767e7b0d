"""What every generator here shares: the teacher call with fixed parameters, provenance,
rejection records, concurrency that fails fast, and the text normalisation used by the checks."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from doctune.config import model_settings
from doctune.context import RunContext, Tick
from doctune.data.records import Chunk, Provenance, QARecord, RejectedRecord, stable_id
from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.cache import request_key
from doctune.models.client import ModelClient
from doctune.models.identity import backend_identity
from doctune.models.structured import Structured, schema_for
from doctune.prompts import PromptTemplate
from doctune.tokens import estimate_tokens

M = TypeVar("M", bound=BaseModel)

# A reply is JSON around the text; ~3 characters per token leaves room for escapes and keys.
_CHARS_PER_COMPLETION_TOKEN = 3
_REPLY_EXCERPT = 2000


@dataclass
class RecipeOutput:
    """What a recipe made: records in a deterministic order, what failed, a summary, and side
    data worth keeping for inspection (`sidecar`, written next to the dataset as JSON)."""

    records: list[QARecord] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    sidecar: dict[str, Any] = field(default_factory=dict)


@dataclass
class Teacher:
    """A client plus the parameters every call of one stage uses.

    All generation parameters are passed explicitly, so the request (and its cache key) is decided
    here and nowhere else: `estimate` can rebuild it to tell which calls are already cached.
    """

    spec: str
    temperature: float
    seed: int
    max_new_tokens: int
    config_hash: str
    client: ModelClient | None = None
    tick: Tick | None = None

    def params(self, reply_chars: int) -> GenerationParams:
        # The completion limit grows with what the schema allows, so a long reply is never cut
        # into invalid JSON by a default meant for chat.
        budget = max(self.max_new_tokens, math.ceil(reply_chars / _CHARS_PER_COMPLETION_TOKEN))
        return GenerationParams(temperature=self.temperature, max_tokens=budget, seed=self.seed)

    def request(
        self, messages: Sequence[Message], output_type: type[BaseModel], reply_chars: int
    ) -> ChatRequest:
        """The first request `ask` sends (re-asks depend on the reply and are not predictable)."""
        return ChatRequest(
            messages=tuple(messages),
            params=self.params(reply_chars),
            json_schema=schema_for(output_type),
            schema_name=output_type.__name__,
        )

    async def ask(
        self, messages: Sequence[Message], output_type: type[M], reply_chars: int
    ) -> Structured[M]:
        assert self.client is not None, "Teacher built without a client (estimate only)"
        p = self.params(reply_chars)
        result = await self.client.structured(
            messages, output_type, temperature=p.temperature, max_tokens=p.max_tokens, seed=p.seed
        )
        if self.tick is not None:
            self.tick.advance()
        return result

    def provenance(self, chunks: Iterable[Chunk], *prompts: PromptTemplate) -> Provenance:
        chunks = list(chunks)
        return Provenance(
            doc_ids=_unique(c.doc_id for c in chunks),
            chunk_ids=_unique(c.id for c in chunks),
            sources=_unique(c.path for c in chunks),
            pages=sorted({p for c in chunks for p in c.pages}),
            model=self.spec,
            prompt="+".join(p.label for p in prompts),
            prompt_hash="+".join(p.hash for p in prompts),
            config_hash=self.config_hash,
        )


def make_teacher(
    ctx: RunContext, stage: str, config_hash: str, temperature: float | None, *, client: bool
) -> Teacher:
    """The teacher for a stage; `client=False` builds no backend (for estimates)."""
    spec = ctx.spec("teacher")
    return Teacher(
        spec=spec,
        temperature=ctx.config.client.temperature if temperature is None else temperature,
        seed=ctx.config.client.seed,
        max_new_tokens=model_settings(ctx.config, spec).max_new_tokens,
        config_hash=config_hash,
        client=ctx.client("teacher", stage) if client else None,
    )


def is_cached(ctx: RunContext, teacher: Teacher, request: ChatRequest) -> bool:
    cache = ctx.cache
    if cache is None:
        return False
    identity = backend_identity(teacher.spec, model_settings(ctx.config, teacher.spec))
    return cache.get(request_key(identity, request)) is not None


def request_tokens(request: ChatRequest) -> int:
    """Estimated prompt tokens of a request, the schema included (providers count it)."""
    text = "".join(m.content for m in request.messages) + json.dumps(request.json_schema or {})
    return estimate_tokens(text)


def invalid_output(
    stage: str, key: Sequence[object], result: Structured[Any], record: dict[str, Any]
) -> RejectedRecord:
    """The record of a structured call that failed after every re-ask."""
    last = result.responses[-1].text if result.responses else ""
    return RejectedRecord(
        id=stable_id("rejected", stage, *key),
        stage=stage,
        reason="invalid_output",
        detail=f"{result.error} (after {result.attempts} attempts)",
        record={**record, "last_reply": last[:_REPLY_EXCERPT]},
    )


# -- text checks ------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form of a text, for equality and containment."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def words(text: str) -> set[str]:
    return set(_WORD.findall(normalise(text)))


def jaccard(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
