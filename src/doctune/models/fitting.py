"""Fitting a prompt to a model's context before it is sent, so one long item never aborts a stage.

Pure functions over a token counter and a context length. The caller describes how its prompt
may shrink (a `Layout`): groups of parts that may be dropped, in the order they go (RAG passages
lowest-ranked first, few-shot examples, distillation chunks farthest from the focus), then a text
that may be cut from the left, as lm-evaluation-harness cuts a context: the start goes, the
question and the answer cue stay. Each step taken is recorded in words; a prompt that still
does not fit is not sent, and the reason says by how much.

The reply needs room too: the request's `max_tokens` is reserved when it fits, and a smaller
reserve is accepted down to a floor (64 tokens, or max_tokens if smaller), with max_tokens
lowered to what is left. Shrinking the reply budget comes first because it changes nothing the
model reads; most replies are far shorter than their limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from doctune.models.base import ChatBackend, ChatRequest, Message

#: The smallest reply budget a fitted prompt leaves (or the request's max_tokens if smaller).
DEFAULT_FLOOR = 64
#: The exclusion kind and label that evaluation and synthesis record for a prompt that cannot fit.
EXCEEDS = "prompt_exceeds_context"

RequestCounter = Callable[[ChatRequest], int]
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Room:
    """What a model says about its context: its length in tokens and how it counts a request's
    prompt (chat template included). Either unknown (None) means no fitting: the request goes
    as it is and the server decides."""

    context: int | None
    count: RequestCounter | None

    @classmethod
    def of(cls, backend: ChatBackend) -> Room:
        context = backend.context_length
        return cls(context, backend.prompt_tokens if context else None)

    @property
    def known(self) -> bool:
        return self.context is not None and self.count is not None


@dataclass(frozen=True)
class Layout:
    """How a prompt may shrink.

    `build(keep, cut)` returns the messages with the first `keep[i]` parts of group i and `cut`
    characters taken from the left of the cuttable text; `groups` names each group and says how
    many parts it has, in the order the groups are dropped (a group's last part goes first);
    `cuttable(keep)` is how many characters may be cut once the groups are as `keep` says.
    """

    build: Callable[[tuple[int, ...], int], list[Message]]
    groups: tuple[tuple[str, int], ...] = ()
    cuttable: Callable[[tuple[int, ...]], int] = lambda keep: 0

    @classmethod
    def fixed(cls, messages: Sequence[Message]) -> Layout:
        """A prompt that cannot shrink: it fits or it is not sent."""
        frozen = list(messages)
        return cls(build=lambda keep, cut: frozen)


@dataclass(frozen=True)
class Fitted:
    """The request to send (None when it cannot fit), the steps taken, and the reason if not;
    `kept` and `cut` are the layout's arguments that built it (what was actually sent)."""

    request: ChatRequest | None
    steps: tuple[str, ...] = ()
    excluded: str | None = None
    prompt_tokens: int | None = None
    kept: tuple[int, ...] = ()
    cut: int = 0

    @property
    def messages(self) -> list[Message]:
        return list(self.request.messages) if self.request is not None else []


def left_cut(text: str, chars: int) -> str:
    """`text` without its first `chars` characters, and without the rest of a word cut in two,
    so the prompt starts at a word."""
    if chars <= 0:
        return text
    if chars >= len(text):
        return ""
    rest = text[chars:]
    if not text[chars - 1].isspace() and not rest[0].isspace():
        space = _SPACE.search(rest)
        rest = rest[space.start() :] if space else ""
    return rest.lstrip()


def fit(request: ChatRequest, layout: Layout, room: Room, *, floor: int = DEFAULT_FLOOR) -> Fitted:
    """The request with its messages from `layout`, fitted to `room` (see the module docstring).

    `request` carries the parameters (max_tokens, schema); its messages are replaced by the
    layout's. With no known room the full prompt goes as it is.
    """
    full = tuple(n for _, n in layout.groups)
    first = request.model_copy(update={"messages": tuple(layout.build(full, 0))})
    if not room.known:
        return Fitted(first, kept=full)
    return _Fitter(request, layout, room, floor).run(first, full)


@dataclass
class _Fitter:
    request: ChatRequest
    layout: Layout
    room: Room
    floor: int

    @property
    def context(self) -> int:
        return int(self.room.context or 0)

    def __post_init__(self) -> None:
        wanted = self.request.params.max_tokens
        self.reserve = min(self.floor, wanted) if wanted else self.floor
        self.steps: list[str] = []

    def tokens(self, request: ChatRequest) -> int:
        assert self.room.count is not None
        return self.room.count(request)

    def with_parts(self, keep: tuple[int, ...], cut: int) -> ChatRequest:
        return self.request.model_copy(update={"messages": tuple(self.layout.build(keep, cut))})

    def fits(self, tokens: int) -> bool:
        return tokens + self.reserve <= self.context

    def run(self, first: ChatRequest, keep: tuple[int, ...]) -> Fitted:
        current, tokens = first, self.tokens(first)
        self.keep = keep
        if self.fits(tokens):
            return self.done(current, tokens)
        for g, (what, total) in enumerate(self.layout.groups):
            kept = list(keep)
            while kept[g] > 0 and not self.fits(tokens):
                kept[g] -= 1
                current = self.with_parts(tuple(kept), 0)
                tokens = self.tokens(current)
            if kept[g] < total:
                self.steps.append(f"dropped {total - kept[g]} of {total} {what}")
            keep = self.keep = tuple(kept)
            if self.fits(tokens):
                return self.done(current, tokens)
        return self.cut(keep, current, tokens)

    def cut(self, keep: tuple[int, ...], current: ChatRequest, tokens: int) -> Fitted:
        """The smallest left cut that fits, by bisection over characters (more cut, fewer
        tokens); none fits: not sent."""
        limit = self.layout.cuttable(keep)
        if limit <= 0 or not self.fits(self.tokens(self.with_parts(keep, limit))):
            smallest = self.tokens(self.with_parts(keep, limit)) if limit > 0 else tokens
            return self.exceeds(smallest)
        low, high = 0, limit  # low does not fit, high fits
        while high - low > 1:
            middle = (low + high) // 2
            if self.fits(self.tokens(self.with_parts(keep, middle))):
                high = middle
            else:
                low = middle
        fitted = self.with_parts(keep, high)
        after = self.tokens(fitted)
        self.steps.append(f"cut {tokens - after} tokens from the left")
        return self.done(fitted, after, high)

    def done(self, request: ChatRequest, tokens: int, cut: int = 0) -> Fitted:
        wanted = request.params.max_tokens
        left = self.context - tokens
        if wanted is not None and left < wanted:
            self.steps.append(f"reply limit lowered from {wanted} to {left} tokens")
            params = request.params.model_copy(update={"max_tokens": left})
            request = request.model_copy(update={"params": params})
        return Fitted(request, tuple(self.steps), None, tokens, self.keep, cut)

    def exceeds(self, tokens: int) -> Fitted:
        if tokens >= self.context:
            reason = f"prompt exceeds context ({tokens} tokens, context {self.context})"
        else:
            reason = (
                f"prompt exceeds context ({tokens} tokens + {self.reserve} for the reply, "
                f"context {self.context})"
            )
        return Fitted(None, tuple(self.steps), reason, tokens, self.keep)
