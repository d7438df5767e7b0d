"""A small evaluation project (chunks, split datasets, rephrased questions, quizzes registered in
the manifest) and a loopback server that plays three answering models and two judges.

The fake models answer by rule, so every score the tests expect follows from the rules:
- `base` answers every question "I do not know.", every quiz "Option B (0.200 mol) is
  correct." and every MMLU question "The answer is A.";
- `tuned` (a fine-tuned run in the experiments table) gives the reference answer to training
  questions and "I do not know." otherwise, "the correct choice is C" on quizzes and "B" on
  MMLU;
- `baseline` answers vaguely and never commits to one letter ("A or B").
The judge reads the prompt it is sent: an answer equal to the reference scores 9 (9, 8, 10),
anything else 4 (2, 3, 7); a question containing GARBAGE gets a reply that is not JSON.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from doctune.context import RunContext
from doctune.evaluate.extraction import read_choice
from doctune.foundation.config.options import EvaluateOptions
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.records import (
    Chunk,
    Provenance,
    QARecord,
    QuizRecord,
    RephrasedRecord,
    text_sha256,
)
from doctune.models.experiments import ExperimentRow, ExperimentTable
from doctune.pipeline import StageResult, get_stage, run_stage
from doctune.testing.fake_replies import prompt_text

SYSTEM = "You are an expert assistant for ibuprofen manufacturing."
JUDGE = "openai:judge"
CHUNK_TEXTS = [
    (
        "bromination.pdf",
        "Bromination",
        "1-Bromo-4-isobutylbenzene is prepared by bromination "
        "of isobutylbenzene in carbon tetrachloride. The molar ratio of isobutylbenzene to bromine "
        "is 1:1.05.",
    ),
    (
        "boots.md",
        "Acylation",
        "Isobutylbenzene is acylated with acetic anhydride; aluminium "
        "chloride is the Lewis acid catalyst at 0 to 5 degrees.",
    ),
    (
        "bhc.txt",
        None,
        "The BHC route hydrogenates 4-isobutylacetophenone over Raney nickel and "
        "carbonylates the alcohol with a palladium catalyst.",
    ),
]
TRAIN = [
    ("What solvent is used to brominate isobutylbenzene?", "Carbon tetrachloride is used."),
    ("What is the molar ratio of isobutylbenzene to bromine?", "The ratio is 1:1.05."),
    ("Which catalyst is used in the acylation?", "Aluminium chloride is the catalyst."),
    ("GARBAGE: which reagent acylates isobutylbenzene?", "Acetic anhydride acylates it."),
]
TEST = [
    ("Over which catalyst is 4-isobutylacetophenone hydrogenated?", "Over Raney nickel."),
    ("What does the BHC route carbonylate?", "It carbonylates the alcohol."),
]
QUIZZES = [
    ("How much bromine for 0.2 mol isobutylbenzene?", "C", "The molar ratio is 1:1.05."),
    ("Which catalyst does the acylation use?", "B", "Aluminium chloride catalyses it."),
    ("Which metal hydrogenates the ketone?", "C", "Raney nickel hydrogenates it."),
    ("What is the acylating agent?", "D", "Acetic anhydride acylates."),
]
NO_ANSWER = "I do not know."


def chunks() -> list[Chunk]:
    out = []
    for index, (path, section, text) in enumerate(CHUNK_TEXTS):
        out.append(
            Chunk(
                id=f"c{index}",
                doc_id=text_sha256(path)[:12],
                path=path,
                index=0,
                text=text,
                section=section,
                start=0,
                end=len(text),
                n_tokens=len(text) // 4,
                sha256=text_sha256(text),
            )
        )
    return out


def qa(prefix: str, split: str, pairs: list[tuple[str, str]]) -> list[QARecord]:
    return [
        QARecord(
            id=f"{prefix}{i}",
            recipe="pdf_synthetic",
            question=q,
            answer=a,
            split=split,  # type: ignore[arg-type]
            provenance=Provenance(chunk_ids=["c0"]),
        )
        for i, (q, a) in enumerate(pairs)
    ]


def rephrased() -> list[RephrasedRecord]:
    out = []
    for record in [*qa("tr", "train", TRAIN), *qa("te", "test", TEST)]:
        out.append(
            RephrasedRecord(
                id=f"re-{record.id}",
                source_id=record.id,
                recipe="pdf_synthetic",
                split=record.split,  # type: ignore[arg-type]
                question=f"Put differently: {record.question}",
                original_question=record.question,
                answer=record.answer,
                provenance=record.provenance,
            )
        )
    return out


def quizzes() -> list[QuizRecord]:
    return [
        QuizRecord(
            id=f"quiz{i}",
            question=q,
            options={"A": "0.100 mol", "B": "0.200 mol", "C": "0.210 mol", "D": "0.105 mol"},
            answer=answer,  # type: ignore[arg-type]
            reasoning="Multiply by the ratio.",
            knowledge=knowledge,
            provenance=Provenance(chunk_ids=["c0"]),
        )
        for i, (q, answer, knowledge) in enumerate(QUIZZES)
    ]


def base_config(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "eval-test",
        "models": {"student": "openai:base", "judge": JUDGE, "teacher": "openai:teacher"},
        "client": {"concurrency": 4, "max_retries": 0, "timeout_s": 20, "structured_retries": 1},
        "export": {"system_prompt": SYSTEM},
        "evaluate": {
            "models": ["base", "exp1"],
            "baselines": ["openai:baseline"],
            "suites": ["train_qa", "test_qa", "rephrased_qa", "task", "task_prompted", "mmlu"],
            "bootstrap_samples": 200,
        },
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def make_project(root: Path, extra: dict[str, Any] | None = None, *, tuned: bool = True) -> Path:
    """A project whose out/ holds every input of the evaluate stage (and exp1, when tuned)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "doctune.yaml").write_text(yaml.safe_dump(base_config(extra)), encoding="utf-8")
    ctx = RunContext(root, show_progress=False)
    out = ctx.out_dir
    m = ctx.manifest
    write_jsonl(out / "ingest" / "chunks.jsonl", chunks())
    m.replace_stage("ingest", [m.artifact("ingest", "chunks", "ingest/chunks.jsonl")], "t")
    split = []
    for name, records in (("train", qa("tr", "train", TRAIN)), ("test", qa("te", "test", TEST))):
        path = out / "split" / f"pdf_synthetic.{name}.jsonl"
        write_jsonl(path, records)
        split.append(m.artifact("split", "dataset", path, recipe="pdf_synthetic", split=name))
    m.replace_stage("split", split, "t")
    write_jsonl(out / "evalsets" / "pdf_synthetic.rephrased.jsonl", rephrased())
    write_jsonl(out / "evalsets" / "quiz.jsonl", quizzes())
    evalsets = [
        m.artifact(
            "evalsets",
            "rephrased",
            "evalsets/pdf_synthetic.rephrased.jsonl",
            recipe="pdf_synthetic",
        ),
        m.artifact("evalsets", "quiz", "evalsets/quiz.jsonl"),
    ]
    m.replace_stage("evalsets", evalsets, "t")
    if tuned:
        ExperimentTable(out).upsert(
            ExperimentRow(
                id="exp1",
                name="exp1",
                student="openai:base",
                dataset="pdf_synthetic",
                route="hosted",
                method="hosted",
                epochs=3,
                batch_size=1,
                learning_rate=1e-5,
                status="succeeded",
                output="tuned",
            )
        )
        table = m.artifact("train", "experiments", "train/experiments.jsonl")
        m.replace_stage("train", [table], "t")
    return root


