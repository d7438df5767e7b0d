"""Local supervised fine-tuning on TRL's SFTTrainer with PEFT: one experiment, one `TrainJob`.

The job is a JSON file the worker (`python -m doctune.train.worker job.json`) reads, alone or
under `accelerate launch`; every process runs this same code. Choices that matter:
- the exported OpenAI `messages` lines under the student's own chat template, with loss on the
  assistant's tokens only (`assistant_only_loss`; TRL swaps in a training variant of known
  templates with `{% generation %}` markers). The end-of-turn token is inside the mask, so the
  model learns to stop;
- validation loss each epoch, checkpoints each epoch (or every `save_steps`), resume from the
  last complete checkpoint after a kill;
- `train_embeddings_and_norms` trains copies of the embeddings and norm layers as PEFT
  `modules_to_save`, with `ensure_weight_tying` so a tied LM head uses the trained copy too.
  `trainable_token_indices` would be the lighter choice for a few tokens, but TRL's fused LM
  head reads `lm_head.weight`/`bias` directly, which PEFT's token wrapper does not expose.
- `packing` is TRL's padding-free best-fit packing: each batch becomes one sequence with a
  block-diagonal mask. Flash-attention (used when installed, on a GPU) skips the masked blocks;
  SDPA computes them, so on a CPU packing pays off only at small batch sizes (see
  benchmarks/training_throughput.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from doctune.foundation.config import Hyperparameters, TrainConfig
from doctune.foundation.errors import ConfigError, InputError, ModelError
from doctune.models.hf_load import load_error
from doctune.models.hub import HubUnavailable, load_local_first
from doctune.train import logs, saving

CHECKPOINTS = "checkpoints"
RESULT_NAME = "result.json"
#: Log the running loss this often, as a fraction of all steps: about 50 points per curve.
LOG_FRACTION = 0.02


class TrainJob(BaseModel):
    """Everything one experiment's training processes need, written as `job.json`."""

    model_config = ConfigDict(extra="forbid")

    experiment: str
    model: str  # base model: local folder or hub id
    train_file: str
    validation_file: str | None = None
    output_dir: str  # the experiment's folder, out/train/<experiment id>
    hp: Hyperparameters
    train: TrainConfig
    config_hash: str = ""
    show_progress: bool = True


class TrainResult(BaseModel):
    """What the main process reports back (`result.json` in the experiment folder)."""

    status: Literal["succeeded", "failed"]
    error: str | None = None
    train_loss: float | None = None
    validation_loss: float | None = None
    steps: int | None = None
    start_step: int = 0
    resumed_from: str | None = None
    wall_s: float | None = None
    train_tokens: int | None = None
    tokens_per_s: float | None = None
    peak_memory_mb: float | None = None
    output: str | None = None  # relative to the experiment folder
    merged: str | None = None
    world_size: int = 1


# -- inputs ------------------------------------------------------------------------------------
def read_messages(path: str | Path) -> Any:
    """A `datasets.Dataset` with one `messages` column from an exported OpenAI chat JSONL."""
    from datasets import Dataset

    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            messages = json.loads(line).get("messages")
            if not messages or not any(m.get("role") == "assistant" for m in messages):
                raise InputError(f"{path}:{n}: no `messages` with an assistant turn")
            rows.append(
                {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
            )
    if not rows:
        raise InputError(f"{path}: no training examples")
    return Dataset.from_list(rows)


def check_method(method: str, cuda: bool) -> None:
    """QLoRA's 4-bit base needs bitsandbytes on a CUDA GPU; say so before loading anything."""
    if method != "qlora":
        return
    if not cuda:
        raise ConfigError(
            "train.method: qlora needs a CUDA GPU (bitsandbytes 4-bit); use lora or full here"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            "train.method: qlora needs bitsandbytes (pip install bitsandbytes)"
        ) from None


def _dtype(job: TrainJob, cuda: bool) -> Any:
    import torch

    precision = job.train.distributed.mixed_precision
    # Full fine-tuning keeps fp32 master weights (mixed precision autocasts the compute); a frozen
    # LoRA base can sit in the compute dtype and halve its memory.
    if not cuda or job.train.method == "full" or precision == "no":
        return torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float16


def load_student(job: TrainJob, cuda: bool) -> tuple[Any, Any]:
    """(model, tokenizer) of the base model; a tokenizer without a chat template is refused."""
    import functools

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = _load(job.model, AutoTokenizer.from_pretrained)
    if not tokenizer.chat_template:
        raise ConfigError(f"student '{job.model}': the tokenizer has no chat template")
    kwargs: dict[str, Any] = {"dtype": _dtype(job, cuda)}
    if job.train.packing and cuda and importlib.util.find_spec("flash_attn") is not None:
        # TRL packs padding-free: one long sequence per batch. Flash-attention's varlen kernels
        # skip the masked blocks; SDPA computes them (see benchmarks/training_throughput.py).
        kwargs["attn_implementation"] = "flash_attention_2"
    if job.train.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            # ZeRO-3 shards the quantized weights only when their storage dtype is a float.
            bnb_4bit_quant_storage=torch.bfloat16,
        )
        if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true":
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = _load(job.model, functools.partial(AutoModelForCausalLM.from_pretrained, **kwargs))
    return model, tokenizer


