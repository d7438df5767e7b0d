"""`doctune run` on the example end to end: documents, datasets, fine-tuning, evaluation, report.

Teacher and judge are an OpenAI-compatible endpoint (FakeOpenAIServer on loopback, a fake of the
paid service); the student is the tiny local model, fine-tuned for real on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.foundation.manifest import Manifest
from doctune.testing.fake_openai import FakeOpenAIServer

COLUMNS = ("train set QA", "test set QA", "test with rephrased QA", "Task", "Task + prompting")


def small(project: Path) -> None:
    cfg = yaml.safe_load((project / "doctune.yaml").read_text())
    cfg["synthesize"]["pdf_synthetic"] = {"questions_per_chunk": 2, "max_chunks": 24}
    cfg["synthesize"]["knowledge_distillation"]["target_size"] = 30
    cfg["evalsets"]["quiz"]["count"] = 10
    cfg["train"] = {
        "datasets": ["pdf_synthetic"],
        "lora": {"train_embeddings_and_norms": True},  # a random model learns nothing otherwise
        "max_length": 512,
        "experiments": [{"name": "e2", "epochs": 2, "batch_size": 4, "learning_rate": 3e-3}],
    }
    cfg["evaluate"].update({"max_items": 10, "answer_max_tokens": 48, "variants": ["plain", "rag"]})
    (project / "doctune.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.slow
def test_run_ends_with_the_full_table_and_a_second_run_calls_nothing(
    example_project: Path, fake_openai: FakeOpenAIServer, tiny_model_dir: Path
) -> None:
    small(example_project)
    args = ["run", str(example_project), "--student", f"hf:{tiny_model_dir}", "--no-progress"]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "mmlu" in first.output.lower()  # skipped, and the run says so (no MMLU_DIR)

    out = example_project / "out"
    html = (out / "report" / "index.html").read_text()
    for column in COLUMNS:
        assert column in html
    assert "(base)" in html and "e2 (pdf_synthetic)" in html  # before and after rows
    # The legend always names +RAG; only a row of the rag variant carries the tag.
    assert '<span class="tag">+RAG</span>' in html
    scores = [
        json.loads(line) for line in (out / "evaluate" / "scores.jsonl").read_text().splitlines()
    ]
    finetuned = [s for s in scores if s["kind"] == "finetuned"]
    assert finetuned and all(s["paired"] is not None for s in finetuned)
    assert {s["variant"] for s in scores} == {"plain", "rag"}
    assert {s["suite"] for s in scores} >= {
        "train_qa",
        "test_qa",
        "rephrased_qa",
        "task",
        "task_prompted",
    }
    manifest = Manifest(out)
    assert manifest.find("report") and manifest.find("adapter") and manifest.find("answers")

    served = fake_openai.completions
    second = CliRunner().invoke(main, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert fake_openai.completions == served, "the second run called the endpoint"
    for stage in ("synthesize", "train", "evaluate", "report"):
        assert f"{stage}: up to date" in second.output
