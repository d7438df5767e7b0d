"""Local SFT on the tiny model: the loss mask, learning the answers (and stopping), resuming after
a kill, and the check that refuses an adapter saved with empty tensors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tests.train.helpers import (
    QA,
    SYSTEM,
    make_job,
    one_torch_thread,  # noqa: F401 (a fixture, used by pytestmark)
)

from doctune.foundation.config import ClientConfig, ModelSettings, TrainConfig
from doctune.foundation.errors import ConfigError
from doctune.models import ModelClient, load_backend
from doctune.models.base import Message
from doctune.train import local
from doctune.train.saving import SavedWeightsError, expected_tensors, verify_saved_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_only_the_answer_and_its_end_of_turn_carry_labels(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    job = make_job(tmp_path, tiny_model_dir, pairs=QA[:4])
    trainer = local.build_trainer(job)
    tok = trainer.processing_class
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    for example, (question, answer) in zip(trainer.train_dataset, QA[:4], strict=True):
        ids, labels = example["input_ids"], example["labels"]
        trained = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
        positions = [n for n, lab in enumerate(labels) if lab != -100]
        # One contiguous span at the end: the assistant turn. TRL's Qwen2.5 training template
        # counts the newlines framing the turn as part of it (the first is already in the
        # inference prompt, the last follows the stop token): in effect, answer + end of turn.
        assert positions == list(range(positions[0], len(ids)))
        assert tok.decode(trained) == "\n" + answer + "<|im_end|>\n"
        assert im_end in trained  # the model learns to stop
        prompt = tok.decode(ids[: positions[0]])
        assert SYSTEM in prompt and question in prompt and answer not in prompt
        assert prompt.endswith("<|im_start|>assistant")


def test_qlora_on_a_cpu_is_one_config_line() -> None:
    with pytest.raises(ConfigError, match=r"train.method: qlora needs a CUDA GPU"):
        local.check_method("qlora", cuda=False)
    local.check_method("lora", cuda=False)


def test_embeddings_and_norms_train_as_tied_copies(tiny_model_dir: Path) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = local.lora_config(TrainConfig(lora={"train_embeddings_and_norms": True}), model)
    assert set(cfg.modules_to_save) == {
        "embed_tokens",
        "input_layernorm",
        "post_attention_layernorm",
        "norm",
    }
    assert cfg.ensure_weight_tying
    peft_model = get_peft_model(model, cfg)
    # The LM head reads the trained embedding copy, not the frozen random original.
    assert peft_model.get_output_embeddings().weight is peft_model.get_input_embeddings().weight
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("embed_tokens.modules_to_save" in n for n in trainable)
    assert any("norm.modules_to_save" in n for n in trainable)
    plain = local.lora_config(TrainConfig(), model)
    assert plain.modules_to_save is None and not plain.ensure_weight_tying


def test_a_template_without_generation_markers_is_refused(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "chat_template.jinja").write_text(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    )
    with pytest.raises(ConfigError, match="generation"):
        local.build_trainer(make_job(tmp_path, model, pairs=QA[:2]))


def test_last_checkpoint_skips_and_removes_incomplete_ones(tmp_path: Path) -> None:
    for step, complete in ((5, True), (10, True), (15, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert local.last_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    assert (tmp_path / "checkpoint-15").exists()
    assert local.last_checkpoint(tmp_path, clean=True) == tmp_path / "checkpoint-10"
    assert not (tmp_path / "checkpoint-15").exists()
    assert local.last_checkpoint(tmp_path / "none") is None


# -- the saved adapter is real -----------------------------------------------------------------
def _peft_model(tiny_model_dir: Path):  # -> PeftModel
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = local.lora_config(TrainConfig(lora={"train_embeddings_and_norms": True}), model)
    return get_peft_model(model, cfg)


def _rewrite(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    save_file(change(load_file(path)), path)


def test_a_real_adapter_passes_and_an_emptied_one_fails(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    model = _peft_model(tiny_model_dir)
    expected = expected_tensors(model)
    model.save_pretrained(tmp_path / "good")
    assert verify_saved_weights(tmp_path / "good", expected, adapter=True) == len(expected)

    # What a ZeRO-3 rank holds without gathering: every tensor a [0]-shaped placeholder.
    model.save_pretrained(tmp_path / "empty")
    _rewrite(tmp_path / "empty", lambda sd: {k: torch.empty(0) for k in sd})
    with pytest.raises(SavedWeightsError, match=r"are empty .*shape \[0\].*gathered"):
        verify_saved_weights(tmp_path / "empty", expected, adapter=True)

    model.save_pretrained(tmp_path / "missing")
    dropped = sorted(expected)[0]
    _rewrite(tmp_path / "missing", lambda sd: {k: v for k, v in sd.items() if k != dropped})
    with pytest.raises(SavedWeightsError, match="1 adapter tensors missing"):
        verify_saved_weights(tmp_path / "missing", expected, adapter=True)

    with pytest.raises(SavedWeightsError, match=r"no adapter_model\.safetensors"):
        verify_saved_weights(tmp_path / "nothing", expected, adapter=True)


@pytest.mark.filterwarnings("ignore:Adapter .* invalid shape")
def test_the_zero3_pitfall_is_caught(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Mimic ZeRO-3 partitioning: local data empty, the real shape in `ds_shape`. The naive
    `save_pretrained` then writes empty tensors; the expected shapes still come out right, and
    the check refuses the file."""
    model = _peft_model(tiny_model_dir)
    full = expected_tensors(model)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.ds_shape = param.shape
                param.data = torch.empty(0, dtype=param.dtype)
    assert expected_tensors(model) == full
    model.save_pretrained(tmp_path / "zero3")
    with pytest.raises(SavedWeightsError, match="empty"):
        verify_saved_weights(tmp_path / "zero3", expected_tensors(model), adapter=True)


