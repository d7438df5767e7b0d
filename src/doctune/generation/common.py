"""What every generator here shares: the teacher call with fixed parameters and its prompt
fitted to the teacher's context, provenance, rejection records, concurrency that fails fast, and
the text normalisation used by the checks.

A prompt too long for the teacher is shortened (doctune.models.fitting) before it is sent; one
that still does not fit is not sent, and its record is rejected with the reason
`prompt_exceeds_context` and counted in the stage summary: the stage goes on.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from doctune.context import RunContext, Tick
from doctune.foundation.config import model_settings
from doctune.foundation.records import Chunk, Provenance, QARecord, RejectedRecord, stable_id
from doctune.generation.scheduler import CallScheduler, Priority
from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.cache import request_key
from doctune.models.client import ModelClient
from doctune.models.fitting import EXCEEDS, Fitted, Layout, Room, fit, left_cut
from doctune.models.identity import backend_identity
from doctune.models.structured import Structured, schema_for
from doctune.models.tokens import estimate_tokens
from doctune.prompts import PromptTemplate

M = TypeVar("M", bound=BaseModel)

# A reply is JSON around the text; ~3 characters per token leaves room for escapes and keys.
_CHARS_PER_COMPLETION_TOKEN = 3
_REPLY_EXCERPT = 2000
# A JSON record needs more room than a free-text answer; below this a reply would be cut into
# invalid JSON, and the re-asks would only repeat that.
REPLY_FLOOR = 256
MIN_MATERIAL_CHARS = 200


@dataclass
class FitTally:
    """How many of a recipe's prompts had to be shortened, and how many could not be sent."""

    fitted: int = 0
    not_sent: int = 0

    def summary(self) -> dict[str, int]:
        return {"fitted_prompts": self.fitted, EXCEEDS: self.not_sent}


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
    fitting: FitTally = field(default_factory=FitTally)
    # Shared by the recipes of a stage that run at once: one limit, the planning calls first.
    scheduler: CallScheduler | None = None

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

    def fit(self, layout: Layout, output_type: type[BaseModel], reply_chars: int) -> Fitted:
        """The first request for `layout`, fitted to the teacher's context (as it is when the
        context is unknown, or when there is no client: estimates price the full prompt)."""
        room = Room.of(self.client.backend) if self.client is not None else Room(None, None)
        request = self.request([], output_type, reply_chars)
        return fit(request, layout, room, floor=REPLY_FLOOR)

    async def ask(
        self,
        prompt: Sequence[Message] | Fitted,
        output_type: type[M],
        reply_chars: int,
        priority: Priority = Priority.LEAF,
    ) -> Structured[M]:
        """The teacher's validated reply; a prompt that cannot fit is not sent and comes back
        as a failure with no attempt (see `invalid_output`). With a scheduler, the call waits
        for a slot of it by `priority` (its re-asks keep the slot)."""
        assert self.client is not None, "Teacher built without a client (estimate only)"
        fitted = prompt
        if not isinstance(fitted, Fitted):
            fitted = self.fit(Layout.fixed(prompt), output_type, reply_chars)
        if fitted.request is None:
            self.fitting.not_sent += 1
            result: Structured[M] = Structured(value=None, attempts=0, error=fitted.excluded)
        else:
            self.fitting.fitted += bool(fitted.steps)
            p = fitted.request.params
            gate = self.scheduler.slot(priority) if self.scheduler else contextlib.nullcontext()
            async with gate:
                result = await self.client.structured(
                    fitted.messages,
                    output_type,
                    temperature=p.temperature,
                    max_tokens=p.max_tokens,
                    seed=p.seed,
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


def call_limit(client: ModelClient, concurrency: int) -> int:
    """How many calls `client` lets run at once: `concurrency`, or its backend's own limit
    where that is lower (an in-process model's batch)."""
    return min(concurrency, client.backend.max_concurrency or concurrency)


def chunk_text_layout(text: str, render: Callable[[str], list[Message]]) -> Layout:
    """A prompt around one chunk's text that may lose the start of the text, never all of it:
    with less than MIN_MATERIAL_CHARS left there is nothing to write records from."""
    return Layout(
        build=lambda keep, cut: render(left_cut(text, cut)),
        cuttable=lambda keep: max(0, len(text) - MIN_MATERIAL_CHARS),
    )


def kept_chunks(context: Sequence[Chunk], keep: tuple[int, ...]) -> list[Chunk]:
    """The chunks of `context` a fitted prompt kept (all of them before any fitting): the
    focus (the first, best-ranked one) and the `keep[0]` others nearest to it, in rank order.
    Nearest is by position in the focus's document; another document's chunks are farthest."""
    if not context:
        return []
    focus, others = context[0], list(context[1:])
    n = keep[0] if keep else len(others)

    def distance(rank: int) -> tuple[float, int]:
        chunk = others[rank]
        apart = abs(chunk.index - focus.index) if chunk.doc_id == focus.doc_id else math.inf
        return apart, rank  # equally far: the lower-ranked goes first

    nearest = set(sorted(range(len(others)), key=distance)[:n])
    return [focus, *(c for rank, c in enumerate(others) if rank in nearest)]


def context_layout(
    context: Sequence[Chunk], render: Callable[[list[Chunk]], list[Message]]
) -> Layout:
    """A prompt over reference chunks that may shrink: the chunks farthest from the focus go
    first (see `kept_chunks`), then the focus's own text loses its start."""
    if not context:
        return Layout.fixed(render([]))
    focus = context[0]

    def build(keep: tuple[int, ...], cut: int) -> list[Message]:
        chunks = kept_chunks(context, keep)
        if cut:
            chunks[0] = focus.model_copy(update={"text": left_cut(focus.text, cut)})
        return render(chunks)

    return Layout(
        build=build,
        groups=(("chunks", len(context) - 1),),
        cuttable=lambda keep: max(0, len(focus.text) - MIN_MATERIAL_CHARS),
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
    """The record of a structured call that failed after every re-ask, or was never sent
    because its prompt could not fit the teacher's context (no attempt)."""
    last = result.responses[-1].text if result.responses else ""
    if result.attempts == 0:
        reason, detail = EXCEEDS, str(result.error)
    else:
        reason, detail = "invalid_output", f"{result.error} (after {result.attempts} attempts)"
    return RejectedRecord(
        id=stable_id("rejected", stage, *key),
        stage=stage,
        reason=reason,
        detail=detail,
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
