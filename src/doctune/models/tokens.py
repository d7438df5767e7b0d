"""Token counting with the model's own tokenizer (tiktoken cannot load its encodings offline).

With no tokenizer named, counts are an estimate of ~4 characters per token, and say so: callers
that report counts label them as estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

from doctune.foundation.errors import ConfigError
from doctune.models.hub import HubUnavailable, load_local_first, unavailable
from doctune.models.spec import capabilities, parse_spec

TokenCounter = Callable[[str], int]
CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


@cache
def get_token_counter(tokenizer: str | None) -> TokenCounter:
    """A counter for an hf tokenizer (hub id or local path), or the estimate when None."""
    if not tokenizer:
        return estimate_tokens
    missing = unavailable(
        tokenizer
    )  # asked of the disk first: transformers takes seconds to import
    if missing is not None:
        raise ConfigError(f"tokenizer {missing}")
    try:
        from transformers import AutoTokenizer
    except ImportError:  # the hf extra is not installed
        return estimate_tokens
    try:
        tok = load_local_first(tokenizer, AutoTokenizer.from_pretrained)
    except HubUnavailable as exc:
        raise ConfigError(f"tokenizer {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"tokenizer '{tokenizer}': cannot be loaded ({exc.__class__.__name__})"
        ) from None
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def tokenizer_for_spec(spec: str | None) -> str | None:
    """The tokenizer behind a spec whose weights are local (its base model); None for an
    endpoint."""
    if not spec:
        return None
    parsed = parse_spec(spec)
    return parsed.model if capabilities(parsed).local else None


def is_estimate(counter: TokenCounter) -> bool:
    return counter is estimate_tokens
