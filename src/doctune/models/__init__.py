"""Model backends behind one interface, named by spec strings (see `doctune.models.spec`)."""

from __future__ import annotations

from doctune.foundation.config import ClientConfig, ModelSettings

# The built-in backends register on import; every import of a doctune.models module runs this
# package first, so the registry is never empty when a spec is parsed.
from doctune.models import backends  # noqa: F401
from doctune.models.base import (
    ChatBackend,
    ChatRequest,
    ChatResponse,
    GenerationParams,
    Message,
    Usage,
)
from doctune.models.client import ModelClient
from doctune.models.spec import ModelSpec, build_backend, capabilities, parse_spec
from doctune.models.usage import UsageLedger

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
    "capabilities",
    "load_backend",
    "parse_spec",
]


def load_backend(spec: str, settings: ModelSettings, client: ClientConfig) -> ChatBackend:
    """Build the backend for a spec, through the backend registry."""
    return build_backend(spec, settings, client)
