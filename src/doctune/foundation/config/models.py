"""Model roles, per-model endpoint settings and the client layer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from doctune.foundation.config.base import Section


class ModelSettings(Section):
    """Per-model endpoint and price settings, keyed by spec string in `models.settings`."""

    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; default OPENAI_BASE_URL."
    )
    api_key: SecretStr | None = Field(
        None, description="API key; use ${ENV} to keep it out of the file."
    )
    structured_output: Literal["json_schema", "json_object", "instructions"] = Field(
        "json_schema",
        description="How structured records are asked for: response_format json_schema, "
        "json_object (servers without schema support), or schema in the instructions only.",
    )
    price_input_per_mtok: float = Field(0.0, ge=0, description="USD per 1M prompt tokens.")
    price_output_per_mtok: float = Field(0.0, ge=0, description="USD per 1M completion tokens.")
    max_new_tokens: int = Field(1024, gt=0, description="Default completion limit.")
    context_length: int | None = Field(
        None,
        gt=0,
        description="Tokens of prompt + reply the model accepts. openai: endpoints do not say, "
        "so prompts are fitted only when this is set; hf: overrides the model's config.",
    )
    tokenizer: str | None = Field(
        None,
        description="openai: an hf tokenizer (hub id or folder) that counts this model's "
        "tokens exactly when fitting prompts; default an estimate of ~4 characters per token "
        "with a safety margin.",
    )
    batch_size: int = Field(
        8,
        gt=0,
        description="hf: requests run together in one padded batch, for generation and for "
        "log-likelihood scoring (MMLU).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="hf: weights dtype."
    )
    device: str | None = Field(
        None, description="hf: torch device; default cuda if present, else cpu."
    )


class ModelsConfig(Section):
    teacher: str = Field("openai:gpt-4o-mini", description="Writes synthetic data (spec string).")
    judge: str = Field("openai:gpt-4o", description="Scores answers and filters records.")
    student: str = Field("hf:Qwen/Qwen2.5-7B-Instruct", description="The model to fine-tune.")
    offline_fallback: str | None = Field(
        None,
        description="Used for an openai: teacher/judge when no API key and no base URL is set "
        "(e.g. a small hf: instruct model).",
    )
    settings: dict[str, ModelSettings] = Field(
        default_factory=dict,
        description="Per model spec: endpoint, key, context, prices, decoding.",
    )


class ClientConfig(Section):
    concurrency: int = Field(
        64,
        gt=0,
        description="Most model calls in flight at once. A ceiling, not a rate: the client paces "
        "itself by the provider's rate-limit headers and halves its limit on a 429, so a high "
        "ceiling slows down on a rate-limited account instead of burning retries, and keeps a "
        "fast endpoint busy (a local vLLM server, a provider without a tight quota).",
    )
    max_retries: int = Field(6, ge=0, description="Retries on 429/5xx/timeouts/connection errors.")
    http: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description="The openai SDK's HTTP transport for openai: models: aiohttp (the SDK's "
        "DefaultAioHttpClient, made for many concurrent calls: ~20 % less client CPU a call "
        "than httpx, benchmarks/synthesis_replay.py) or httpx (the SDK's default). Requests and "
        "replies are the same; an SDK older than 1.89 or without aiohttp falls back to httpx.",
    )
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    structured_retries: int = Field(
        2, ge=0, description="Re-asks after an invalid structured reply."
    )
    cache: bool = Field(True, description="Persistent SQLite call cache (reruns never pay twice).")
    cache_path: str | None = Field(None, description="Default: <out>/cache/calls.sqlite.")
    temperature: float = Field(
        0.7, ge=0, le=2, description="Default sampling temperature for generation."
    )
    seed: int = Field(0, description="Sampling seed passed to backends that accept one.")
