"""A project whose evaluate stage looks done: a base model and a model fine-tuned from it, each
answering the same test QA items (plain and +RAG for the base) and a quiz, with judge verdicts,
one excluded answer and a script tag in a model's answer."""

from __future__ import annotations

from pathlib import Path

import yaml

from doctune.foundation.evalrecords import ItemResult, JudgeVerdict, SuiteScore
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.manifest import Manifest

BASE = "openai:base-model (base)"
TUNED = "exp1 (pdf_synthetic)"
HOSTILE = "<script>alert('compare')</script>"
# Judge scores of the test QA items: base, fine-tuned. q2: fine-tuning hurt most; q3 excluded.
QA_SCORES = {
    "q0": (5.0, 8.0),
    "q1": (6.0, 6.0),
    "q2": (9.0, 2.0),
    "q3": (4.0, None),
    "q4": (7.0, 6.0),
}


def _qa(
    item: str, model: str, spec: str, score: float | None, variant: str = "plain"
) -> ItemResult:
    verdict = JudgeVerdict(
        judge="openai:judge", prompt_hash="h", accuracy=score, completeness=score,
        clarity=score, rationale=f"{model} on {item}: rated {score}.",
    ) if score is not None else JudgeVerdict(judge="openai:judge", prompt_hash="h", error="invalid JSON")  # fmt: skip
    answer = HOSTILE if (item, model) == ("q2", TUNED) else f"{model} answers {item}."
    return ItemResult(
        item_id=item, suite="test_qa", dataset="pdf_synthetic", variant=variant, model=model,
        spec=spec, question=f"What about {item}?", reference=f"The reference of {item}.",
        answer=answer, scores={"judge": score}, judges=[verdict],
        excluded=None if score is not None else "judge failed: invalid JSON",
        exclusion=None if score is not None else "judge_failed",
    )  # fmt: skip


def _quiz(model: str, spec: str, letter: str | None) -> ItemResult:
    return ItemResult(
        item_id="z0", suite="task", model=model, spec=spec, question="Which reagent? A) x B) y",
        reference="B. y", answer=f"I pick {letter}.", scores={"correct": float(letter == "B")},
        extracted=letter, extraction="rules",
    )  # fmt: skip


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "doctune.yaml").write_text(yaml.safe_dump({"name": "compare-test"}))
    write_answers(Manifest(project / "out"))
    return project


def write_answers(manifest: Manifest) -> None:
    """The evaluate stage's answers and scores, into `manifest`'s output folder."""
    folder = manifest.out_dir / "evaluate" / "answers"
    files = {
        (BASE, "test_qa.pdf_synthetic"): [_qa(i, BASE, "openai:base-model", s[0]) for i, s in QA_SCORES.items()],
        (BASE, "test_qa.pdf_synthetic.rag"): [_qa(i, BASE, "openai:base-model", 8.5, "rag") for i in QA_SCORES],
        (TUNED, "test_qa.pdf_synthetic"): [_qa(i, TUNED, "hf:tuned", s[1]) for i, s in QA_SCORES.items()],
        (BASE, "task"): [_quiz(BASE, "openai:base-model", "A")],
        (TUNED, "task"): [_quiz(TUNED, "hf:tuned", "B")],
    }  # fmt: skip
    artifacts = []
    for (model, name), results in files.items():
        path = folder / model.split()[0].replace(":", "_") / f"{name}.jsonl"
        write_jsonl(path, results)
        artifacts.append(manifest.artifact("evaluate", "answers", path, name=model))
    scores = [
        SuiteScore(model=BASE, spec="openai:base-model", kind="base", suite="test_qa", metric="judge", n=4),
        SuiteScore(model=TUNED, spec="hf:tuned", kind="finetuned", base=BASE, suite="test_qa", metric="judge", n=4),
    ]  # fmt: skip
    scores_path = manifest.out_dir / "evaluate" / "scores.jsonl"
    write_jsonl(scores_path, scores)
    artifacts.append(manifest.artifact("evaluate", "scores", scores_path))
    manifest.replace_stage("evaluate", artifacts, "fp")
