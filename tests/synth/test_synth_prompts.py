"""Prompt templates and teacher output models: they decide data quality, so they are tested."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from doctune.evalsets import quiz
from doctune.evalsets import stage as evalsets
from doctune.generation.recipes import distillation, pdf_synthetic
from doctune.generation.schemas import SELF_REFERENCES, QAPair, QuizDraft, qa_pairs_model
from doctune.prompts import load_prompt

from .helpers import make_chunks

PROMPTS = ["pdf_synthetic", "kd_topics", "kd_questions", "kd_answer", "rephrase", "quiz"]


@pytest.mark.parametrize("name", PROMPTS)
def test_templates_are_versioned_and_never_model_self_references(name: str) -> None:
    prompt = load_prompt(name)
    assert prompt.name == name and prompt.version and len(prompt.hash) == 16
    text = (prompt.system + prompt.user).lower()
    assert not [p for p in SELF_REFERENCES if p in text]


def test_templates_render_with_what_the_code_passes() -> None:
    chunks = make_chunks()
    cell = distillation.Cell(
        distillation.MergedTopic("bromination", "Bromination", "reaction", "Adds bromine."),
        "conditions of reaction",
        3,
    )
    rendered = [
        pdf_synthetic.messages_for(chunks[3], 4),
        distillation.topics_messages(chunks[:3], 12),
        distillation.questions_messages(cell, chunks[3:5]),
        distillation.answer_messages(cell, "At which temperature is bromine added?", chunks[3:5]),
        evalsets.rephrase_messages("What catalyst is used?", 2),
        quiz.messages_for(quiz.assign(chunks, 1)[0]),
    ]
    for messages in rendered:
        assert [m.role for m in messages] == ["system", "user"]
        assert all(m.content.strip() for m in messages)
    assert "exactly 4 question-and-answer pairs" in rendered[0][1].content
    assert (
        chunks[4].text in rendered[2][1].content and "exactly 3 questions" in rendered[2][1].content
    )
    assert "(section: Bromination)" in rendered[0][1].content


def test_qa_pairs_count_is_exact() -> None:
    pair = {"question": "What catalyst is used?", "answer": "Aluminium chloride is the catalyst."}
    model = qa_pairs_model(3)
    assert model is qa_pairs_model(3)  # one schema per count, so one cache key
    model.model_validate({"pairs": [pair] * 3})
    for n in (2, 4):
        with pytest.raises(ValidationError):
            model.model_validate({"pairs": [pair] * n})


@pytest.mark.parametrize(
    "answer",
    ["According to the text, the catalyst is AlCl3.", "The passage names aluminium chloride."],
)
def test_answers_may_not_cite_their_source(answer: str) -> None:
    with pytest.raises(ValidationError, match="refers to its source"):
        QAPair(question="Which catalyst is used?", answer=answer)


def test_quiz_draft_rules() -> None:
    base = {
        "kind": "conceptual",
        "question": "Which catalyst is used in the acylation?",
        "options": {"A": "AlCl3", "B": "FeBr3", "C": "Pd", "D": "Ni"},
        "answer": "A",
        "reasoning": "Friedel-Crafts acylation needs a Lewis acid.",
        "knowledge": "Aluminium chloride catalyses the Friedel-Crafts acylation.",
        "numeric": None,
    }
    QuizDraft.model_validate(base)
    with pytest.raises(ValidationError, match="numeric"):
        QuizDraft.model_validate({**base, "kind": "numeric"})
    with pytest.raises(ValidationError):
        QuizDraft.model_validate({**base, "knowledge": "First line.\nSecond line here."})
    with pytest.raises(ValidationError):
        QuizDraft.model_validate({**base, "answer": "E"})