def _load(name: str, load: Any) -> Any:
    """Local folder or hub cache first; one line naming the model when it cannot be loaded."""
    try:
        return load_local_first(name, load)
    except HubUnavailable as exc:
        raise ModelError(f"hf:{name}: cannot load model {exc}") from None
    except OSError as exc:
        raise load_error(f"hf:{name}", "model", name, exc) from None


# -- PEFT and trainer settings -----------------------------------------------------------------
def _leaf_names(model: Any, modules: list[Any]) -> list[str]:
    wanted = {id(m) for m in modules}
    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if id(m) in wanted}
    return sorted(names)


def lora_config(train: TrainConfig, model: Any) -> Any:
    """The LoraConfig of `train.lora`; with `train_embeddings_and_norms`, full trainable copies
    of the embeddings (and an untied LM head) and of every norm layer ride along."""
    from peft import LoraConfig

    s = train.lora
    modules_to_save: list[str] | None = None
    tied = bool(getattr(model.config.get_text_config(), "tie_word_embeddings", False))
    if s.train_embeddings_and_norms:
        embeddings = [model.get_input_embeddings()]
        if not tied and model.get_output_embeddings() is not None:
            embeddings.append(model.get_output_embeddings())
        norms = [m for m in model.modules() if "norm" in type(m).__name__.lower()]
        modules_to_save = _leaf_names(model, embeddings) + _leaf_names(model, norms)
    return LoraConfig(
        r=s.r,
        lora_alpha=s.alpha,
        lora_dropout=s.dropout,
        target_modules=s.target_modules,
        modules_to_save=modules_to_save,
        # With tied embeddings the LM head must use the trained copy, or training and the
        # merged model would disagree about the output layer.
        ensure_weight_tying=bool(modules_to_save) and tied,
        bias="none",
        task_type="CAUSAL_LM",
    )


def sft_config(job: TrainJob, *, has_eval: bool, cuda: bool) -> Any:
    from trl import SFTConfig

    t, hp = job.train, job.hp
    precision = t.distributed.mixed_precision
    save: dict[str, Any] = (
        {"save_strategy": "steps", "save_steps": t.save_steps}
        if t.save_steps
        else {"save_strategy": "epoch"}
    )
    return SFTConfig(
        output_dir=str(Path(job.output_dir) / CHECKPOINTS),
        num_train_epochs=hp.epochs,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float below 1 is a ratio of all steps
        weight_decay=t.weight_decay,
        max_length=t.max_length,
        packing=t.packing,
        assistant_only_loss=True,
        seed=t.seed,
        data_seed=t.seed,
        eval_strategy="epoch" if has_eval else "no",
        logging_strategy="steps",
        logging_steps=LOG_FRACTION,
        logging_first_step=True,
        save_total_limit=2,
        report_to=[],
        use_cpu=not cuda,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        # Recomputing activations trades ~30 % speed for the memory a 7B model needs on a GPU;
        # on a CPU run (tests, tiny models) memory is not the limit.
        activation_checkpointing=cuda,
        # Every trainable parameter of an adapter takes part in each step; DDP's search for
        # unused ones is wasted work there. A full fine-tune may have some (MoE experts).
        ddp_find_unused_parameters=None if t.method == "full" else False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=not job.show_progress,
        dataloader_num_workers=0,
        **save,
    )


