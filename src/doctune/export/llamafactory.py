"""LLaMA-Factory training configs: one YAML per local experiment that `llamafactory-cli train`
runs as it is (the talk fine-tuned Qwen2.5-7B-Instruct this way).

Written by the export stage when its formats include `llamafactory`, next to the ShareGPT files
and dataset_info.json they name, at `out/export/llamafactory/<experiment id>.yaml`. Every key is
an argument of LLaMA-Factory 0.9.5 (`llamafactory/hparams/*.py`; its parser refuses unknown
keys); paths are absolute, so the file runs from any folder. Checked for real by
scripts/check_llamafactory_train.sh.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from doctune import __version__
from doctune.context import RunContext
from doctune.export.format import Exported, ExportFormat
from doctune.export.sharegpt import DATASET_INFO_NAME, dataset_info, dataset_name
from doctune.foundation.config import TrainConfig
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.manifest import Artifact
from doctune.foundation.records import QARecord
from doctune.models.grid import Experiment, expand
from doctune.models.spec import parse_spec

CONFIG_DIR = "llamafactory"  # under out/export/
OUTPUT_DIR = "llamafactory"  # under out/: where a run writes its adapter and logs

# LLaMA-Factory's chat template per model family, matched on the model's name (the last part of
# a hub id or path), first match wins, so narrower names come before the families they share a
# prefix with. From the template each model is registered with in llamafactory/extras/constants.
TEMPLATE_RULES: tuple[tuple[str, str], ...] = (
    (r"qwen-?3", "qwen3"),
    (r"qwen|qwq", "qwen"),  # Qwen1.5, Qwen2, Qwen2.5 (the talk's Qwen2.5-7B-Instruct)
    (r"llama-?4", "llama4"),
    (r"llama-?3", "llama3"),  # Llama 3, 3.1, 3.2, 3.3
    (r"llama-?2", "llama2"),
    (r"mistral-small|devstral", "mistral_small"),
    (r"ministral|mistral-nemo", "ministral"),
    (r"mistral|mixtral|codestral", "mistral"),
    (r"gemma-?3", "gemma3"),
    (r"gemma-?2", "gemma2"),
    (r"gemma", "gemma"),
    (r"phi-?4-mini", "phi4_mini"),
    (r"phi-?4", "phi4"),
    (r"phi-?3(\.5)?-small", "phi_small"),
    (r"phi-?3", "phi"),
    (r"smollm-?2", "smollm2"),
    (r"smollm", "smollm"),
    (r"deepseek-v[23]", "deepseek3"),
    (r"^yi-", "yi"),
    (r"glm-?4", "glm4"),
)
# A local model whose folder name says nothing: its config.json `model_type`. `llama` is absent
# on purpose: Llama 2 and Llama 3 share it and need different templates.
MODEL_TYPE_TEMPLATES = {
    "qwen2": "qwen",
    "qwen3": "qwen3",
    "mistral": "mistral",
    "mixtral": "mistral",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    "phi3": "phi",
}
# PEFT trains and saves every module whose name ends with one of these (modules_to_save): the
# embeddings and every norm layer of Llama/Qwen/Mistral-style models (a tied output head follows
# the embeddings).
EMBEDDINGS_AND_NORMS = "embed_tokens,norm"


def llamafactory_template(student: str, override: str | None = None) -> str:
    """The LLaMA-Factory chat template for a student; a clear error when none is known."""
    if override:
        return override
    model = parse_spec(student).model
    name = model.rstrip("/").rsplit("/", 1)[-1].lower()
    for pattern, template in TEMPLATE_RULES:
        if re.search(pattern, name):
            return template
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
        if model_type in MODEL_TYPE_TEMPLATES:
            return MODEL_TYPE_TEMPLATES[model_type]
    raise ConfigError(
        f"no LLaMA-Factory chat template known for student '{student}': set "
        "train.llamafactory_template in doctune.yaml (e.g. qwen, llama3, mistral, gemma, phi)"
    )


def model_path(student: str) -> str:
    """The hub id as is; a local folder as an absolute path (the YAML runs from any folder)."""
    spec = parse_spec(student)
    if spec.adapter:
        raise ConfigError(
            f"student '{student}': LLaMA-Factory configs start from a base model, not an adapter"
        )
    local = Path(spec.model).expanduser()
    if spec.model.startswith(("/", ".", "~")) or local.is_dir():
        return str(local.resolve())
    return spec.model


def llamafactory_args(
    exp: Experiment,
    cfg: TrainConfig,
    *,
    template: str,
    dataset_dir: Path,
    train_dataset: str,
    eval_dataset: str | None,
    output_dir: Path,
) -> dict[str, Any]:
    """The arguments of one SFT run, grouped as LLaMA-Factory's own example configs are."""
    hp = exp.hp
    args: dict[str, Any] = {
        "model_name_or_path": model_path(exp.student),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full" if cfg.method == "full" else "lora",
    }
    args |= _adapter(cfg)
    args |= {
        "dataset": train_dataset,
        "dataset_dir": str(dataset_dir),
        "template": template,
        "cutoff_len": cfg.max_length,
        "packing": cfg.packing,
        "overwrite_cache": True,  # a re-export must not train on a stale tokenized cache
        "output_dir": str(output_dir),
        "logging_steps": 10,
        "plot_loss": True,
        "report_to": "none",
    }
    args |= _saving(cfg)
    args |= {
        "num_train_epochs": float(hp.epochs),
        "per_device_train_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "learning_rate": hp.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_ratio": cfg.warmup_ratio,
        "weight_decay": cfg.weight_decay,
        "seed": cfg.seed,
        # fp32 unless the config asks for mixed precision (bf16 on A100/H100-class GPUs).
        "bf16": cfg.distributed.mixed_precision == "bf16",
        "fp16": cfg.distributed.mixed_precision == "fp16",
    }
    if eval_dataset:  # validation loss every epoch (or every save), and once at the end
        args |= {
            "eval_dataset": eval_dataset,
            "do_eval": True,
            "per_device_eval_batch_size": hp.batch_size,
        }
        args |= {"eval_strategy": args["save_strategy"]}
        if "save_steps" in args:
            args["eval_steps"] = args["save_steps"]
    return args


