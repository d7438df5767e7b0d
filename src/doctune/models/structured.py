"""Structured output: pydantic model -> JSON schema -> validated object.

Replies are parsed strictly (`model_validate_json`). The one normalisation allowed is removing a
single Markdown code fence around the whole reply, which instruction-following servers add; no
regex salvage of JSON fragments. What fails validation is re-asked with the validation error, and
what still fails is returned as a failure for the caller to count and report (and is never cached
as an answer: see ModelClient.structured).

The one documented other format is the judge's: MT-bench rating lines (`Rating: [[8]]`), read by
doctune.evaluate.ratings only for a judge whose server does not enforce the schema, through the
`parse` hook of ModelClient.structured; JSON replies go through the strict path here either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from doctune.models.base import ChatResponse, Message

T = TypeVar("T", bound=BaseModel)

# Keywords OpenAI's strict json_schema mode refuses. Length limits are restated in the field's
# description so the model still sees them, and validation enforces them either way.
_STRICT_UNSUPPORTED = ("minLength", "maxLength", "default", "examples")


@cache
def schema_for(output_type: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of an output model, closed (no extra properties) at every object.

    Cached (generating it costs ~1 ms per call): treat the returned dict as read-only.
    """
    schema = output_type.model_json_schema()
    _close_objects(schema)
    return schema


def _close_objects(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def openai_strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy OpenAI's `strict: true` accepts: every property required, unsupported keywords gone.

    Cached on the schema's JSON text (the same few schemas are sent thousands of times); treat
    the result as read-only.
    """
    return _strict_from_json(json.dumps(schema, sort_keys=True))


@cache
def _strict_from_json(schema_json: str) -> dict[str, Any]:
    out = json.loads(schema_json)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            limits = [
                f"at least {node['minLength']}" if "minLength" in node else "",
                f"at most {node['maxLength']}" if "maxLength" in node else "",
            ]
            limits = [x for x in limits if x]
            if limits and node.get("type") == "string":
                hint = f"({' and '.join(limits)} characters)"
                node["description"] = f"{node.get('description', '')} {hint}".strip()
            for key in _STRICT_UNSUPPORTED:
                node.pop(key, None)
            if node.get("type") == "object" and "properties" in node:
                node["required"] = list(node["properties"])
                node["additionalProperties"] = False
            for key, value in node.items():
                if key != "properties":
                    walk(value)
                else:  # property names are data here, not keywords
                    for sub in value.values():
                        walk(sub)

    walk(out)
    return out


def schema_instructions(schema: dict[str, Any]) -> str:
    """For servers without schema support: the schema stated in the prompt."""
    return (
        "Reply with a single JSON object and nothing else (no prose, no code fence). "
        "It must validate against this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)
    )


def strip_fence(text: str) -> str:
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and body.count("```") == 2:
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body[: body.rfind("```")]
    return body.strip()


def parse_reply(text: str, output_type: type[T]) -> tuple[T | None, str | None]:
    """(value, None) for a valid reply, (None, one-line reason) otherwise."""
    try:
        return output_type.model_validate_json(strip_fence(text)), None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "reply"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return None, f"{loc}: {first['msg']}{more}"


def reask_messages(messages: tuple[Message, ...], reply: str, error: str) -> tuple[Message, ...]:
    """The conversation extended with the invalid reply and what was wrong with it."""
    return (
        *messages,
        Message(role="assistant", content=reply[:4000]),
        Message(
            role="user",
            content=f"That reply is not valid: {error}. Reply again with only the corrected JSON object.",
        ),
    )


@dataclass
class Structured(Generic[T]):
    """The outcome of a structured call: a validated value, or the reason it failed."""

    value: T | None
    error: str | None = None
    attempts: int = 1
    responses: list[ChatResponse] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.value is not None
