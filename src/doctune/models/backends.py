"""The built-in backends, one `register_backend` line each. A new backend is its module (a
`ChatBackend`) plus one line here.

The builders import their module when first called, so an `openai:` run never imports torch and
an `hf:` run needs no openai SDK.
"""

from __future__ import annotations

from doctune.foundation.config import ClientConfig, ModelSettings
from doctune.models.base import ChatBackend
from doctune.models.spec import BackendType, Capabilities, ModelSpec, register_backend

OPENAI = Capabilities(
    endpoint=True, fine_tuning="hosted", structured=("json_schema", "json_object", "instructions")
)
HF = Capabilities(local=True, loglikelihood=True, structured=("json_schema",))


def _openai(spec: ModelSpec, settings: ModelSettings, client: ClientConfig) -> ChatBackend:
    from doctune.models.openai import OpenAIBackend

    return OpenAIBackend(
        spec,
        settings,
        timeout_s=client.timeout_s,
        max_retries=client.max_retries,
        http=client.http,
    )


def _hf(spec: ModelSpec, settings: ModelSettings, client: ClientConfig) -> ChatBackend:
    from doctune.models.hf import HFBackend

    return HFBackend(spec, settings)


register_backend(BackendType("openai", OPENAI, _openai))
register_backend(BackendType("hf", HF, _hf))
