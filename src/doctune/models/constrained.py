"""JSON-schema constrained decoding for in-process models, with llguidance.

llguidance turns a JSON schema into a grammar and, at every step, into the set of tokens that
keep the output a valid prefix. That guarantees valid JSON only if the output also *ends* within
the token budget, and a schema does not promise that: a string without `maxLength`, an array
without `maxItems`, a number with unbounded digits can each go on for ever. A real model closes
them on its own; a weak or random one rarely picks the closing quote (about 1 token in 500 of a
string's allowed set) and runs into the budget with truncated JSON.

The fix here has two halves, both computed before decoding starts:

1. `bound_schema` gives every unbounded string, array, map and number a bound in a copy of the
   schema (defaults below; bounds the schema sets itself are kept). Numbers get the range of
   integers a double holds exactly and at most nine decimals, so their digits are finite too.
   Output is compact JSON (no free whitespace) without `\\u` escapes (six characters for one), so a character costs at
   most 4 bytes.
2. `worst_case_tokens` adds up the longest output the bounded schema allows, in bytes; every
   token but the end-of-sequence one is at least one byte, so bytes bound tokens. The request's
   budget becomes `max(max_tokens, worst case)`: the schema, not the free-text limit, is what
   bounds a structured reply, and a model that ends early (any real one) pays nothing for the
   headroom. If the worst case does not fit the model's context, the default bounds are halved
   until it does.

A schema that cannot be bounded (a recursive one, a free-form `{}` value) keeps whatever room the
context has left; a reply that still runs out ends with finish_reason "length", which the client
counts as an invalid reply.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import torch

# Compact JSON, and escapes limited to the two-byte ones.
JSON_OPTIONS: dict[str, Any] = {"whitespace_flexible": False, "json_allowed_escapes": 'nrbtf\\"'}
MAX_BYTES_PER_CHAR = 4  # UTF-8
INT_LIMIT = 2**53 - 1  # the integers a double (JSON's number) holds exactly
NUMBER_LIMIT = 1e15
NUMBER_STEP = 1e-9


@dataclass(frozen=True)
class Caps:
    """Default bounds for what a schema leaves unbounded."""

    string_chars: int = 2000
    items: int = 64  # array items and map entries
    key_chars: int = 64  # map keys

    def halved(self) -> Caps:
        return replace(
            self,
            string_chars=max(1, self.string_chars // 2),
            items=max(1, self.items // 2),
            key_chars=max(1, self.key_chars // 2),
        )


DEFAULT_CAPS = Caps()


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    return set(kind) if isinstance(kind, list) else set()


def _map_key_pattern(caps: Caps) -> str:
    return f"^[\\s\\S]{{0,{caps.key_chars}}}$"


def bound_schema(schema: dict[str, Any], caps: Caps = DEFAULT_CAPS) -> dict[str, Any]:
    """A copy of `schema` in which nothing is unbounded that a bound can be given."""
    out = copy.deepcopy(schema)
    _bound(out, caps)
    return out


def _bound(node: Any, caps: Caps) -> None:
    if not isinstance(node, dict):
        return
    types = _types(node)
    literal = "enum" in node or "const" in node
    if "string" in types and not literal and "maxLength" not in node:
        node["maxLength"] = max(caps.string_chars, node.get("minLength", 0))
    if "array" in types and "maxItems" not in node and node.get("items") is not False:
        node["maxItems"] = max(caps.items, node.get("minItems", 0))
    if types & {"integer", "number"} and not literal:
        limit = INT_LIMIT if "number" not in types else NUMBER_LIMIT
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        if low is None:
            node["minimum"] = -limit if high is None else min(-limit, high)
        if high is None:
            node["maximum"] = limit if low is None else max(limit, low)
        if "number" in types and "multipleOf" not in node:
            node["multipleOf"] = NUMBER_STEP
    if "object" in types or "properties" in node:
        _bound_object(node, caps)
    for key in ("properties", "patternProperties", "$defs", "definitions"):
        for sub in (node.get(key) or {}).values():
            _bound(sub, caps)
    for key in ("items", "additionalProperties", "contains"):
        _bound(node.get(key), caps)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in node.get(key) or ():
            _bound(sub, caps)


def _bound_object(node: dict[str, Any], caps: Caps) -> None:
    extra = node.get("additionalProperties")
    if "properties" in node and extra is None:
        node["additionalProperties"] = False  # closed, as `schema_for` makes every record
    elif (
        extra not in (None, False)
        and not node.get("properties")
        and "patternProperties" not in node
    ):
        # A map: llguidance has no `propertyNames`, but a key pattern bounds the keys as well.
        node["patternProperties"] = {_map_key_pattern(caps): {} if extra is True else extra}
        node["additionalProperties"] = False
        node.setdefault("maxProperties", max(caps.items, node.get("minProperties", 0)))
        node["x-doctune-map-key-chars"] = caps.key_chars


def worst_case_tokens(schema: dict[str, Any]) -> int | None:
    """An upper bound on the tokens of any output `schema` allows (plus end-of-sequence), or None
    where the schema leaves something unbounded."""
    size = _worst(schema, schema, ())
    return None if size is None else size + 1


def _dumped(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _worst(node: Any, root: dict[str, Any], refs: tuple[str, ...]) -> int | None:
    if node is False:
        return 0
    if not isinstance(node, dict):
        return None
    if "const" in node:
        return _dumped(node["const"])
    if "enum" in node:
        return max((_dumped(v) for v in node["enum"]), default=0)
    if "$ref" in node:
        ref = node["$ref"]
        if ref in refs or not ref.startswith("#/"):
            return None  # recursive or external: no finite bound
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _worst(target, root, (*refs, ref))
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        sizes = [_worst(b, root, refs) for b in branches]
        return None if None in sizes else max(sizes, default=0)
    if node.get("allOf"):
        sizes = [s for s in (_worst(p, root, refs) for p in node["allOf"]) if s is not None]
        return min(sizes) if sizes else None
    sizes = [_worst_of_type(kind, node, root, refs) for kind in _types(node)]
    return None if not sizes or None in sizes else max(sizes)


def _worst_of_type(
    kind: str, node: dict[str, Any], root: dict[str, Any], refs: tuple
) -> int | None:
    if kind == "string":
        chars = node.get("maxLength")
        return None if chars is None else 2 + MAX_BYTES_PER_CHAR * chars
    if kind in ("integer", "number"):
        return _worst_number(kind, node)
    if kind in ("boolean", "null"):
        return 5 if kind == "boolean" else 4
    if kind == "array":
        return _worst_array(node, root, refs)
    if kind == "object":
        return _worst_object(node, root, refs)
    return None


def _worst_number(kind: str, node: dict[str, Any]) -> int | None:
    lows = [node.get(k) for k in ("minimum", "exclusiveMinimum") if node.get(k) is not None]
    highs = [node.get(k) for k in ("maximum", "exclusiveMaximum") if node.get(k) is not None]
    if not lows or not highs:
        return None
    digits = max(len(str(int(abs(v)))) for v in (*lows, *highs))
    if kind == "integer":
        return 1 + digits
    step = node.get("multipleOf")
    if step is None:
        return None
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return 1 + digits + (1 + decimals if decimals else 0)


def _worst_array(node: dict[str, Any], root: dict[str, Any], refs: tuple) -> int | None:
    prefix = [_worst(p, root, refs) for p in node.get("prefixItems") or ()]
    items = node.get("items", {})
    count = len(prefix) if items is False else node.get("maxItems")
    if count is None or None in prefix:
        return None
    rest = max(0, count - len(prefix))
    item = _worst(items, root, refs) if rest else 0
    if item is None:
        return None
    return 2 + sum(prefix[:count]) + rest * item + max(0, count - 1)  # type: ignore[arg-type]


def _worst_object(node: dict[str, Any], root: dict[str, Any], refs: tuple) -> int | None:
    total, fields = 2, 0
    for key, sub in (node.get("properties") or {}).items():
        size = _worst(sub, root, refs)
        if size is None:
            return None
        total += _dumped(key) + 1 + size
        fields += 1
    patterns = node.get("patternProperties") or {}
    key_chars = node.get("x-doctune-map-key-chars")
    if patterns:
        # Only maps bounded here have a known key length (a marker set by `_bound_object`).
        if len(patterns) != 1 or key_chars is None or "maxProperties" not in node:
            return None
        size = _worst(next(iter(patterns.values())), root, refs)
        if size is None:
            return None
        entries = node["maxProperties"]
        total += entries * (2 + MAX_BYTES_PER_CHAR * key_chars + 1 + size)
        fields += entries
    elif node.get("additionalProperties", True) is not False:
        return None
    return total + max(0, fields - 1)


def plan(
    schema: dict[str, Any], max_tokens: int, room: int, caps: Caps = DEFAULT_CAPS
) -> tuple[dict[str, Any], int]:
    """The bounded schema to decode against and the token budget that its worst case fits in.

    `room` is what the model's context leaves after the prompt; the budget never exceeds it.
    """
    bounded = bound_schema(schema, caps)
    worst = worst_case_tokens(bounded)
    while worst is not None and worst > room:
        smaller = caps.halved()
        if smaller == caps:
            break  # the schema's own bounds exceed the context; nothing more to give
        caps = smaller
        tighter = bound_schema(schema, caps)
        tighter_worst = worst_case_tokens(tighter)
        if tighter_worst is not None and tighter_worst >= worst:
            break
        bounded, worst = tighter, tighter_worst
    budget = room if worst is None else max(max_tokens, worst)
    return _strip_private(bounded), min(budget, room)


def _strip_private(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_private(v) for k, v in node.items() if not k.startswith("x-doctune")}
    if isinstance(node, list):
        return [_strip_private(v) for v in node]
    return node


class GrammarCache:
    """Compiled matchers per bounded schema; each request decodes with a cheap deep copy."""

    def __init__(self, ll_tokenizer: Any, size: int = 64) -> None:
        self.ll_tokenizer = ll_tokenizer
        self.size = size
        self._templates: OrderedDict[str, Any] = OrderedDict()

    def matcher(self, schema: dict[str, Any]) -> Any:
        """A fresh `LLMatcher` for `schema`; ValueError with llguidance's reason if unsupported."""
        from llguidance import LLMatcher

        key = json.dumps(schema, sort_keys=True)
        template = self._templates.get(key)
        if template is None:
            grammar = LLMatcher.grammar_from_json_schema(schema, defaults=JSON_OPTIONS)
            template = LLMatcher(self.ll_tokenizer, grammar, log_level=0)
            if template.is_error():
                raise ValueError(template.get_error().splitlines()[0][:300])
            self._templates[key] = template
            while len(self._templates) > self.size:
                self._templates.popitem(last=False)
        self._templates.move_to_end(key)
        return template.deep_copy()


def allowed_tokens(matchers: list[Any], vocab_size: int, executor: Any) -> torch.Tensor:
    """A boolean [len(matchers), vocab_size] mask of the tokens each matcher allows next.

    `vocab_size` is the llguidance tokenizer's. The masks are filled in parallel by llguidance's
    executor straight into one int32 buffer (1 bit per token); `llguidance.torch` would do the
    same but imports torch's compiler for its own kernel, a second and a half for nothing here.
    """
    words = (vocab_size + 31) // 32
    buffer = torch.full((len(matchers), words), -1, dtype=torch.int32)
    executor.unsafe_compute_mask_ptr(
        [(m, i) for i, m in enumerate(matchers)], buffer.data_ptr(), words * 4, len(matchers)
    )
    bits = (buffer.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1
    return bits.reshape(len(matchers), -1)[:, :vocab_size].bool()