def _adapter(cfg: TrainConfig) -> dict[str, Any]:
    """LoRA settings (qlora: LoRA on a 4-bit base); none for full fine-tuning."""
    if cfg.method == "full":
        return {}
    targets = cfg.lora.target_modules
    args: dict[str, Any] = {
        "lora_rank": cfg.lora.r,
        "lora_alpha": cfg.lora.alpha,
        "lora_dropout": cfg.lora.dropout,
        "lora_target": "all" if targets == "all-linear" else _joined(targets),
    }
    if cfg.lora.train_embeddings_and_norms:
        args["additional_target"] = EMBEDDINGS_AND_NORMS
    if cfg.method == "qlora":
        args["quantization_bit"] = 4
    return args


def _joined(value: str | list[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _saving(cfg: TrainConfig) -> dict[str, Any]:
    """A checkpoint each epoch, or every `save_steps`; LLaMA-Factory resumes from the last one
    in output_dir when the same YAML is run again."""
    if cfg.save_steps:
        return {"save_strategy": "steps", "save_steps": cfg.save_steps}
    return {"save_strategy": "epoch"}


def write_llamafactory_configs(
    ctx: RunContext, dataset_dir: Path, info: dict[str, Any], *, stage: str = "export"
) -> list[Artifact]:
    """One YAML per local experiment of the train config (hosted students have none), naming the
    datasets of `info` (dataset_info.json, in `dataset_dir`); returns their manifest entries."""
    train = ctx.config.train
    folder = ctx.stage_dir(stage) / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yaml"):  # experiments no longer in the config
        stale.unlink()
    artifacts = []
    for exp in expand(train, ctx.spec("student")):
        if exp.route != "local":
            continue
        train_name = dataset_name(ctx.config.name, exp.dataset, "train")
        if train_name not in info:
            raise InputError(
                f"{dataset_dir / DATASET_INFO_NAME}: no train split of {exp.dataset} for "
                f"experiment {exp.name} (train.datasets names it; was it synthesized and split?)"
            )
        eval_name = dataset_name(ctx.config.name, exp.dataset, "validation")
        args = llamafactory_args(
            exp,
            train,
            template=llamafactory_template(exp.student, train.llamafactory_template),
            dataset_dir=dataset_dir.resolve(),
            train_dataset=train_name,
            eval_dataset=eval_name if eval_name in info else None,
            output_dir=(ctx.out_dir / OUTPUT_DIR / exp.id).resolve(),
        )
        path = folder / f"{exp.id}.yaml"
        header = (
            f"# doctune {__version__}: experiment {exp.name} ({exp.student} on {exp.dataset})\n"
            f"# run: llamafactory-cli train {path.resolve()}\n"
        )
        path.write_text(header + yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
        artifacts.append(
            ctx.manifest.artifact(
                stage,
                "llamafactory_config",
                path,
                recipe=exp.dataset,
                format="llamafactory",
                name=exp.id,
            )
        )
    if not artifacts:
        ctx.log("export: no local students in train.students, so no LLaMA-Factory configs")
    return artifacts


class LlamaFactoryConfigs(ExportFormat):
    """Training YAMLs, not a dataset format: nothing per dataset, one YAML per experiment."""

    name = "llamafactory"
    needs = ("sharegpt",)
    sections = ("train",)
    per_dataset = False

    def convert(self, record: QARecord, system_prompt: str) -> dict[str, Any]:
        raise TypeError("LLaMA-Factory configs have no per-dataset file")

    def finish(self, ctx: RunContext, written: list[Exported]) -> list[Artifact]:
        info = dataset_info(ctx.config.name, written)
        return write_llamafactory_configs(ctx, ctx.stage_dir("export") / "sharegpt", info)
