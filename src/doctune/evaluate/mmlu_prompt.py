"""MMLU's prompts, lm-evaluation-harness's default character for character, and how a prompt too
long for a model shrinks (few-shot examples from the last, then the start cut, the question kept).
"""

from __future__ import annotations

from dataclasses import dataclass

from doctune.foundation.evalrecords import EvalItem
from doctune.models.base import Message
from doctune.models.fitting import Layout, left_cut

LETTERS = "ABCD"


@dataclass(frozen=True)
class MMLUQuestion:
    """One row of an MMLU CSV; `line` is where the row starts in its file (for errors)."""

    question: str
    choices: tuple[str, str, str, str]
    answer: str
    source: str
    line: int


def description(subject: str) -> str:
    """The harness's per-subject header (its _generate_configs.py: underscores become spaces)."""
    return (
        "The following are multiple choice questions (with answers) about "
        f"{' '.join(subject.split('_'))}.\n\n"
    )


def format_question(question: MMLUQuestion) -> str:
    """The harness's doc_to_text: the question stripped, the choices as they are."""
    lines = [question.question.strip()]
    lines += [
        f"{letter}. {choice}" for letter, choice in zip(LETTERS, question.choices, strict=True)
    ]
    return "\n".join(lines) + "\nAnswer:"


def format_shot(shot: MMLUQuestion) -> str:
    """One example with its answer after a space and a blank line (the harness's target and
    few-shot delimiters)."""
    return f"{format_question(shot)} {shot.answer}\n\n"


def build_prompt(subject: str, question: MMLUQuestion, shots: list[MMLUQuestion]) -> str:
    """Description, then each example, then the question ending in "Answer:"."""
    return description(subject) + "".join(map(format_shot, shots)) + format_question(question)


def item_parts(item: EvalItem) -> tuple[str, list[str], str]:
    """(description, formatted examples, the question ending in "Answer:") of an item; an item
    built elsewhere is zero-shot from its fields, or its prompt as one unshrinkable part."""
    meta = item.meta
    if isinstance(meta.get("question_text"), str):
        return str(meta.get("description", "")), list(meta.get("shots", [])), meta["question_text"]
    if isinstance(meta.get("prompt"), str):
        return "", [], meta["prompt"]
    options = item.options or {}
    question = MMLUQuestion(
        question=item.question,
        choices=tuple(options.get(letter, "") for letter in LETTERS),  # type: ignore[arg-type]
        answer=item.answer or "A",
        source="",
        line=0,
    )
    return description(str(meta.get("subject", ""))), [], format_question(question)


def item_prompt(item: EvalItem) -> str:
    """The prompt of an item, all its examples included."""
    prompt = item.meta.get("prompt")
    if isinstance(prompt, str):
        return prompt
    head, shots, question = item_parts(item)
    return head + "".join(shots) + question


def prompt_layout(item: EvalItem) -> Layout:
    """How a generate-mode prompt may shrink: examples from the last, then the description and
    examples left from their start (as the harness cuts a context); the question stays."""
    head, shots, question = item_parts(item)

    def build(keep: tuple[int, ...], cut: int) -> list[Message]:
        context = left_cut(head + "".join(shots[: keep[0]]), cut)
        return [Message(role="user", content=context + question)]

    return Layout(
        build=build,
        groups=(("few-shot examples", len(shots)),),
        cuttable=lambda keep: len(head + "".join(shots[: keep[0]])),
    )
