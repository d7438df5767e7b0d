"""What FakeOpenAIServer answers: deterministic replies grounded in the request's own prompt.

A structured request gets a valid instance of its JSON schema whose strings are sentences of the
prompt (so answers are grounded in their chunk), a plain request gets prose drawn from the
prompt. `garbling` turns a chosen share of prompts into prose where JSON was asked for, and a
responder raises `HTTPFault` to refuse a chosen request.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from typing import Any

Responder = Callable[[dict[str, Any]], str]
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def prompt_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def sentences(text: str) -> list[str]:
    out = []
    for part in _SENTENCE.split(text):
        part = part.strip(" -*#>\t")
        if len(part) >= 25 and not part.lstrip().startswith("{"):
            out.append(part)
    return out or ["The documents describe the process."]


class HTTPFault(Exception):
    """Raised by a responder to answer one request with an HTTP error (a fault for chosen
    requests, where `Faults` draws them at random)."""

    def __init__(self, status: int, message: str = "injected fault") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def garbling(responder: Responder, rate: float, *, seed: int = 0) -> Responder:
    """`responder`, except that a `rate` fraction of prompts get prose instead of JSON. Which
    ones is decided by a hash of the request's first user message, so the re-asks of a garbled
    prompt are garbled too (a judge that cannot handle that item) and a test can tell which
    items were: `garbled_prompt(user_message, rate, seed)`."""

    def reply(body: dict[str, Any]) -> str:
        user = next((m["content"] for m in body.get("messages", []) if m["role"] == "user"), "")
        if garbled_prompt(user, rate, seed=seed):
            return "I think the answer is mostly fine, but I cannot put a number on it."
        return responder(body)

    return reply


def garbled_prompt(user: str, rate: float, *, seed: int = 0) -> bool:
    digest = hashlib.sha256(f"{seed}:{user}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rate


class SchemaFaker:
    """A valid instance of a JSON schema, with strings taken from the prompt's own sentences."""

    def __init__(self, schema: dict[str, Any], text: str, seed: int) -> None:
        self.root = schema
        self.pool = sentences(text)
        self.rng = random.Random(seed)
        self.cursor = self.rng.randrange(len(self.pool))

    def next_sentence(self) -> str:
        sentence = self.pool[self.cursor % len(self.pool)]
        self.cursor += 1
        return sentence

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = self.root.get("$defs", {}).get(name) or self.root.get("definitions", {})[name]
        return node

    def make(self, node: dict[str, Any], key: str = "") -> Any:
        node = self.resolve(node)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return self.rng.choice(node["enum"])
        for combo in ("anyOf", "oneOf"):
            if combo in node:
                options = [o for o in node[combo] if self.resolve(o).get("type") != "null"]
                return self.make(options[0] if options else node[combo][0], key)
        kind = node.get("type", "object" if "properties" in node else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            return {name: self.make(sub, name) for name, sub in node.get("properties", {}).items()}
        if kind == "array":
            low = int(node.get("minItems", 2))
            high = int(node.get("maxItems", max(low, 2)))
            return [self.make(node.get("items", {}), key) for _ in range(max(low, min(high, 2)))]
        if kind == "integer":
            return int(node.get("minimum", 0)) + self.rng.randrange(3)
        if kind == "number":
            return float(node.get("minimum", 0)) + round(self.rng.random(), 3)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(node, key)

    def string(self, node: dict[str, Any], key: str) -> str:
        sentence = self.next_sentence()
        if "question" in key.lower():
            words = sentence.rstrip(".!?").split()
            value = f"What does the text state about {' '.join(words[:8])}?"
        else:
            value = sentence
        low, high = int(node.get("minLength", 0)), node.get("maxLength")
        if high is not None:
            value = value[: int(high)]
        return value.ljust(low, ".")


def default_responder(body: dict[str, Any]) -> str:
    """Deterministic in the request: same body, same reply."""
    text = prompt_text(body)
    seed = int(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8], 16)
    schema = requested_schema(body)
    if schema is not None:
        return json.dumps(SchemaFaker(schema, text, seed).make(schema))
    pool = sentences(text)
    start = seed % len(pool)
    return " ".join(pool[start : start + 2])


def requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["schema"]
    # json_object / instructions modes: doctune states the schema at the end of the prompt.
    marker = "JSON schema:\n"
    text = prompt_text(body)
    if marker in text:
        return json.loads(text[text.rindex(marker) + len(marker) :].split("\n", 1)[0])
    return None
