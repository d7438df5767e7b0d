"""LLaMA-Factory configs: the talk's Qwen2.5-7B experiment as a golden file, templates per model
family, methods, one YAML per local experiment, the export command, and (integration) a real
`llamafactory-cli train` run of an exported YAML on the tiny model."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.context import RunContext
from doctune.export.llamafactory import llamafactory_args, llamafactory_template
from doctune.foundation.config.options import ExportOptions
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.records import Provenance, QARecord
from doctune.models.grid import expand
from doctune.pipeline import get_stage, run_stage

ROOT = Path(__file__).resolve().parents[2]
QWEN = "hf:Qwen/Qwen2.5-7B-Instruct"
# The talk's best Qwen2.5-7B run on the knowledge-distillation dataset (Exp6).
TALK_TRAIN = {
    "students": [QWEN],
    "datasets": ["knowledge_distillation"],
    "experiments": [{"name": "Exp6", "epochs": 1, "batch_size": 1, "learning_rate": 1.0e-5}],
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
    train: dict[str, Any],
    student: str = QWEN,
    splits: dict[str, int] | None = None,
    formats: list[str] | None = None,
) -> RunContext:
    """A project whose split stage is done (knowledge_distillation train/validation/test)."""
    project = tmp_path / "proj"
    project.mkdir(parents=True, exist_ok=True)
    config = {"name": "ibuprofen", "models": {"student": student}, "train": train}
    (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    options = ExportOptions(formats=formats or ["llamafactory"])
    ctx = RunContext(project, show_progress=False, options=options)
    artifacts = []
    for split, n in (splits or {"train": 4, "validation": 2, "test": 1}).items():
        path = ctx.out_dir / "split" / "knowledge_distillation" / f"{split}.jsonl"
        write_jsonl(path, [qa("knowledge_distillation", split, i) for i in range(n)])
        artifacts.append(
            ctx.manifest.artifact(
                "split", "dataset", path, recipe="knowledge_distillation", split=split
            )
        )
    ctx.manifest.replace_stage("split", artifacts, "split-fingerprint")
    return ctx


def export(ctx: RunContext) -> Any:
    return asyncio.run(run_stage(ctx, get_stage("export")))


def configs(ctx: RunContext) -> dict[str, dict[str, Any]]:
    folder = ctx.out_dir / "export" / "llamafactory"
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))}


def test_the_talks_qwen_experiment(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, TALK_TRAIN)
    export(ctx)
    exp_id = "Qwen2.5-7B-Instruct--knowledge_distillation--Exp6"
    sharegpt = (ctx.out_dir / "export" / "sharegpt").resolve()
    assert configs(ctx) == {
        exp_id: {
            "model_name_or_path": "Qwen/Qwen2.5-7B-Instruct",
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "lora",
            "lora_rank": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "lora_target": "all",
            "dataset": "ibuprofen_knowledge_distillation_train",
            "dataset_dir": str(sharegpt),
            "template": "qwen",
            "cutoff_len": 2048,
            "packing": False,
            "overwrite_cache": True,
            "output_dir": str((ctx.out_dir / "llamafactory" / exp_id).resolve()),
            "logging_steps": 10,
            "plot_loss": True,
            "report_to": "none",
            "save_strategy": "epoch",
            "num_train_epochs": 1.0,
            "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 1,
            "learning_rate": 1.0e-5,
            "lr_scheduler_type": "cosine",
            "warmup_ratio": 0.03,
            "weight_decay": 0.0,
            "seed": 42,
            "bf16": False,
            "fp16": False,
            "eval_dataset": "ibuprofen_knowledge_distillation_validation",
            "do_eval": True,
            "per_device_eval_batch_size": 1,
            "eval_strategy": "epoch",
        }
    }
    path = ctx.out_dir / "export" / "llamafactory" / f"{exp_id}.yaml"
    assert f"# run: llamafactory-cli train {path.resolve()}" in path.read_text()
    # The datasets it names exist in dataset_info.json (llamafactory brought sharegpt along).
    info = yaml.safe_load((sharegpt / "dataset_info.json").read_text())
    assert {
        "ibuprofen_knowledge_distillation_train",
        "ibuprofen_knowledge_distillation_validation",
    } <= set(info)
    (artifact,) = ctx.inputs("llamafactory_config")
    assert artifact.name == exp_id and artifact.stage == "export"
    assert artifact.path == f"export/llamafactory/{exp_id}.yaml"
    # --format adds to export.formats: the OpenAI files that `train` reads are still there.
    assert ctx.inputs("openai_jsonl")


@pytest.mark.parametrize(
    ("student", "template"),
    [
        ("hf:Qwen/Qwen2.5-7B-Instruct", "qwen"),
        ("hf:Qwen/Qwen2-1.5B", "qwen"),
        ("hf:Qwen/Qwen3-8B", "qwen3"),
        ("hf:meta-llama/Llama-3.1-8B-Instruct", "llama3"),
        ("hf:meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),
        ("hf:meta-llama/Llama-2-7b-chat-hf", "llama2"),
        ("hf:mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
        ("hf:mistralai/Ministral-8B-Instruct-2410", "ministral"),
        ("hf:google/gemma-7b-it", "gemma"),
        ("hf:google/gemma-2-9b-it", "gemma2"),
        ("hf:microsoft/Phi-3-mini-4k-instruct", "phi"),
        ("hf:microsoft/phi-4", "phi4"),
    ],
)
def test_template_matches_the_student(student: str, template: str) -> None:
    assert llamafactory_template(student) == template


def test_unknown_family_asks_for_the_template(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        llamafactory_template("hf:acme/widget-7b")
    assert "hf:acme/widget-7b" in str(info.value)
    assert "train.llamafactory_template" in str(info.value)
    assert llamafactory_template("hf:acme/widget-7b", "llama3") == "llama3"
    # A local folder named after nothing: its config.json says what it is.
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    assert llamafactory_template(f"hf:{folder}") == "qwen"
    (folder / "config.json").write_text('{"model_type": "llama"}')  # Llama 2 or 3? Not guessed.
    with pytest.raises(ConfigError, match="llamafactory_template"):
        llamafactory_template(f"hf:{folder}")


def _args(tmp_path: Path, train: dict[str, Any]) -> dict[str, Any]:
    ctx = make_project(tmp_path, {**TALK_TRAIN, **train})
    (exp,) = expand(ctx.config.train, QWEN)
    return llamafactory_args(
        exp,
        ctx.config.train,
        template="qwen",
        dataset_dir=tmp_path,
        train_dataset="t",
        eval_dataset=None,
        output_dir=tmp_path / "o",
    )


def test_methods_and_options(tmp_path: Path) -> None:
    qlora = _args(tmp_path, {"method": "qlora"})
    assert qlora["finetuning_type"] == "lora" and qlora["quantization_bit"] == 4
    full = _args(tmp_path, {"method": "full"})
    assert full["finetuning_type"] == "full"
    assert not any(k.startswith("lora_") for k in full) and "quantization_bit" not in full
    custom = _args(
        tmp_path,
        {
            "lora": {
                "r": 8,
                "target_modules": ["q_proj", "v_proj"],
                "train_embeddings_and_norms": True,
            },
            "save_steps": 50,
            "packing": True,
            "max_length": 512,
            "distributed": {"mixed_precision": "bf16"},
        },
    )
    assert custom["lora_rank"] == 8 and custom["lora_target"] == "q_proj,v_proj"
    assert custom["additional_target"] == "embed_tokens,norm"
    assert custom["save_strategy"] == "steps" and custom["save_steps"] == 50
    assert custom["packing"] is True and custom["cutoff_len"] == 512
    assert custom["bf16"] is True and custom["fp16"] is False
    assert "eval_dataset" not in custom and "eval_strategy" not in custom  # no validation split


def test_one_yaml_per_local_experiment_none_for_hosted(tmp_path: Path) -> None:
    train = {
        "students": [QWEN, "openai:gpt-4o-mini"],
        "grid": {"epochs": [1, 3], "batch_size": [1, 2], "learning_rate": [1.8e-5]},
    }
    ctx = make_project(tmp_path, train)
    export(ctx)
    found = configs(ctx)
    assert len(found) == 4 and all(k.startswith("Qwen2.5-7B-Instruct--") for k in found)
    assert sorted(
        (c["num_train_epochs"], c["per_device_train_batch_size"]) for c in found.values()
    ) == [
        (1.0, 1),
        (1.0, 2),
        (3.0, 1),
        (3.0, 2),
    ]
    assert len(ctx.inputs("llamafactory_config")) == 4
    # A narrower grid: the YAMLs of experiments no longer configured are gone.
    ctx = make_project(tmp_path, {**train, "grid": {"epochs": [1], "batch_size": [1]}})
    export(ctx)
    assert len(configs(ctx)) == 1 and len(ctx.inputs("llamafactory_config")) == 1


def test_a_train_change_refreshes_the_configs(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, TALK_TRAIN)
    assert export(ctx) is not None
    assert export(make_project(tmp_path, TALK_TRAIN)) is None  # up to date
    changed = {**TALK_TRAIN, "seed": 7}
    assert export(make_project(tmp_path, changed)) is not None
    assert next(iter(configs(ctx).values()))["seed"] == 7
    # Without llamafactory among the formats the train section does not matter to export.
    plain = make_project(tmp_path, TALK_TRAIN, formats=["sharegpt"])
    assert export(plain) is not None
    assert export(make_project(tmp_path, {**TALK_TRAIN, "seed": 8}, formats=["sharegpt"])) is None


def test_a_recipe_without_a_train_split_is_named(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {**TALK_TRAIN, "datasets": ["pdf_synthetic"]})
    with pytest.raises(InputError, match="no train split of pdf_synthetic for experiment Exp6"):
        export(ctx)


def test_export_command_with_format(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, TALK_TRAIN)
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(ctx.project_dir),
            "--format",
            "llamafactory",
            "--format",
            "openai",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(configs(ctx)) == 1
    assert (ctx.out_dir / "export" / "openai" / "knowledge_distillation_train.jsonl").is_file()
    assert (ctx.out_dir / "export" / "alpaca").exists()  # configured formats are kept
    bad = CliRunner().invoke(main, ["export", str(ctx.project_dir), "--format", "csv"])
    assert bad.exit_code == 2 and "csv" in bad.output


def _script(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "check_llamafactory_train.sh"), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "LLAMAFACTORY_VENV": str(venv)},
    )


@pytest.mark.integration
def test_llamafactory_trains_an_exported_config(
    tmp_path: Path, tiny_model_dir: Path, llamafactory_venv: Path
) -> None:
    student = f"hf:{tiny_model_dir}"
    ctx = make_project(tmp_path, {**TALK_TRAIN, "students": [student]}, student=student)
    export(ctx)
    (config,) = (ctx.out_dir / "export" / "llamafactory").glob("*.yaml")
    assert yaml.safe_load(config.read_text())["template"] == "qwen"  # from its config.json
    proc = _script(llamafactory_venv, str(config), str(tiny_model_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PASS: llamafactory-cli train ran" in proc.stdout
    assert "wrote adapter_model.safetensors" in proc.stdout


@pytest.mark.integration
def test_every_method_parses_in_llamafactory(tmp_path: Path, llamafactory_venv: Path) -> None:
    paths = []
    variants = {"lora": {"save_steps": 5}, "qlora": {}, "full": {"packing": True}}
    for method, extra in variants.items():
        ctx = make_project(tmp_path / method, {**TALK_TRAIN, "method": method, **extra})
        export(ctx)
        paths += [str(p) for p in (ctx.out_dir / "export" / "llamafactory").glob("*.yaml")]
    proc = _script(llamafactory_venv, "--parse", *paths)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "PASS: 3/3 configs parse" in proc.stdout
