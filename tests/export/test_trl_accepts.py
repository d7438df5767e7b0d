"""TRL's SFTTrainer accepts the exported OpenAI `messages` file as it is: it trains on it, and with
assistant_only_loss only the answer tokens (and the end-of-turn that closes them) carry loss."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from doctune.export.openai_chat import to_openai
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.records import Provenance, QARecord

SYSTEM = "You are an expert assistant for pharmaceutical manufacturing."
QA = [
    (
        "Which catalyst is used in the carbonylation step?",
        "A palladium complex, under 16.5 bar CO.",
    ),
    ("At what temperature is the ketone hydrogenated?", "At 70 °C over Raney nickel."),
    ("What is the atom economy of the BHC process?", "About 77 %, against 40 % for Boots."),
    ("What solvent is used for crystallisation?", "Hexane; the product melts at 75-78 °C."),
]


@pytest.mark.slow
def test_sft_trainer_trains_on_the_openai_export(tmp_path: Path, tiny_model_dir: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    records = [
        QARecord(id=str(i), recipe="pdf_synthetic", question=q, answer=a, provenance=Provenance())
        for i, (q, a) in enumerate(QA)
    ]
    path = tmp_path / "pdf_synthetic_train.jsonl"
    write_jsonl(path, [to_openai(r, SYSTEM) for r in records])
    dataset = load_dataset("json", data_files=str(path), split="train")
    assert dataset.column_names == ["messages"]

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = SFTConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=2,
        per_device_train_batch_size=2,
        assistant_only_loss=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        push_to_hub=False,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=dataset, processing_class=tokenizer
    )

    # Labels: -100 everywhere except the assistant's answer and the end-of-turn after it.
    for example, record in zip(trainer.train_dataset, records, strict=True):
        ids, labels = example["input_ids"], example["labels"]
        trained = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
        ignored = [t for t, lab in zip(ids, labels, strict=True) if lab == -100]
        assert tokenizer.decode(trained) == "\n" + record.answer + "<|im_end|>\n"
        prompt = tokenizer.decode(ignored)
        assert record.question in prompt and SYSTEM in prompt
        assert record.answer not in prompt

    result = trainer.train()
    assert trainer.state.global_step == 2
    assert math.isfinite(result.training_loss) and result.training_loss > 0
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
