"""Quiz checks in isolation: spreading over chunks, number reading, recomputation."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctune.evalsets import quiz
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import QuizRecord, RejectedRecord
from doctune.generation.common import Teacher
from doctune.generation.schemas import QuizDraft
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import context, make_chunks, make_project, run, user_text

TEACHER = Teacher(spec="openai:t", temperature=0.7, seed=0, max_new_tokens=512, config_hash="h")
BROMINATION = make_chunks()[3]


def draft(question: str, options: list[str], answer: str, **numeric: object) -> QuizDraft:
    return QuizDraft.model_validate(
        {
            "kind": "numeric" if numeric else "conceptual",
            "question": question,
            "options": dict(zip("ABCD", options, strict=True)),
            "answer": answer,
            "reasoning": "Multiply the amount by the stated ratio.",
            "knowledge": "The molar ratio of isobutylbenzene to bromine is 1:1.05.",
            "numeric": numeric or None,
        }
    )


def test_assign_spreads_quizzes_over_chunks() -> None:
    chunks = make_chunks()
    few = quiz.assign(chunks, 3)  # distinct chunks, in chunk order
    assert len({a.chunk.id for a in few}) == 3 and all(a.n == 1 for a in few)
    order = [c.id for c in chunks]
    assert [order.index(a.chunk.id) for a in few] == sorted(order.index(a.chunk.id) for a in few)
    many = quiz.assign(chunks, 14)  # 14 = 6 x 2 + 2: two chunks get a third
    assert sorted(a.n for a in many) == [2, 2, 2, 2, 3, 3] and len(many) == 6
    assert all(0 <= a.first < 4 for a in many)
    assert quiz.assign([], 5) == [] and quiz.assign(chunks, 0) == []
    # (stability under edits and added chunks: tests/evalsets/test_quiz_assign.py)


def test_prompt_rotates_the_requested_letters() -> None:
    a = quiz.assign(make_chunks(), 14)[1]
    assert (a.n, a.first) == (2, 3)  # two quizzes, the rotation starting at D
    text = "\n".join(m.content for m in quiz.messages_for(a))
    assert "Place the correct options\nat D, A respectively." in text
    one = quiz.assign(make_chunks(), 3)[2]
    assert (one.n, one.first) == (1, 2)
    single = "\n".join(m.content for m in quiz.messages_for(one))
    assert "Place the correct option at C." in single
    assert a.chunk.text in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ratio 1:1.05", [1.0, 1.05]),
        ("0.210 mol Br2 in CCl4", [0.21]),
        ("85 % yield", [85.0, 0.85]),
        ("1,000 kg at 30-40 °C", [1000.0, 30.0, 40.0]),
        ("no numbers", []),
    ],
)
def test_numbers(text: str, expected: list[float]) -> None:
    assert quiz.numbers(text) == pytest.approx(expected)


def test_numeric_answer_is_recomputed_and_letter_corrected() -> None:
    d = draft(
        "From 0.2 mol isobutylbenzene, how much bromine is needed?",
        ["0.100 mol", "0.200 mol", "0.210 mol", "0.105 mol"],
        "B",
        quantity=0.2,
        factor=1.05,
        operation="multiply",
        unit="mol",
        factor_text="molar ratio of isobutylbenzene to   bromine is 1:1.05",
    )
    record = quiz.to_record(d, BROMINATION, 0, 0.01, TEACHER)
    assert record.answer == "C"
    assert record.numeric is not None and record.numeric.corrected
    assert record.numeric.result == pytest.approx(0.21)
    same = quiz.to_record(d.model_copy(update={"answer": "C"}), BROMINATION, 0, 0.01, TEACHER)
    assert same.numeric is not None and not same.numeric.corrected
    assert same.id == record.id  # content-derived: chunk, position, prompt, teacher


def test_division_and_tolerance() -> None:
    d = draft(
        "How many mol of isobutylbenzene react with 0.42 mol of bromine?",
        ["0.40 mol", "0.44 mol", "0.36 mol", "0.50 mol"],
        "A",
        quantity=0.42,
        factor=1.05,
        operation="divide",
        unit="mol",
        factor_text="isobutylbenzene to bromine is 1:1.05",
    )
    assert quiz.to_record(d, BROMINATION, 0, 0.01, TEACHER).answer == "A"
    near = d.model_copy(update={"options": d.options.model_copy(update={"A": "0.41 mol"})})
    with pytest.raises(quiz.QuizRejected) as exc:
        quiz.to_record(near, BROMINATION, 0, 0.01, TEACHER)
    assert exc.value.reason == "no_matching_option"
    assert quiz.to_record(near, BROMINATION, 0, 0.03, TEACHER).answer == "A"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"factor": 1.5}, "factor_not_in_source"),  # the quote does not state 1.5
        ({"factor_text": "ratio of bromine to isobutylbenzene is 1:1.05"}, "factor_not_in_source"),
        ({"quantity": 0.3}, "quantity_not_in_question"),
    ],
)
def test_numeric_checks_reject(change: dict, reason: str) -> None:
    numeric = {
        "quantity": 0.2,
        "factor": 1.05,
        "operation": "multiply",
        "unit": "mol",
        "factor_text": "isobutylbenzene to bromine is 1:1.05",
    }
    d = draft(
        "From 0.2 mol isobutylbenzene, how much bromine?",
        ["0.1 mol", "0.2 mol", "0.21 mol", "0.3 mol"],
        "C",
        **{**numeric, **change},
    )
    with pytest.raises(quiz.QuizRejected) as exc:
        quiz.to_record(d, BROMINATION, 0, 0.01, TEACHER)
    assert exc.value.reason == reason


def test_default_replies_make_quizzes_or_reasons(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    """With the fake's generic replies nothing crashes: every quiz is kept or has a reason, and a
    reply that never validates is rejected as invalid_output."""

    def quizzes(body: dict) -> str:
        if "Raney nickel" in user_text(body):
            return '{"quizzes": ['
        from doctune.testing.fake_replies import default_responder

        return default_responder(body)

    fake_openai.responders["Quizzes"] = quizzes
    chunks = make_chunks()
    ctx = context(make_project(tmp_path, {"evalsets": {"quiz": {"count": 12}}}), chunks)
    result = run(ctx, "evalsets")
    kept = read_jsonl(ctx.path(ctx.manifest.one("quiz")), QuizRecord)
    rejected = read_jsonl(ctx.path(ctx.manifest.one("rejected", stage="evalsets")), RejectedRecord)
    invalid = [r for r in rejected if r.reason == "invalid_output"]
    assert [r.record["chunk_id"] for r in invalid] == [chunks[5].id]
    assert len(kept) + len(rejected) - len(invalid) == 12 - 2  # the BHC chunk's two quizzes
    assert result.summary["quizzes"] == len(kept)
    assert ctx.manifest.find("rephrased") == []  # no split datasets: nothing to rephrase
