"""Sections of fine-tuning: students, methods, the experiment grid, distribution, hosted jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from doctune.foundation.config.base import Section

RecipeName = Literal["pdf_synthetic", "knowledge_distillation"]


class LoraSettings(Section):
    r: int = Field(16, gt=0, description="LoRA rank.")
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = Field(
        "all-linear", description="Module names, or 'all-linear'."
    )
    train_embeddings_and_norms: bool = Field(
        False,
        description="Also train embeddings and norm layers (a randomly initialised model cannot "
        "learn through plain LoRA, its embeddings and norms being random and frozen).",
    )


class Hyperparameters(Section):
    """One run's hyperparameters: the talk's Exp1..Exp6 vary epochs, batch size and learning rate."""

    name: str | None = Field(
        None, description="Experiment name (default: derived from the values)."
    )
    epochs: float = Field(3, gt=0)
    batch_size: int = Field(1, gt=0, description="Per-device batch size.")
    learning_rate: float = Field(1.8e-5, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    learning_rate_multiplier: float | None = Field(
        None, gt=0, description="Hosted fine-tuning only (OpenAI takes a multiplier, not a rate)."
    )
    students: list[str] | None = Field(
        None, description="Run only for these students (default: every student)."
    )
    datasets: list[RecipeName] | None = Field(
        None, description="Run only on these datasets (default: every dataset)."
    )


class GridSpec(Section):
    """A full product of values; `train.experiments` (an explicit list) wins when given."""

    epochs: list[float] = Field(default_factory=lambda: [3.0])
    batch_size: list[int] = Field(default_factory=lambda: [1])
    learning_rate: list[float] = Field(default_factory=lambda: [1.8e-5])
    gradient_accumulation_steps: list[int] = Field(default_factory=lambda: [1])


class DistributedConfig(Section):
    launcher: Literal["local", "accelerate"] = "local"
    num_processes: int = Field(1, gt=0)
    deepspeed: Literal["zero2", "zero3"] | None = None
    fsdp: bool = False
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    num_machines: int = Field(1, gt=0)
    machine_rank: int = Field(0, ge=0)
    main_process_ip: str | None = None
    main_process_port: int | None = None

    @model_validator(mode="after")
    def _one_sharding(self) -> DistributedConfig:
        if self.deepspeed and self.fsdp:
            raise ValueError("choose DeepSpeed or FSDP, not both")
        return self


class HostedConfig(Section):
    suffix: str = Field(
        "doctune", max_length=64, description="Suffix of the fine-tuned model name."
    )
    poll_interval_s: float = Field(30.0, gt=0)
    upload_validation: bool = Field(
        True, description="Upload the validation split as validation_file."
    )
    price_per_mtok_trained: float | None = Field(
        None,
        ge=0,
        description="USD per 1M trained tokens, for the cost column (the API reports trained "
        "tokens, not a price); unset: no cost recorded.",
    )


class TrainConfig(Section):
    students: list[str] = Field(
        default_factory=list, description="Model specs; default [models.student]."
    )
    datasets: list[RecipeName] = Field(default_factory=lambda: ["knowledge_distillation"])
    method: Literal["lora", "qlora", "full"] = "lora"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    max_length: int = Field(2048, gt=16, description="Tokens per example (cutoff length).")
    packing: bool = False
    seed: int = 42
    grid: GridSpec = Field(default_factory=GridSpec)
    experiments: list[Hyperparameters] = Field(
        default_factory=list,
        description="Explicit runs (the talk's six); when set, `grid` is unused.",
    )
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    save_steps: int | None = Field(
        None, gt=0, description="Checkpoint every N steps (default: each epoch)."
    )
    save_merged: bool = Field(
        False, description="Also save the adapter merged into the base model."
    )
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    hosted: HostedConfig = Field(default_factory=HostedConfig)
    llamafactory_template: str | None = Field(
        None,
        description="LLaMA-Factory chat template for the exported configs (e.g. qwen, llama3); "
        "default: derived from the student's name or its config.json.",
    )
