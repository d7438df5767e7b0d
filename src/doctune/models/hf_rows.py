"""One row of an `hf:` backend's decoding batch: its sampling, stopping and reply.

The batch loop (doctune.models.hf) runs the model and picks each row's next token; what a row
does with it (take it, stop at an end token, a stop string, a complete JSON value or its budget)
and what it answers when done lives here, one row at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from doctune.foundation.errors import ModelError
from doctune.models.base import ChatResponse, Usage


@dataclass
class Row:
    """One request while it decodes."""

    prompt: list[int]
    budget: int
    temperature: float
    top_p: float | None
    generator: torch.Generator | None
    stops: tuple[str, ...]
    matcher: Any = None
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None
    error: str | None = None


def sample(logits: torch.Tensor, row: Row) -> int:
    """A token drawn from `logits` at the row's temperature and top_p, with its generator."""
    scaled = logits / row.temperature
    if row.top_p is not None and row.top_p < 1.0:
        ordered, order = scaled.sort(descending=True)
        cumulative = ordered.softmax(-1).cumsum(-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        cut = (cumulative - ordered.softmax(-1)) >= row.top_p
        scaled = scaled.clone()
        scaled[order[cut]] = float("-inf")
    probs = scaled.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=row.generator).item())


def advance(row: Row, token: int, eos_ids: set[int], tokenizer: Any) -> bool:
    """Take `token` into the row; False when the row has finished."""
    if token in eos_ids:
        if row.matcher is not None and row.matcher.is_error():
            row.error = row.matcher.get_error().splitlines()[0][:200]
        row.finish = "stop"
        return False
    row.tokens.append(token)
    if row.matcher is not None:
        if not row.matcher.consume_token(token):
            row.error = row.matcher.get_error().splitlines()[0][:200]
            return False
        if row.matcher.is_stopped():  # the JSON value is complete; nothing may follow
            row.finish = "stop"
            return False
    if row.stops and stop_at(tokenizer, row) is not None:
        row.finish = "stop"
        return False
    if len(row.tokens) >= row.budget:
        row.finish = "length"
        return False
    return True


def stop_at(tokenizer: Any, row: Row) -> int | None:
    """Where the first stop string starts in the reply, checking only the newest tokens:
    an earlier match would have ended the row before, and every token is at least a byte."""
    window = max(len(s.encode()) for s in row.stops) + 1
    tail = tokenizer.decode(row.tokens[-window:], skip_special_tokens=True)
    if not any(s in tail for s in row.stops):
        return None
    text = tokenizer.decode(row.tokens, skip_special_tokens=True)
    return min(i for i in (text.find(s) for s in row.stops) if i >= 0)


def response(row: Row, tokenizer: Any, spec: str) -> ChatResponse | ModelError:
    """What a finished row answers: its text cut at the first stop string, or its error."""
    if row.error is not None:
        return ModelError(f"{spec}: constrained decoding failed: {row.error}")
    text = tokenizer.decode(row.tokens, skip_special_tokens=True)
    if row.stops:
        cut = stop_at(tokenizer, row)
        text = text if cut is None else text[:cut]
    # Completion tokens are the tokens generated (the end-of-turn token excluded), which is
    # what the compute cost; re-encoding the text can give fewer when a model (a random one
    # above all) spells a word in more tokens than the tokenizer would.
    return ChatResponse(
        text=text,
        usage=Usage(prompt_tokens=len(row.prompt), completion_tokens=len(row.tokens)),
        finish_reason=row.finish or "length",
    )
