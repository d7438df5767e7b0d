"""Reading a chat completion's JSON (the SDK hands it over as is: `cast_to=object`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.base import ChatRequest, Message, Usage
from doctune.models.openai import OpenAIBackend, read_completion
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer

SPEC = "openai:fake"


def completion(**fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    reply.update(fields)
    return reply


def test_the_first_choice_and_the_usage_are_read() -> None:
    text, usage, finish = read_completion(SPEC, completion())
    assert (text, usage, finish) == ("hi", Usage(prompt_tokens=12, completion_tokens=3), "stop")


def test_missing_usage_and_content_read_as_nothing() -> None:
    reply = completion(usage=None)
    reply["choices"][0]["message"] = {"role": "assistant", "content": None}
    reply["choices"][0]["finish_reason"] = None
    assert read_completion(SPEC, reply) == ("", Usage(), None)
    partial = completion(usage={"prompt_tokens": 5})
    assert read_completion(SPEC, partial)[1] == Usage(prompt_tokens=5, completion_tokens=0)


@pytest.mark.parametrize("reply", [completion(choices=[]), completion(choices=None), "<html>"])
def test_no_choices_or_no_json_object_is_a_model_error(reply: Any) -> None:
    with pytest.raises(ModelError, match=SPEC):
        read_completion(SPEC, reply)


def test_a_reply_from_the_server_reads_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the SDK and a loopback server: the text the server sent, its usage counts."""
    with FakeOpenAIServer(responder=lambda body: "forty-two") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        backend = OpenAIBackend(parse_spec(SPEC), ModelSettings())
        request = ChatRequest(messages=(Message(role="user", content="What is six times seven?"),))

        async def ask() -> Any:
            try:
                return await backend.complete(request)
            finally:
                await backend.aclose()

        response = asyncio.run(ask())
    assert response.text == "forty-two"
    assert response.finish_reason == "stop"
    assert response.usage.completion_tokens == len("forty-two") // 4 + 1
    assert response.usage.prompt_tokens > 0
