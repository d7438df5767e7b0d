"""The cookbook checks of an OpenAI chat fine-tuning file: each error type is caught, counted and
located by line; a valid file passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doctune.foundation.errors import InputError
from doctune.foundation.openai_checks import Report, validate_openai_jsonl
from doctune.models.tokens import estimate_tokens


def words(text: str) -> int:
    """A counter that is easy to reason about in tests: one token per word."""
    return len(text.split())


def good(question: str = "What catalyst is used?", answer: str = "Palladium.") -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are an expert."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def write(tmp_path: Path, rows: list[object | str]) -> Path:
    """Rows are dumped as JSON; a str is written as the raw line."""
    path = tmp_path / "train.jsonl"
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def check(tmp_path: Path, rows: list[object | str], max_tokens: int | None = 1000) -> Report:
    return validate_openai_jsonl(write(tmp_path, rows), max_tokens, words)


def test_a_valid_file_passes(tmp_path: Path) -> None:
    report = check(tmp_path, [good() for _ in range(12)])
    assert report.ok and report.examples == 12
    assert report.errors == {} and report.problems == [] and report.warnings == {}
    assert report.first_error() is None
    report.raise_for_errors()  # does not raise


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        ({"messages": [{"role": "user", "content": "Hi?"}]}, "example_missing_assistant_message"),
        (
            {
                "messages": [
                    {"role": "human", "content": "Hi?"},
                    {"role": "assistant", "content": "Yes."},
                ]
            },
            "unrecognized_role",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": ""},
                    {"role": "assistant", "content": "Yes."},
                ]
            },
            "missing_content",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "  \n"},
                    {"role": "assistant", "content": "Y"},
                ]
            },
            "missing_content",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": 42},
                    {"role": "assistant", "content": "Yes."},
                ]
            },
            "missing_content",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi?", "source": "chunk-1"},
                    {"role": "assistant", "content": "Yes."},
                ]
            },
            "message_unrecognized_key",
        ),
        (
            {"messages": [{"content": "Hi?"}, {"role": "assistant", "content": "Yes."}]},
            "message_missing_key",
        ),
        ({"messages": ["Hi?", {"role": "assistant", "content": "Yes."}]}, "message_data_type"),
        (["not", "an", "object"], "data_type"),
        ('"just a string"', "data_type"),
        ({"conversations": []}, "missing_messages_list"),
        ({"messages": []}, "missing_messages_list"),
        ({"messages": "Hi?"}, "missing_messages_list"),
        ('{"messages": [', "invalid_json"),
        ("", "invalid_json"),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi?"},
                    {"role": "assistant", "content": "Y", "weight": 2},
                ]
            },
            "invalid_weight",
        ),
        (good(answer=" ".join(["word"] * 200)), "too_many_tokens"),
    ],
)
def test_each_error_type_is_caught_on_its_line(tmp_path: Path, bad: object, kind: str) -> None:
    report = check(tmp_path, [good(), good(), bad, good()], max_tokens=100)
    assert not report.ok
    assert report.errors[kind] >= 1
    assert report.problems[0].line == 3 and report.problems[0].kind == kind
    assert {p.line for p in report.problems} == {3}  # the good lines around it are clean
    message = report.first_error()
    assert message is not None and message.startswith(f"{report.path}:3: {kind}: ")
    with pytest.raises(InputError, match=f":3: {kind}"):
        report.raise_for_errors()


def test_errors_are_counted_by_type(tmp_path: Path) -> None:
    no_assistant = {"messages": [{"role": "user", "content": "Hi?"}]}
    bad_role = {
        "messages": [{"role": "robot", "content": "Hi"}, {"role": "assistant", "content": "Y"}]
    }
    report = check(tmp_path, [no_assistant, good(), no_assistant, bad_role, "{"])
    assert dict(report.errors) == {
        "example_missing_assistant_message": 2,
        "unrecognized_role": 1,
        "invalid_json": 1,
    }
    assert [(p.line, p.kind) for p in report.problems] == [
        (1, "example_missing_assistant_message"),
        (3, "example_missing_assistant_message"),
        (4, "unrecognized_role"),
        (5, "invalid_json"),
    ]
    assert report.first_error().endswith("(and 3 more problems)")  # type: ignore[union-attr]
    assert report.summary()["errors"] == dict(report.errors)


def test_tokens_are_counted_the_cookbook_way(tmp_path: Path) -> None:
    # 3 + per message (3 + content tokens) [+ name tokens + 1]: system 4 words, user 4, assistant 1.
    row = good()
    row["messages"][1]["name"] = "operator"
    report = check(tmp_path, [row], max_tokens=None)
    assert report.example_tokens == [3 + (3 + 4) + (3 + 4 + 1 + 1) + (3 + 1)]
    limit = report.example_tokens[0]
    assert check(tmp_path, [row], max_tokens=limit).ok
    over = check(tmp_path, [row], max_tokens=limit - 1)
    assert dict(over.errors) == {"too_many_tokens": 1}
    assert over.total_tokens == limit - 1  # training sees at most the limit


def test_tool_calls_and_allowed_optional_keys(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "Look up the melting point."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
                "weight": 0,
            },
            {"role": "tool", "content": "75-78 °C", "tool_call_id": "c1"},
            {
                "role": "assistant",
                "content": "It melts at 75-78 °C.",
                "weight": 1,
                "name": "expert",
            },
        ]
    }
    report = check(tmp_path, [row])
    assert report.ok, report.problems


def test_warnings_do_not_invalidate(tmp_path: Path) -> None:
    no_system = {
        "messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Y"}]
    }
    report = check(tmp_path, [no_system])
    assert report.ok
    assert dict(report.warnings) == {"missing_system": 1, "few_examples": 1}


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        validate_openai_jsonl(tmp_path / "nope.jsonl", 100, estimate_tokens)
