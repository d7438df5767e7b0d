"""Model backends behind one interface, named by spec strings (see `doctune.models.spec`)."""

from __future__ import annotations

from doctune.foundation.config import ClientConfig, ModelSettings
from doctune.models.base import (
    ChatBackend,
    ChatRequest,
    ChatResponse,
    GenerationParams,
    Message,
    Usage,
)
from doctune.models.client import ModelClient, UsageLedger
from doctune.models.spec import ModelSpec, parse_spec

__all__ = [
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "GenerationParams",
    "Message",
    "ModelClient",
    "ModelSpec",
    "Usage",
    "UsageLedger",
    "load_backend",
    "parse_spec",
]


def load_backend(spec: str, settings: ModelSettings, client: ClientConfig) -> ChatBackend:
    """Build the backend for a spec. Imports are lazy: an `openai:` run never imports torch."""
    parsed = parse_spec(spec)
    if parsed.backend == "openai":
        from doctune.models.openai import OpenAIBackend

        return OpenAIBackend(
            parsed, settings, timeout_s=client.timeout_s, max_retries=client.max_retries
        )
    from doctune.models.hf import HFBackend

    return HFBackend(parsed, settings)
