"""The export stage: exact file formats, LLaMA-Factory's dataset_info.json, the cookbook check
that stops a bad OpenAI file, stats.json numbers, and the manifest entries."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from doctune.context import RunContext
from doctune.export import stage as export
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.jsonl import read_json, write_jsonl
from doctune.foundation.manifest import file_sha256
from doctune.foundation.records import Provenance, QARecord
from doctune.pipeline import get_stage, run_stage

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "You are an expert assistant for pharmaceutical manufacturing."
SIZES = {
    "pdf_synthetic": {"train": 3, "validation": 1, "test": 1},
    "knowledge_distillation": {"train": 2, "validation": 1, "test": 0},
}


def qa(recipe: str, split: str, i: int) -> QARecord:
    return QARecord(
        id=f"{recipe}-{split}-{i}",
        recipe=recipe,  # type: ignore[arg-type]
        split=split,  # type: ignore[arg-type]
        question=f"Q{i} ({split}): at what temperature is the ketone hydrogenated?",
        answer=f"A{i}: over Raney nickel at {70 + i} °C.",
        provenance=Provenance(chunk_ids=[f"chunk-{i}"]),
    )


def make_project(
    tmp_path: Path,
    export_cfg: dict[str, Any] | None = None,
    sizes: dict[str, dict[str, int]] = SIZES,
    records: dict[tuple[str, str], list[QARecord]] | None = None,
    student: str = "openai:gpt-4o-mini",
) -> RunContext:
    """A project whose split stage is done: doctune.yaml plus split files in the manifest."""
    project = tmp_path / "proj"
    project.mkdir()
    config = {"name": "ibuprofen", "models": {"student": student}, "export": export_cfg or {}}
    (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ctx = RunContext(project, show_progress=False)
    if records is None:
        records = {
            (recipe, split): [qa(recipe, split, i) for i in range(n)]
            for recipe, splits in sizes.items()
            for split, n in splits.items()
        }
    artifacts = []
    for (recipe, split), rows in records.items():
        path = ctx.out_dir / "split" / recipe / f"{split}.jsonl"
        write_jsonl(path, rows)
        artifacts.append(
            ctx.manifest.artifact("split", "dataset", path, recipe=recipe, split=split)
        )
    ctx.manifest.replace_stage("split", artifacts, "split-fingerprint")
    return ctx


def run_export(ctx: RunContext) -> Any:
    return asyncio.run(run_stage(ctx, get_stage("export")))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_format_is_exactly_the_expected_structure(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {"system_prompt": SYSTEM})
    run_export(ctx)
    out = ctx.out_dir / "export"
    record = qa("pdf_synthetic", "train", 0)

    sharegpt = lines(out / "sharegpt" / "pdf_synthetic_train.jsonl")
    assert len(sharegpt) == 3
    assert sharegpt[0] == {
        "conversations": [
            {"from": "system", "value": SYSTEM},
            {"from": "human", "value": record.question},
            {"from": "gpt", "value": record.answer},
        ]
    }
    openai = lines(out / "openai" / "pdf_synthetic_train.jsonl")
    assert openai[0] == {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": record.question},
            {"role": "assistant", "content": record.answer},
        ]
    }
    alpaca = read_json(out / "alpaca" / "pdf_synthetic_train.json")
    assert isinstance(alpaca, list) and len(alpaca) == 3
    assert alpaca[0] == {
        "instruction": record.question,
        "input": "",
        "output": record.answer,
        "system": SYSTEM,
    }
    # Line N of every export is record N of the split file.
    assert [row["conversations"][1]["value"] for row in sharegpt] == [
        qa("pdf_synthetic", "train", i).question for i in range(3)
    ]


def test_empty_system_prompt_writes_no_system_turn(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {"system_prompt": ""})
    run_export(ctx)
    out = ctx.out_dir / "export"
    for row in lines(out / "sharegpt" / "knowledge_distillation_train.jsonl"):
        assert [turn["from"] for turn in row["conversations"]] == ["human", "gpt"]
    for row in lines(out / "openai" / "knowledge_distillation_train.jsonl"):
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    for row in read_json(out / "alpaca" / "knowledge_distillation_train.json"):  # type: ignore[union-attr]
        assert set(row) == {"instruction", "input", "output"}
    stats = read_json(out / "stats.json")
    assert stats["system_prompt"] == ""  # type: ignore[index]


def test_dataset_info_has_one_llamafactory_entry_per_non_empty_split(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    run_export(ctx)
    folder = ctx.out_dir / "export" / "sharegpt"
    info = read_json(folder / "dataset_info.json")
    # knowledge_distillation/test is empty: LLaMA-Factory cannot load an empty file.
    assert sorted(info) == sorted(  # type: ignore[arg-type]
        [
            "ibuprofen_pdf_synthetic_train",
            "ibuprofen_pdf_synthetic_validation",
            "ibuprofen_pdf_synthetic_test",
            "ibuprofen_knowledge_distillation_train",
            "ibuprofen_knowledge_distillation_validation",
        ]
    )
    entry = info["ibuprofen_pdf_synthetic_validation"]  # type: ignore[index]
    assert entry == {
        "file_name": "pdf_synthetic_validation.jsonl",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": {
            "role_tag": "from",
            "content_tag": "value",
            "user_tag": "human",
            "assistant_tag": "gpt",
            "system_tag": "system",
        },
    }
    for name, entry in info.items():  # type: ignore[union-attr]
        recipe_split = name.removeprefix("ibuprofen_")
        assert entry["file_name"] == f"{recipe_split}.jsonl"
        assert (folder / entry["file_name"]).is_file()  # relative to dataset_info.json's folder
    # The empty split is still exported (as an empty file) and registered with 0 records.
    empty = ctx.manifest.one("sharegpt", recipe="knowledge_distillation", split="test")
    assert empty.records == 0 and ctx.path(empty).read_text() == ""


def test_dataset_names_are_safe_for_llamafactory_arguments() -> None:
    assert export.dataset_name("my project, v2", "pdf_synthetic", "train") == (
        "my_project_v2_pdf_synthetic_train"
    )
    assert export.dataset_name("ibu-1.0", "pdf_synthetic", "test") == "ibu-1.0_pdf_synthetic_test"


def test_every_artifact_is_in_the_manifest_with_records_and_hash(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    result = run_export(ctx)
    assert result is not None
    exported = ctx.manifest.find_stage("export")
    kinds = sorted({a.kind for a in exported})
    assert kinds == ["alpaca", "dataset_info", "openai_jsonl", "sharegpt", "stats"]
    for kind, fmt in (("sharegpt", "sharegpt"), ("openai_jsonl", "openai"), ("alpaca", "alpaca")):
        found = ctx.manifest.find(kind, stage="export")
        assert len(found) == 6  # 2 recipes x 3 splits
        for artifact in found:
            assert artifact.format == fmt
            assert artifact.records == SIZES[artifact.recipe][artifact.split]  # type: ignore[index]
            assert artifact.sha256 == file_sha256(ctx.path(artifact))
    info = ctx.manifest.one("dataset_info", stage="export")
    assert info.path == "export/sharegpt/dataset_info.json" and info.records == 5
    stats = ctx.manifest.one("stats", stage="export")
    assert stats.path == "export/stats.json" and stats.records == 6
    assert result.summary["examples"] == 8 and result.summary["token_counts"] == "estimate"
    # Nothing changed: the second run is skipped as up to date.
    assert run_export(ctx) is None


def test_formats_are_chosen_by_config(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {"formats": ["openai"]})
    run_export(ctx)
    out = ctx.out_dir / "export"
    assert not (out / "sharegpt").exists() and not (out / "alpaca").exists()
    assert {a.kind for a in ctx.manifest.find_stage("export")} == {"openai_jsonl", "stats"}


def test_stats_on_a_known_dataset(tmp_path: Path) -> None:
    # Estimated tokens are ceil(chars / 4): lengths chosen so every number can be checked by hand.
    rows = [
        ("q" * 8, "a" * 40),  # 2 + 10 tokens
        ("q" * 12, "a" * 4),  # 3 + 1
        ("q" * 4, "a" * 20),  # 1 + 5
        ("q" * 40, "a" * 80),  # 10 + 20
    ]
    records = {
        ("pdf_synthetic", "train"): [
            QARecord(
                id=str(i),
                recipe="pdf_synthetic",
                question=q,
                answer=a,
                split="train",
                provenance=Provenance(),
            )
            for i, (q, a) in enumerate(rows)
        ],
        ("pdf_synthetic", "test"): [
            QARecord(
                id="t",
                recipe="pdf_synthetic",
                question="q" * 4,
                answer="a" * 4,
                split="test",
                provenance=Provenance(),
            )
        ],
    }
    ctx = make_project(tmp_path, {"system_prompt": "s" * 8}, records=records)  # 2 tokens
    run_export(ctx)
    stats = read_json(ctx.out_dir / "export" / "stats.json")
    assert stats["token_counts"] == "estimate" and stats["tokenizer"] is None  # type: ignore[index]
    recipe = stats["recipes"]["pdf_synthetic"]  # type: ignore[index]
    assert recipe["samples_per_split"] == {"train": 4, "test": 1}
    assert recipe["samples"] == 5
    train = recipe["splits"]["train"]
    assert train["samples"] == 4
    assert train["tokens"]["question"] | {"histogram": None} == {
        "min": 1,
        "p50": 2,
        "p90": 10,
        "max": 10,
        "mean": 4.0,
        "histogram": None,
    }
    assert train["tokens"]["answer"]["p50"] == 5 and train["tokens"]["answer"]["max"] == 20
    # Example: system 2 + question + answer + 3 per message x 3 + 3 for the example.
    examples = [2 + q + a + 12 for q, a in ((2, 10), (3, 1), (1, 5), (10, 20))]
    assert train["tokens"]["example"]["min"] == min(examples) == 18
    assert train["total_tokens"] == sum(examples) == 108
    assert train["total_chars"] == sum(8 + len(q) + len(a) for q, a in rows) == 240
    assert train["chars"]["answer"]["p90"] == 80
    histogram = train["tokens"]["answer"]["histogram"]
    assert sum(histogram["counts"]) == 4 and len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert recipe["total_tokens"] == 108 + (2 + 1 + 1 + 12)
    assert recipe["total_chars"] == 240 + 16


def test_stats_helpers() -> None:
    from doctune.export.stats import distribution, histogram, percentile

    assert [percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q) for q in (50, 90, 100)] == [5, 9, 10]
    assert percentile([7], 90) == 7
    assert histogram([1, 2, 3, 10], bins=3) == {"edges": [1, 5, 9, 13], "counts": [3, 0, 1]}
    assert histogram([4, 4]) == {"edges": [4, 5], "counts": [2]}
    assert distribution([])["p50"] is None


def test_tokens_are_counted_with_the_students_tokenizer(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    ctx = make_project(tmp_path, {"system_prompt": ""}, student=f"hf:{tiny_model_dir}")
    run_export(ctx)
    stats = read_json(ctx.out_dir / "export" / "stats.json")
    assert stats["token_counts"] == "tokenizer"  # type: ignore[index]
    assert stats["tokenizer"] == str(tiny_model_dir)  # type: ignore[index]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    split = stats["recipes"]["pdf_synthetic"]["splits"]["test"]  # type: ignore[index]
    assert split["tokens"]["question"]["min"] == len(
        tok(qa("pdf_synthetic", "test", 0).question, add_special_tokens=False)["input_ids"]
    )


def test_unavailable_student_tokenizer_falls_back_to_a_labelled_estimate(tmp_path: Path) -> None:
    # A hub id never downloaded cannot be loaded offline (conftest sets HF_HUB_OFFLINE).
    ctx = make_project(tmp_path, student="hf:not-a-user/not-a-model-doctune-test")
    run_export(ctx)
    assert read_json(ctx.out_dir / "export" / "stats.json")["token_counts"] == "estimate"  # type: ignore[index]


def test_a_configured_tokenizer_that_cannot_load_is_an_error(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {"tokenizer": str(tmp_path / "no-such-tokenizer")})
    with pytest.raises(ConfigError, match="no-such-tokenizer"):
        run_export(ctx)


def test_an_example_over_the_token_limit_stops_the_export(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {"max_tokens_per_example": 30})
    with pytest.raises(InputError) as err:
        run_export(ctx)
    message = str(err.value)
    assert "openai" in message and ".jsonl:1: too_many_tokens" in message
    assert "\n" not in message
    assert ctx.manifest.stage_state("export") is None  # nothing registered for a failed export


def test_no_split_datasets_is_an_input_error(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, records={})
    with pytest.raises(InputError, match="doctune split"):
        run_export(ctx)


# -- LLaMA-Factory's own loader (separate venv) ------------------------------------------------
@pytest.mark.integration
def test_sharegpt_export_loads_through_llamafactory(
    tmp_path: Path, tiny_model_dir: Path, llamafactory_venv: Path
) -> None:
    ctx = make_project(tmp_path, {"system_prompt": SYSTEM})
    run_export(ctx)
    folder = ctx.out_dir / "export" / "sharegpt"
    proc = subprocess.run(
        [str(ROOT / "scripts" / "check_llamafactory.sh"), str(folder), str(tiny_model_dir), "qwen"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "LLAMAFACTORY_VENV": str(llamafactory_venv)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PASS: 5/5 datasets" in proc.stdout
    assert "PASS  ibuprofen_pdf_synthetic_train: 3 examples" in proc.stdout
