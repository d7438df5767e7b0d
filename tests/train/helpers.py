"""Shared pieces of the training tests: a handful of short QA pairs in the exported OpenAI chat
format, and jobs that train the tiny model on them in seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doctune.foundation.config import Hyperparameters, TrainConfig
from doctune.train.local import TrainJob

SYSTEM = "You are an expert assistant for pharmaceutical manufacturing."
QA = [
    ("Which catalyst is used in the carbonylation step?", "A palladium complex."),
    ("At what temperature is the ketone hydrogenated?", "At 70 °C."),
    ("What is the atom economy of the BHC process?", "About 77 %."),
    ("What solvent is used for crystallisation?", "Hexane."),
    ("How many steps does the BHC route take?", "Three steps."),
    ("How many steps does the Boots route take?", "Six steps."),
    ("What is the molar mass of ibuprofen?", "206.28 g/mol."),
    ("What is the CAS number of ibuprofen?", "15687-27-1."),
    ("Which reagent brominates isobutylbenzene?", "N-bromosuccinimide."),
    ("What is the boiling point of isobutylbenzene?", "172.8 °C."),
    ("Which guideline limits residual solvents?", "ICH Q3C."),
    ("What is the assay specification?", "98.5-101.0 %."),
    ("What is the hexane limit?", "290 ppm."),
    ("Which acid catalyses the acylation?", "Hydrogen fluoride."),
    ("How is the product dried?", "Under vacuum at 40 °C."),
    ("What is the acylation yield?", "92 %."),
]


def chat_line(question: str, answer: str, system: str = SYSTEM) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def write_chat_jsonl(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(chat_line(q, a), ensure_ascii=False) + "\n" for q, a in pairs),
        encoding="utf-8",
    )
    return path


def make_job(
    folder: Path,
    model: Path,
    *,
    pairs: list[tuple[str, str]] = QA,
    validation: list[tuple[str, str]] | None = None,
    hp: dict[str, Any] | None = None,
    **train: Any,
) -> TrainJob:
    """A job on `pairs`: LoRA that also trains embeddings and norms (what a random model needs),
    lr 5e-3 with the default cosine decay (16/16 answers after 160 steps; a constant rate
    leaves the loss too noisy at the end to get every digit right)."""
    data = folder / "data"
    train_file = write_chat_jsonl(data / "train.jsonl", pairs)
    val_file = write_chat_jsonl(data / "validation.jsonl", validation or pairs[:2])
    settings: dict[str, Any] = {
        "method": "lora",
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "train_embeddings_and_norms": True},
        "warmup_ratio": 0.0,
        "max_length": 128,
        "seed": 0,
    }
    settings.update(train)
    return TrainJob(
        experiment="test",
        model=str(model),
        train_file=str(train_file),
        validation_file=str(val_file),
        output_dir=str(folder / "run"),
        hp=Hyperparameters(**{"epochs": 1, "batch_size": 4, "learning_rate": 5e-3, **(hp or {})}),
        train=TrainConfig(**settings),
        show_progress=False,
    )


@pytest.fixture
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tiny model gains nothing from more threads, and on this shared machine thread
    hand-offs make each step many times slower; worker subprocesses inherit the setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)