def test_a_full_model_save_is_checked_by_size(tmp_path: Path, tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.save_pretrained(tmp_path)
    expected = expected_tensors(model)
    assert verify_saved_weights(tmp_path, expected, adapter=False) > 0
    weights = load_file(tmp_path / "model.safetensors")
    weights.pop(next(k for k in weights if "mlp" in k))
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(SavedWeightsError, match="save is incomplete"):
        verify_saved_weights(tmp_path, expected, adapter=False)


# -- training for real -------------------------------------------------------------------------
async def _answers(spec: str) -> list[str]:
    settings = ModelSettings(batch_size=16, max_new_tokens=32)
    client = ModelClient(load_backend(spec, settings, ClientConfig()), settings=settings)
    try:
        replies = await asyncio.gather(
            *[
                client.chat(
                    [Message(role="system", content=SYSTEM), Message(role="user", content=q)],
                    temperature=0.0,
                    max_tokens=32,
                )
                for q, _ in QA
            ]
        )
    finally:
        await client.aclose()
    return [r.text for r in replies]


@pytest.mark.slow
def test_trained_adapter_answers_what_it_was_taught(tmp_path: Path, tiny_model_dir: Path) -> None:
    job = make_job(tmp_path, tiny_model_dir, hp={"epochs": 40}, save_steps=10_000, save_merged=True)
    result = local.train(job)
    assert result.status == "succeeded" and result.steps == 160
    run = Path(job.output_dir)
    history = json.loads((run / "training_log.json").read_text())["log_history"]
    first_loss = next(h["loss"] for h in history if "loss" in h)
    # Exact answers can appear at a loss near 1.8; require the loss to have really dropped.
    assert first_loss > 4.0 and result.train_loss is not None and result.train_loss < 0.1
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    assert len(evals) == 40 and evals[-1] < evals[0]
    assert result.tokens_per_s and result.tokens_per_s > 0 and result.peak_memory_mb
    assert (run / "loss_curve.png").stat().st_size > 1000

    expected = [a for _, a in QA]
    adapter = asyncio.run(_answers(f"hf:{tiny_model_dir}+{run / 'adapter'}"))
    assert adapter == expected  # greedy decoding stops at the learned end of turn
    merged = asyncio.run(_answers(f"hf:{run / 'merged'}"))
    assert merged == expected
    untrained = asyncio.run(_answers(f"hf:{tiny_model_dir}"))
    assert sum(a == b for a, b in zip(untrained, expected, strict=True)) == 0


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    job = make_job(tmp_path, tiny_model_dir, hp={"epochs": 20}, save_steps=4)  # 80 steps
    run = Path(job.output_dir)
    run.mkdir(parents=True)
    job_path = run / "job.json"
    job_path.write_text(job.model_dump_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "doctune.train.worker", str(job_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 180
    while local.last_checkpoint(run / local.CHECKPOINTS) is None:
        assert proc.poll() is None, "the worker ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (run / "adapter").exists() and not (run / local.RESULT_NAME).exists()
    checkpoint = local.last_checkpoint(run / local.CHECKPOINTS)
    assert checkpoint is not None
    step = int(checkpoint.name.rsplit("-", 1)[1])
    assert 0 < step < 80

    result = local.train(job)
    assert result.status == "succeeded" and result.steps == 80
    assert result.resumed_from is not None and result.start_step >= step > 0
    log = json.loads((run / "training_log.json").read_text())
    assert log["start_step"] == result.start_step
    # The trainer's own state: the history holds steps from before the kill, once each.
    steps = [h["step"] for h in log["log_history"] if "loss" in h]
    assert steps[0] < result.start_step and steps == sorted(set(steps))
