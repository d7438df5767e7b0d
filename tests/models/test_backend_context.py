"""What backends say about their context: its length and a prompt's tokens, known before any
weights load (hf) or from the config (openai)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel
from transformers import AutoTokenizer

from doctune.foundation.config import ModelSettings
from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.client import ModelClient
from doctune.models.fitting import Layout, Room, fit
from doctune.models.hf import HFBackend
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec
from doctune.models.structured import Structured
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def short_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("short") / "m", max_positions=256)


def request(text: str, max_tokens: int = 8) -> ChatRequest:
    messages = (Message(role="system", content="Be brief."), Message(role="user", content=text))
    return ChatRequest(messages=messages, params=GenerationParams(max_tokens=max_tokens))


def test_hf_context_and_counts_come_without_the_weights(short_model_dir: Path) -> None:
    backend = HFBackend(parse_spec(f"hf:{short_model_dir}"), ModelSettings())
    assert backend.context_length == 256
    tokens = backend.prompt_tokens(request("What is the yield of the acylation?"))
    assert backend._model is None  # counted with the tokenizer alone
    response = asyncio.run(backend.complete(request("What is the yield of the acylation?")))
    assert response.usage.prompt_tokens == tokens  # the count is what decoding saw
    asyncio.run(backend.aclose())


def test_hf_settings_override_the_config(short_model_dir: Path) -> None:
    backend = HFBackend(parse_spec(f"hf:{short_model_dir}"), ModelSettings(context_length=128))
    assert backend.context_length == 128


def test_a_fitted_prompt_passes_the_backend_guard(short_model_dir: Path) -> None:
    backend = HFBackend(parse_spec(f"hf:{short_model_dir}"), ModelSettings())
    long = "reactor temperature " * 300

    def build(keep: tuple[int, ...], cut: int) -> list[Message]:
        return list(request(long[cut:]).messages)

    fitted = fit(
        request(long, max_tokens=32),
        Layout(build, cuttable=lambda keep: len(long)),
        Room.of(backend),
    )
    assert fitted.request is not None and fitted.steps[0].startswith("cut ")
    assert fitted.prompt_tokens is not None and fitted.prompt_tokens + 32 <= 256
    response = asyncio.run(backend.complete(fitted.request))
    assert response.usage.prompt_tokens == fitted.prompt_tokens
    asyncio.run(backend.aclose())


def test_openai_context_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    plain = OpenAIBackend(parse_spec("openai:m"), ModelSettings())
    assert plain.context_length is None and not Room.of(plain).known
    sized = OpenAIBackend(parse_spec("openai:m"), ModelSettings(context_length=4096))
    assert sized.context_length == 4096
    text = "x" * 400  # 100 estimated tokens, raised by the margin
    tokens = sized.prompt_tokens(request(text))
    assert tokens >= 125 + 3


class Answer(BaseModel):
    answer: str


def test_a_reask_too_long_for_the_context_is_not_sent() -> None:
    """The re-ask carries the invalid reply and the error: past the context it would fail at the
    server (and end the stage); it is not sent, and the failure says why."""
    long_prose = "This is not JSON at all. " * 60  # ~1,500 characters
    with FakeOpenAIServer(responder=lambda body: long_prose) as server:
        settings = ModelSettings(base_url=server.base_url, context_length=400)
        client = ModelClient(
            OpenAIBackend(parse_spec("openai:m"), settings), settings=settings, structured_retries=2
        )
        messages = [Message(role="user", content="Say it as JSON.")]

        async def ask() -> Structured[Answer]:
            try:
                return await client.structured(messages, Answer, max_tokens=100)
            finally:
                await client.aclose()

        result = asyncio.run(ask())
    assert result.value is None and result.attempts == 1
    assert server.completions == 1
    assert result.error is not None and "re-ask not sent: prompt exceeds context (" in result.error


def test_a_request_that_cannot_fit_is_not_a_failed_call() -> None:
    """Nothing was sent, so no rerun can change it: it is booked as unfitted, not as a failed
    call (which would keep its stage out of date for good) and not in the failures table."""
    with FakeOpenAIServer(responder=lambda body: '{"answer": "x"}') as server:
        settings = ModelSettings(base_url=server.base_url, context_length=200)
        client = ModelClient(OpenAIBackend(parse_spec("openai:m"), settings), settings=settings)
        messages = [Message(role="user", content="word " * 400)]

        async def ask() -> Structured[Answer]:
            try:
                return await client.structured(messages, Answer, max_tokens=50)
            finally:
                await client.aclose()

        result = asyncio.run(ask())
    assert result.value is None and result.attempts == 0 and server.completions == 0
    assert result.error is not None and result.error.startswith("prompt exceeds context (")
    row = client.ledger.totals()
    assert row.unfitted == 1 and row.failed_structured == 0 and row.failed_calls == 0


def test_openai_counts_in_the_configured_tokenizer(
    short_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = ModelSettings(context_length=4096, tokenizer=str(short_model_dir))
    backend = OpenAIBackend(parse_spec("openai:m"), settings)
    tokenizer = AutoTokenizer.from_pretrained(short_model_dir)
    text = "Hydrogenation over Raney nickel at 70 °C."
    exact = sum(
        len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in ("Be brief.", text)
    )
    assert backend.prompt_tokens(request(text)) == exact + 2 * 4 + 3  # messages and priming
