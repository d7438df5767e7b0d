"""The talk's finding, measured on the tiny model: fine-tuned on the training questions, its
answers to them move towards the references (train_qa reference metrics rise against the base
tiny model) while its answers to unseen test questions barely move.

Nothing here is arranged to produce that result: the model is a random transformer trained by
the train stage on the exported training split, evaluated by the evaluate stage; the scores are
token F1 and ROUGE-L against the references, which need no judge (the loopback server judges,
and its scores are not looked at).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from doctune.context import RunContext
from doctune.foundation.evalrecords import SuiteScore
from doctune.foundation.jsonl import read_jsonl, write_jsonl
from doctune.foundation.records import Provenance, QARecord
from doctune.pipeline import get_stage, run_stage
from doctune.testing.fake_openai import FakeOpenAIServer

TRAIN = [
    ("Which catalyst is used in the carbonylation step?", "A palladium complex."),
    ("At what temperature is the ketone hydrogenated?", "At 70 degrees."),
    ("What is the atom economy of the BHC process?", "About 77 percent."),
    ("What solvent is used for crystallisation?", "Hexane."),
    ("How many steps does the BHC route take?", "Three steps."),
    ("How many steps does the Boots route take?", "Six steps."),
    ("What is the molar mass of ibuprofen?", "206.28 g/mol."),
    ("Which reagent brominates isobutylbenzene?", "N-bromosuccinimide."),
    ("Which guideline limits residual solvents?", "ICH Q3C."),
    ("Which acid catalyses the acylation?", "Hydrogen fluoride."),
    ("How is the product dried?", "Under vacuum at 40 degrees."),
    ("What is the acylation yield?", "92 percent."),
]
TEST = [
    ("What is the melting point of ibuprofen?", "Between 75 and 78 degrees."),
    ("Which base deprotonates the ester?", "Sodium ethoxide."),
    ("What colour is the crude product?", "Pale yellow."),
    ("Which column separates the enantiomers?", "A chiral cellulose column."),
]


def _records(split: str, pairs: list[tuple[str, str]]) -> list[QARecord]:
    return [
        QARecord(
            id=f"{split}{i}",
            recipe="pdf_synthetic",
            question=q,
            answer=a,
            split=split,  # type: ignore[arg-type]
            provenance=Provenance(chunk_ids=[f"c{split}{i}"]),
        )
        for i, (q, a) in enumerate(pairs)
    ]


def _project(root: Path, student: str) -> Path:
    root.mkdir(parents=True)
    config: dict[str, Any] = {
        "name": "talk-shape",
        "models": {"student": student, "judge": "openai:judge", "teacher": "openai:judge"},
        "client": {"max_retries": 0, "structured_retries": 0},
        "export": {"formats": ["openai"]},
        "train": {
            "datasets": ["pdf_synthetic"],
            "method": "lora",
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "train_embeddings_and_norms": True},
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_length": 96,
            "experiments": [
                {"name": "memorise", "epochs": 30, "batch_size": 4, "learning_rate": 5e-3}
            ],
        },
        "evaluate": {
            "models": ["base", "best"],
            "suites": ["train_qa", "test_qa"],
            "answer_max_tokens": 24,
            "bootstrap_samples": 500,
        },
    }
    (root / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ctx = RunContext(root, show_progress=False)
    artifacts = []
    for split, pairs in (("train", TRAIN), ("validation", TRAIN[:2]), ("test", TEST)):
        path = ctx.out_dir / "split" / f"pdf_synthetic.{split}.jsonl"
        write_jsonl(path, _records(split, pairs))
        artifacts.append(
            ctx.manifest.artifact("split", "dataset", path, recipe="pdf_synthetic", split=split)
        )
    ctx.manifest.replace_stage("split", artifacts, "t")
    return root


def _run(project: Path, *stages: str) -> None:
    ctx = RunContext(project, show_progress=False)

    async def go() -> None:
        try:
            for name in stages:
                await run_stage(ctx, get_stage(name), force=True)
        finally:
            await ctx.aclose()

    asyncio.run(go())


@pytest.mark.slow
def test_finetuned_tiny_model_learns_train_answers_not_test_answers(
    tmp_path: Path,
    tiny_model_dir: Path,
    fake_openai: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    pytest.importorskip("trl")
    monkeypatch.delenv("MMLU_DIR", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the machine's cores are shared
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        project = _project(tmp_path / "p", f"hf:{tiny_model_dir}")
        _run(project, "export", "train", "evaluate")
    finally:
        torch.set_num_threads(threads)
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    row = {(r.kind, r.suite): r for r in rows}
    base_train, tuned_train = row["base", "train_qa"], row["finetuned", "train_qa"]
    base_test, tuned_test = row["base", "test_qa"], row["finetuned", "test_qa"]
    f1 = {key: r.extra["token_f1"] for key, r in row.items()}
    assert all(value is not None for value in f1.values())
    # Learned: the training answers come back (a random model's answers share almost nothing).
    assert f1["finetuned", "train_qa"] > f1["base", "train_qa"] + 0.5  # type: ignore[operator]
    assert tuned_train.extra["rouge_l"] > base_train.extra["rouge_l"] + 0.5  # type: ignore[operator]
    # Not generalised: on unseen questions it answers with training answers, which share little
    # with the test references.
    moved = f1["finetuned", "test_qa"] - f1["base", "test_qa"]  # type: ignore[operator]
    assert abs(moved) < 0.25
    assert tuned_test.paired is not None and tuned_test.paired.versus == base_test.model
    assert tuned_train.trained_on == "pdf_synthetic" and tuned_train.experiment