def build_trainer(job: TrainJob, callbacks: list[Any] | None = None) -> Any:
    """The SFTTrainer of a job, datasets tokenised and masked (`trainer.train_dataset`)."""
    import torch
    from transformers import set_seed
    from trl import SFTTrainer

    cuda = torch.cuda.is_available()
    check_method(job.train.method, cuda)
    if not job.show_progress:
        import datasets
        from transformers.utils import logging as hf_logging

        datasets.disable_progress_bars()
        hf_logging.disable_progress_bar()
    set_seed(job.train.seed)
    model, tokenizer = load_student(job, cuda)
    train_ds = read_messages(job.train_file)
    eval_ds = None
    if job.validation_file and Path(job.validation_file).stat().st_size > 0:
        eval_ds = read_messages(job.validation_file)
    peft_config = lora_config(job.train, model) if job.train.method != "full" else None
    try:
        return SFTTrainer(
            model=model,
            args=sft_config(job, has_eval=eval_ds is not None, cuda=cuda),
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    except ValueError as exc:
        if "chat template" in str(exc).lower():
            raise ConfigError(
                f"student '{job.model}': its chat template has no {{% generation %}} markers and "
                "TRL has no training variant of it, so the loss cannot be limited to the answers"
            ) from None
        raise


# -- checkpoints -------------------------------------------------------------------------------
def last_checkpoint(folder: str | Path, *, clean: bool = False) -> Path | None:
    """The newest complete checkpoint (its trainer_state.json is written last); with `clean`,
    newer incomplete ones (a kill while saving) are removed so they cannot be picked later."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(
        (int(p.name.rsplit("-", 1)[1]), p)
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()
    )
    complete = [p for _, p in found if (p / "trainer_state.json").is_file()]
    last = complete[-1] if complete else None
    if clean:
        for _, path in found:
            if path not in complete:
                shutil.rmtree(path, ignore_errors=True)
    return last


def run_meter() -> Any:
    """A callback recording where this run started (a resumed run starts past step 0) and
    how many tokens it processed in how long."""
    from transformers import TrainerCallback

    class RunMeter(TrainerCallback):
        start_step = 0
        start_tokens = 0
        started = 0.0
        seconds = 0.0
        tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # Called after a checkpoint's state is restored.
            self.start_step, self.start_tokens = state.global_step, state.num_input_tokens_seen
            self.started = time.perf_counter()

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.seconds = time.perf_counter() - self.started
            self.tokens = state.num_input_tokens_seen - self.start_tokens

    return RunMeter()


# -- one experiment ----------------------------------------------------------------------------
def train(job: TrainJob) -> TrainResult:
    """Train one experiment (resuming when a checkpoint exists), save and verify its adapter or
    model, merge when asked, write its training log. Runs on every process of a launch."""

    folder = Path(job.output_dir)
    meter = run_meter()
    trainer = build_trainer(job, callbacks=[meter])
    main = trainer.accelerator.is_main_process
    resume = last_checkpoint(folder / CHECKPOINTS, clean=main)
    trainer.accelerator.wait_for_everyone()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    history = trainer.state.log_history
    if trainer.eval_dataset is not None and not any(
        h.get("step") == trainer.state.global_step and "eval_loss" in h for h in history
    ):
        trainer.evaluate()  # a fractional last epoch ends between evaluations
    output = "model" if job.train.method == "full" else "adapter"
    saving.save_trained(trainer, folder / output)
    if not main:
        return TrainResult(status="succeeded")
    # A fully fine-tuned model stands alone: it is its own "merged" model (an `hf:` spec).
    merged = output if job.train.method == "full" else None
    if job.train.save_merged and job.train.method != "full":
        saving.merge_adapter(job.model, folder / output, folder / "merged")
        merged = "merged"
    result = _result(job, trainer, meter, output, merged, resume)
    logs.write_training_log(folder, {"experiment": job.experiment, **result.model_dump()}, history)
    return result


def _result(
    job: TrainJob, trainer: Any, meter: Any, output: str, merged: str | None, resume: Path | None
) -> TrainResult:
    history = trainer.state.log_history
    train_points, eval_points = logs.train_losses(history), logs.eval_losses(history)
    tokens_per_epoch = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    return TrainResult(
        status="succeeded",
        train_loss=train_points[-1][1] if train_points else None,
        validation_loss=eval_points[-1][1] if eval_points else None,
        steps=trainer.state.global_step,
        start_step=meter.start_step,
        resumed_from=resume.name if resume else None,
        wall_s=round(meter.seconds, 3),
        train_tokens=round(tokens_per_epoch * job.hp.epochs),
        tokens_per_s=round(meter.tokens / meter.seconds, 1) if meter.seconds else None,
        peak_memory_mb=round(logs.peak_memory_mb(), 1),
        output=output,
        merged=merged,
        world_size=trainer.accelerator.num_processes,
    )
