"""The format checks of OpenAI's cookbook "Data preparation and analysis for chat model
fine-tuning", run on a chat fine-tuning JSONL file before it is used or uploaded.

Error types keep the cookbook's names (data_type, missing_messages_list, message_missing_key,
message_unrecognized_key, unrecognized_role, missing_content, example_missing_assistant_message)
and add what the cookbook's loop would crash on or only warn about: invalid_json (a line that is
not JSON), message_data_type (a message that is not an object), invalid_weight (a `weight` other
than 0 or 1) and too_many_tokens (an example over the per-example limit, which the API truncates
or refuses). Warnings (missing_system, missing_user, few_examples) do not make a file invalid.

A library function with no side effects: the export stage and the hosted fine-tuning route (which
uploads only a file that passed) both call `validate_openai_jsonl`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctune.foundation.errors import InputError

# OpenAI cookbook convention (num_tokens_from_messages): each message costs its content plus 3
# tokens of framing, and every example 3 more for the assistant reply's priming. Export's
# statistics count the same way, so the sizes it reports and the limit checked here agree.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_EXAMPLE = 3
# A token counter (text -> tokens), as `doctune.models.tokens` builds one.
TokenCounter = Callable[[str], int]

ALLOWED_ROLES = frozenset({"system", "user", "assistant", "function", "tool"})
ALLOWED_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"}
)
# The fine-tuning API refuses a training file with fewer examples than this.
MIN_EXAMPLES = 10
TOKENS_PER_NAME = 1


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line number in the file
    kind: str
    detail: str


@dataclass
class Report:
    """What `validate_openai_jsonl` found in one file."""

    path: Path
    examples: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    example_tokens: list[int] = field(default_factory=list)
    max_tokens: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total_tokens(self) -> int:
        """Tokens the examples hold, each capped at the limit (what training would see)."""
        cap = self.max_tokens
        return sum(min(n, cap) if cap else n for n in self.example_tokens)

    def first_error(self) -> str | None:
        """One line naming the file, line and problem; None for a valid file."""
        if not self.problems:
            return None
        p = self.problems[0]
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
        return f"{self.path}:{p.line}: {p.kind}: {p.detail}{tail}"

    def raise_for_errors(self) -> None:
        """Raise InputError with `first_error()` when the file is not valid."""
        line = self.first_error()
        if line is not None:
            raise InputError(line)

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "examples": self.examples,
            "ok": self.ok,
            "errors": dict(self.errors),
            "warnings": dict(self.warnings),
            "max_example_tokens": max(self.example_tokens, default=0),
            "total_tokens": self.total_tokens,
        }


def validate_openai_jsonl(
    path: str | Path, max_tokens: int | None, count_tokens: TokenCounter
) -> Report:
    """Check every line of a chat fine-tuning JSONL file; every problem is listed with its line.

    `count_tokens` counts the tokens of one string; a whole example is counted as the cookbook
    does (content + 3 per message, +1 for a name, + 3 per example). `max_tokens=None` skips the
    length check.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    report = Report(path=path, max_tokens=max_tokens)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            report.examples += 1
            for kind, detail in _check_line(line, lineno, max_tokens, count_tokens, report):
                report.errors[kind] += 1
                report.problems.append(Problem(lineno, kind, detail))
    if report.examples < MIN_EXAMPLES:
        report.warnings["few_examples"] += 1
    return report


def _check_line(
    line: str, lineno: int, max_tokens: int | None, count_tokens: TokenCounter, report: Report
) -> list[tuple[str, str]]:
    """The errors of one line (kind, detail); records its token count and warnings in `report`."""
    if not line.strip():
        return [("invalid_json", "empty line")]
    try:
        example = json.loads(line)
    except json.JSONDecodeError as exc:
        return [("invalid_json", f"{exc.msg} at column {exc.colno}")]
    if not isinstance(example, dict):
        return [("data_type", f"the line is a JSON {type(example).__name__}, not an object")]
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return [("missing_messages_list", "no non-empty 'messages' list")]

    found: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        found.extend(_check_message(message, index))
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if "assistant" not in roles:
        found.append(("example_missing_assistant_message", "no message with role 'assistant'"))
    if "system" not in roles:
        report.warnings["missing_system"] += 1
    if "user" not in roles:
        report.warnings["missing_user"] += 1

    n_tokens = _example_tokens(messages, count_tokens)
    report.example_tokens.append(n_tokens)
    if max_tokens is not None and n_tokens > max_tokens:
        found.append(("too_many_tokens", f"{n_tokens} tokens, over the limit of {max_tokens}"))
    return found


def _check_message(message: Any, index: int) -> list[tuple[str, str]]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return [("message_data_type", f"{where} is a JSON {type(message).__name__}, not an object")]
    found: list[tuple[str, str]] = []
    # An assistant message that calls a tool or function may carry no content.
    calls = bool(message.get("function_call") or message.get("tool_calls"))
    missing = [
        k for k in ("role", "content") if k not in message and not (k == "content" and calls)
    ]
    if missing:
        found.append(("message_missing_key", f"{where} has no {' or '.join(map(repr, missing))}"))
    extra = sorted(set(message) - ALLOWED_MESSAGE_KEYS)
    if extra:
        found.append(("message_unrecognized_key", f"{where} has unrecognized key(s) {extra}"))
    role = message.get("role")
    if not isinstance(role, str) or role not in ALLOWED_ROLES:
        found.append(("unrecognized_role", f"{where} has role {role!r}"))
    content = message.get("content")
    if not calls and not (isinstance(content, str) and content.strip()):
        shown = "empty" if isinstance(content, str) else f"a {type(content).__name__}"
        found.append(("missing_content", f"{where} content is {shown}, not a non-empty string"))
    if "weight" in message and message["weight"] not in (0, 1):
        found.append(("invalid_weight", f"{where} weight is {message['weight']!r}, not 0 or 1"))
    return found


def _example_tokens(messages: list[Any], count_tokens: TokenCounter) -> int:
    total = TOKENS_PER_EXAMPLE
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE
        if isinstance(message.get("content"), str):
            total += count_tokens(message["content"])
        if isinstance(message.get("name"), str):
            total += count_tokens(message["name"]) + TOKENS_PER_NAME
    return total