def run_evaluate(project: Path, options: dict[str, Any] | None = None) -> StageResult:
    """The evaluate stage through the pipeline (so the manifest records it), forced."""
    ctx = RunContext(project, show_progress=False, options=EvaluateOptions(**(options or {})))

    async def go() -> StageResult | None:
        try:
            return await run_stage(ctx, get_stage("evaluate"), force=True)
        finally:
            await ctx.aclose()

    result = asyncio.run(go())
    assert result is not None
    return result


# -- the fake models ------------------------------------------------------------------------------
REFERENCES = {q: a for q, a in TRAIN}


def user_message(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


def extracting(body: dict[str, Any]) -> str:
    """The judge as a reader of quiz replies (`evaluate.extraction: rules+model`): it reads as
    the rules do, so the audit agrees; tests of disagreement script their own reader."""
    reply = between(user_message(body), "Reply to read:\n<<<", ">>>")
    return json.dumps({"choice": read_choice(reply).letter or "none"})


def answering(body: dict[str, Any]) -> str:
    model, user = body["model"], user_message(body)
    if "Reply to read:" in user:
        return extracting(body)
    if user.startswith("The following are multiple choice questions"):  # MMLU
        return {"base": "The answer is A.", "tuned": "B"}.get(model, "I am not sure.")
    quiz = "please choose the option" in user
    if model == "base":
        return "Option B (0.200 mol) is correct." if quiz else NO_ANSWER
    if model == "tuned":
        if quiz:
            return "Step 1: 0.2 x 1.05 = 0.21. Thus, the correct choice is C."
        question = user.rsplit("\n", 1)[-1]
        return REFERENCES.get(question, NO_ANSWER)
    if model == "baseline":
        return "It could be A or B." if quiz else "It depends on the process."
    raise AssertionError(f"unexpected model {model}")


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def judging(body: dict[str, Any]) -> str:
    text = prompt_text(body)
    if "GARBAGE" in between(text, "Question:", "Reference answer:"):
        return "I would rather not say."
    reference = between(text, "Reference answer:\n<<<", ">>>")
    answer = between(text, "Answer to judge:\n<<<", ">>>")
    good = answer == reference
    scores = (9, 8, 10) if good else (2, 3, 7)
    if body["model"] == "judge2":  # a second judge, stricter on good answers
        scores = (7, 7, 7) if good else (1, 3, 5)
    accuracy, completeness, clarity = scores
    return json.dumps(
        {
            "rationale": "Agrees with the reference." if good else "Misses the reference.",
            "accuracy": accuracy,
            "completeness": completeness,
            "clarity": clarity,
        }
    )
