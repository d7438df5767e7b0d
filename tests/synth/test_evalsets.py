"""Eval sets: rephrased questions checked to differ, quizzes with recomputed numeric answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctune.evalsets import stage as evalsets
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import (
    Provenance,
    QARecord,
    QuizRecord,
    RejectedRecord,
    RephrasedRecord,
)
from doctune.generation import expected
from doctune.generation.recipes.distillation import plan_counts
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import (
    context,
    make_chunks,
    make_project,
    register_split,
    reply,
    run,
    user_text,
)


def qa(i: int, question: str, split: str) -> QARecord:
    return QARecord(
        id=f"r{i}",
        recipe="pdf_synthetic",
        question=question,
        answer=f"Reference answer {i} about the ibuprofen process.",
        split=split,  # type: ignore[arg-type]
        provenance=Provenance(
            doc_ids=["d"], chunk_ids=[f"c{i}"], sources=["doc.md"], model="openai:old"
        ),
    )


SPLITS = {
    "train": [
        qa(0, "Which catalyst is used in the Friedel-Crafts acylation of isobutylbenzene?", "train")
    ],
    "validation": [
        qa(1, "What base is used in the Darzens reaction of 4-isobutylacetophenone?", "validation")
    ],
    "test": [
        qa(2, "What is the molar ratio of isobutylbenzene to bromine in the bromination?", "test"),
        qa(3, "How is carbon tetrachloride removed after the bromination workup?", "test"),
    ],
}


def rephrasings(body: dict) -> str:
    """Per question: one copy of the original, one near copy, one real rewording."""
    question = user_text(body).split("Original question: ", 1)[1].split("\n", 1)[0]
    return reply(
        {
            "questions": [
                question.upper(),
                question.rstrip("?") + " exactly?",
                "Could you tell me, for this manufacturing process: "
                + " ".join(reversed(question.rstrip("?").split())),
            ]
        }
    )


def test_check_variant() -> None:
    original = "What solvent is used in the preparation of 1-bromo-4-isobutylbenzene?"
    assert (
        evalsets.check_variant(
            "  what SOLVENT is used in the preparation of 1-bromo-4-isobutylbenzene? ",
            original,
            [],
            0.9,
        )[0]
        == "unchanged"
    )
    assert (
        evalsets.check_variant(original.rstrip("?") + " exactly?", original, [], 0.9)[0]
        == "too_similar"
    )
    good = "In the preparation of 1-bromo-4-isobutylbenzene, which solvent is utilised?"
    assert evalsets.check_variant(good, original, [], 0.9) is None
    assert evalsets.check_variant(good, original, [good.lower()], 0.9)[0] == "duplicate_variant"
    assert evalsets.check_variant(good, original, [], 0.5)[0] == "too_similar"


def quiz_draft(question: str, options: list[str], answer: str, numeric: dict | None = None) -> dict:
    return {
        "kind": "numeric" if numeric else "conceptual",
        "question": question,
        "options": dict(zip("ABCD", options, strict=True)),
        "answer": answer,
        "reasoning": "Apply the stated ratio to the given amount.",
        "knowledge": "In the bromination of isobutylbenzene the molar ratio of isobutylbenzene to bromine is 1:1.05.",
        "numeric": numeric,
    }


BROMINE_Q = "Starting from 0.2 mol of isobutylbenzene, how much bromine in moles is required?"
BROMINE_OPTIONS = ["0.100 mol", "0.200 mol", "0.210 mol", "0.105 mol"]
RATIO = {
    "quantity": 0.2,
    "factor": 1.05,
    "operation": "multiply",
    "unit": "mol",
    "factor_text": "The molar ratio of isobutylbenzene to bromine is 1:1.05.",
}

YIELD = {
    "quantity": 2.0,
    "factor": 0.85,
    "operation": "multiply",
    "unit": "mol",
    "factor_text": "obtained in 85 % yield",
}
ECONOMY = {
    "quantity": 100,
    "factor": 0.77,
    "operation": "multiply",
    "unit": "g",
    "factor_text": "an atom economy of about 77 %",
}
YIELD_Q = "Starting from 2.0 mol of isobutylbenzene, how much 4-isobutylacetophenone is obtained?"
ECONOMY_Q = "Of 100 g of reactants in the BHC route, how many grams end up in the product?"

# One quiz per chunk (count = 6); the chunk's section decides which case the teacher writes.
CASES = {
    "Bromination": quiz_draft(BROMINE_Q, BROMINE_OPTIONS, "B", RATIO),  # wrong letter: corrected
    "Workup": quiz_draft(BROMINE_Q, BROMINE_OPTIONS, "C", RATIO),  # the ratio is not in this chunk
    "Boots route > Acylation": quiz_draft(
        YIELD_Q, ["1.7 mol", "1.70 mol", "2 mol", "0.85 mol"], "A", YIELD
    ),
    "Boots route > Darzens reaction": quiz_draft(
        "Which base is used in the Darzens reaction of 4-isobutylacetophenone?",
        ["Sodium ethoxide", "Aluminium chloride", "Iron powder", "Raney nickel"],
        "A",
    ),
    "Boots route > Nitrile": quiz_draft(
        "Which reagent dehydrates the oxime to the nitrile?",
        ["Acetic anhydride", "Water", "acetic  anhydride", "Ethanol"],
        "A",
    ),
    "": quiz_draft(ECONOMY_Q, ["70 g", "75 g", "80 g", "100 g"], "B", ECONOMY),  # no option is 77 g
}


def quizzes(body: dict) -> str:
    text = user_text(body)
    section = next((s for s in CASES if s and f"(section: {s})" in text), "")
    return reply({"quizzes": [CASES[section]]})


def test_evalsets_stage(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responders["Rephrasings"] = rephrasings
    fake_openai.responders["Quizzes"] = quizzes
    chunks = make_chunks()
    cfg = {
        "evalsets": {"rephrase": {"k": 3, "max_similarity": 0.9}, "quiz": {"count": len(chunks)}}
    }
    ctx = context(make_project(tmp_path, cfg), chunks)
    for split, records in SPLITS.items():
        register_split(ctx, "pdf_synthetic", split, records)
    result = run(ctx, "evalsets")

    rephrased = read_jsonl(
        ctx.path(ctx.manifest.one("rephrased", recipe="pdf_synthetic")), RephrasedRecord
    )
    # test and train (the default splits), in that order; validation is left alone
    assert [r.source_id for r in rephrased] == ["r2", "r3", "r0"]
    assert [r.split for r in rephrased] == ["test", "test", "train"]
    by_source = {r.id: r for s in SPLITS.values() for r in s}
    for r in rephrased:
        source = by_source[r.source_id]
        assert r.original_question == source.question and r.answer == source.answer
        assert r.question.startswith("Could you tell me")
        assert r.provenance.chunk_ids == source.provenance.chunk_ids
        assert r.provenance.prompt == "rephrase@1" and r.provenance.model == "openai:fake-teacher"

    quizzes_out = read_jsonl(ctx.path(ctx.manifest.one("quiz", stage="evalsets")), QuizRecord)
    rejected = read_jsonl(ctx.path(ctx.manifest.one("rejected", stage="evalsets")), RejectedRecord)
    reasons = sorted(r.reason for r in rejected)
    assert reasons == sorted(
        ["unchanged"] * 3
        + ["too_similar"] * 3
        + ["factor_not_in_source", "ambiguous_options", "no_matching_option", "duplicate_options"]
    )
    assert {r.record["kind"] for r in rejected} == {"rephrase", "quiz"}
    assert len(quizzes_out) == 2
    numeric = next(q for q in quizzes_out if q.numeric is not None)
    assert numeric.answer == "C"  # computed 0.2 x 1.05 = 0.21, the teacher said B
    assert numeric.numeric.corrected is True
    assert numeric.numeric.result == pytest.approx(0.21)
    assert numeric.provenance.chunk_ids == [chunks[3].id]
    conceptual = next(q for q in quizzes_out if q.numeric is None)
    assert conceptual.answer == "A" and conceptual.options["A"] == "Sodium ethoxide"
    assert conceptual.provenance.chunk_ids == [chunks[1].id]
    by_chunk = {r.record["chunk_id"]: r.reason for r in rejected if r.record["kind"] == "quiz"}
    assert by_chunk == {
        chunks[4].id: "factor_not_in_source",
        chunks[0].id: "ambiguous_options",
        chunks[2].id: "duplicate_options",
        chunks[5].id: "no_matching_option",
    }
    assert result.summary["corrected_letters"] == 1
    assert result.summary["quiz_rejected"] == 4


def test_estimate_is_exact_with_splits_and_zero_when_cached(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.responders["Rephrasings"] = rephrasings
    fake_openai.responders["Quizzes"] = quizzes
    chunks = make_chunks()
    cfg = {"evalsets": {"rephrase": {"k": 3}, "quiz": {"count": 4}}}
    project = make_project(tmp_path, cfg)
    ctx = context(project, chunks)
    planned_rephrase, planned_quiz = evalsets.estimate(ctx)
    assert planned_rephrase.exact is False
    # pdf_synthetic 6 chunks x 3; distillation's target of 300 spread over the topics a first
    # run expects per document x 5 facets, at most 8 a cell; the share curation keeps on a first
    # run (and split, of distillation's), of which 80 % go to train and 10 % to test
    topics = len({c.path for c in chunks}) * expected.FIRST_RUN_TOPICS_PER_DOCUMENT
    planned = sum(map(sum, plan_counts(300, topics, 5, 8)))
    assert planned < 300
    cells = sum(1 for row in plan_counts(300, topics, 5, 8) for n in row if n > 0)
    rate = expected.first_run_keep_rate
    kept = [
        round(18 * rate("pdf_synthetic", 18)),
        round(planned * rate("knowledge_distillation", planned, cells)),  # split keeps them all
    ]
    assert planned_rephrase.calls == sum(round(k * 0.8) + round(k * 0.1) for k in kept)

    for split, records in SPLITS.items():
        register_split(ctx, "pdf_synthetic", split, records)
    rephrase, quizzes_row = evalsets.estimate(context(project))
    assert (rephrase.calls, rephrase.exact) == (3, True)
    assert (quizzes_row.calls, quizzes_row.exact) == (4, True)
    assert planned_quiz == quizzes_row
    assert fake_openai.completions == 0

    run(context(project), "evalsets")
    rephrase, quizzes_row = evalsets.estimate(context(project))
    assert (rephrase.calls, quizzes_row.calls) == (0, 0)
