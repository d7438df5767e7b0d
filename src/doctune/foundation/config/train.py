"""Sections of fine-tuning: students, methods, the experiment grid, distribution, hosted jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from doctune.foundation.config.base import Section
from doctune.foundation.recipes import RecipeName


class LoraSettings(Section):
    r: int = Field(16, gt=0, description="LoRA rank.")
    alpha: int = Field(32, gt=0, description="LoRA scaling (alpha / r multiplies the update).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA layers.")
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
    epochs: float = Field(3, gt=0, description="Passes over the training split.")
    batch_size: int = Field(1, gt=0, description="Per-device batch size.")
    learning_rate: float = Field(1.8e-5, gt=0, description="Peak learning rate.")
    gradient_accumulation_steps: int = Field(
        1, gt=0, description="Batches accumulated per optimizer step."
    )
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

    epochs: list[float] = Field(default_factory=lambda: [3.0], description="Epochs to try.")
    batch_size: list[int] = Field(default_factory=lambda: [1], description="Batch sizes to try.")
    learning_rate: list[float] = Field(
        default_factory=lambda: [1.8e-5], description="Learning rates to try."
    )
    gradient_accumulation_steps: list[int] = Field(
        default_factory=lambda: [1], description="Accumulation steps to try."
    )


class DistributedConfig(Section):
    launcher: Literal["local", "accelerate"] = Field(
        "local",
        description="One process per experiment, or `accelerate launch` (multi-process, "
        "multi-node).",
    )
    num_processes: int = Field(1, gt=0, description="Processes in all (accelerate).")
    deepspeed: Literal["zero2", "zero3"] | None = Field(None, description="DeepSpeed ZeRO stage.")
    fsdp: bool = Field(False, description="Shard with FSDP instead.")
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(
        "no", description="accelerate's mixed precision."
    )
    num_machines: int = Field(1, gt=0, description="Machines taking part.")
    machine_rank: int = Field(0, ge=0, description="This machine's rank.")
    main_process_ip: str | None = Field(None, description="Address of the rank-0 machine.")
    main_process_port: int | None = Field(None, ge=1, le=65535, description="Its port.")

    @model_validator(mode="after")
    def _one_sharding(self) -> DistributedConfig:
        if self.deepspeed and self.fsdp:
            raise ValueError("choose DeepSpeed or FSDP, not both")
        return self


class HostedConfig(Section):
    suffix: str = Field(
        "doctune", max_length=64, description="Suffix of the fine-tuned model name."
    )
    poll_interval_s: float = Field(30.0, gt=0, description="Seconds between job status checks.")
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
    datasets: list[RecipeName] = Field(
        default_factory=lambda: ["knowledge_distillation"], description="Datasets to train on."
    )
    method: Literal["lora", "qlora", "full"] = Field(
        "lora", description="LoRA adapters, 4-bit QLoRA (CUDA), or every weight."
    )
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA and QLoRA settings.")
    max_length: int = Field(2048, gt=16, description="Tokens per example (cutoff length).")
    packing: bool = Field(False, description="Pack examples into full-length sequences.")
    seed: int = Field(42, description="Training seed (data order, initialisation).")
    grid: GridSpec = Field(
        default_factory=GridSpec, description="Hyperparameter values whose product is run."
    )
    experiments: list[Hyperparameters] = Field(
        default_factory=list,
        description="Explicit runs (the talk's six); when set, `grid` is unused.",
    )
    lr_scheduler: str = Field("cosine", description="transformers' scheduler name.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    save_steps: int | None = Field(
        None, gt=0, description="Checkpoint every N steps (default: each epoch)."
    )
    save_merged: bool = Field(
        False, description="Also save the adapter merged into the base model."
    )
    distributed: DistributedConfig = Field(
        default_factory=DistributedConfig,
        description="How local runs launch (`doctune train` flags override each field).",
    )
    hosted: HostedConfig = Field(
        default_factory=HostedConfig, description="Fine-tuning through a provider's API."
    )
    llamafactory_template: str | None = Field(
        None,
        description="LLaMA-Factory chat template for the exported configs (e.g. qwen, llama3); "
        "default: derived from the student's name or its config.json.",
    )
