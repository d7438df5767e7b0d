"""`accelerate launch`: the configs doctune writes (CPU processes, DeepSpeed ZeRO-2/3, FSDP,
several machines), what it refuses before starting, and a real 2-process CPU run.

DeepSpeed cannot run here (no GPU, not installed): its configs are checked as files, parsed by
accelerate's own readers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from tests.train.helpers import (
    QA,
    make_job,
    one_torch_thread,  # noqa: F401 (a fixture, used by pytestmark)
)

from doctune.foundation.config import DistributedConfig
from doctune.foundation.errors import ConfigError
from doctune.train import launch, local
from doctune.train.saving import expected_tensors, verify_saved_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dist(**kw: object) -> DistributedConfig:
    return DistributedConfig(launcher="accelerate", **kw)  # type: ignore[arg-type]


def _read(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_two_cpu_processes_start_through_torchrun(tmp_path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    path = launch.write_launch_files(tmp_path, _dist(num_processes=2), cuda=False)
    cfg = _read(path)
    # MULTI_CPU would start one process without mpirun; MULTI_GPU + use_cpu starts two that
    # each join a gloo group.
    assert cfg["distributed_type"] == "MULTI_GPU" and cfg["use_cpu"] is True
    assert cfg["num_processes"] == 2 and cfg["mixed_precision"] == "no"
    assert 0 < cfg["main_process_port"] < 65536
    parsed = load_config_from_file(str(path))
    assert parsed.num_processes == 2 and parsed.use_cpu is True
    single = launch.accelerate_config(_dist(), cuda=True)
    assert single["distributed_type"] == "NO" and single["use_cpu"] is False


def test_deepspeed_zero3_config_gathers_weights_on_save(tmp_path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils.deepspeed import HfDeepSpeedConfig

    dist = _dist(num_processes=4, deepspeed="zero3", mixed_precision="bf16")
    path = launch.write_launch_files(tmp_path, dist, cuda=True)
    cfg = _read(path)
    assert cfg["distributed_type"] == "DEEPSPEED"
    # accelerate refuses a mixed_precision of its own next to a DeepSpeed JSON.
    assert "mixed_precision" not in cfg
    ds_path = Path(cfg["deepspeed_config"]["deepspeed_config_file"])
    assert ds_path == tmp_path / "deepspeed_zero3.json" and ds_path.is_file()
    assert cfg["deepspeed_config"]["zero3_init_flag"] is True
    assert load_config_from_file(str(path)).distributed_type == "DEEPSPEED"

    ds = json.loads(ds_path.read_text())
    zero = ds["zero_optimization"]
    assert zero["stage"] == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True
    # Filled from each experiment's training arguments, so one file fits a whole grid.
    for key in (
        "train_micro_batch_size_per_gpu",
        "gradient_accumulation_steps",
        "train_batch_size",
    ):
        assert ds[key] == "auto"
    assert ds["bf16"] == {"enabled": "auto"}
    parsed = HfDeepSpeedConfig(str(ds_path))
    assert parsed.is_zero3()
    assert parsed.get_value("zero_optimization.stage3_gather_16bit_weights_on_model_save")


def test_deepspeed_zero2_config(tmp_path: Path) -> None:
    from accelerate.utils.deepspeed import HfDeepSpeedConfig

    launch.write_launch_files(tmp_path, _dist(num_processes=2, deepspeed="zero2"), cuda=True)
    ds = json.loads((tmp_path / "deepspeed_zero2.json").read_text())
    assert ds["zero_optimization"]["stage"] == 2
    assert "stage3_gather_16bit_weights_on_model_save" not in ds["zero_optimization"]
    parsed = HfDeepSpeedConfig(str(tmp_path / "deepspeed_zero2.json"))
    assert parsed.is_zero2() and not parsed.is_zero3()


def test_fsdp_config_saves_a_full_state_dict(tmp_path: Path) -> None:
    cfg = _read(launch.write_launch_files(tmp_path, _dist(num_processes=8, fsdp=True), cuda=True))
    assert cfg["distributed_type"] == "FSDP" and cfg["mixed_precision"] == "no"
    fsdp = cfg["fsdp_config"]
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP" and fsdp["fsdp_version"] == 2


def test_multi_node_settings_pass_through() -> None:
    dist = _dist(
        num_processes=16, num_machines=2, machine_rank=1, main_process_ip="10.0.0.1",
        main_process_port=29555,
    )  # fmt: skip
    cfg = launch.accelerate_config(dist, cuda=True)
    assert (cfg["num_processes"], cfg["num_machines"], cfg["machine_rank"]) == (16, 2, 1)
    assert (cfg["main_process_ip"], cfg["main_process_port"]) == ("10.0.0.1", 29555)
    assert cfg["distributed_type"] == "MULTI_GPU"


@pytest.mark.parametrize(
    ("dist", "cuda", "message"),
    [
        (DistributedConfig(num_processes=2), False, "need launcher 'accelerate'"),
        (DistributedConfig(fsdp=True), True, "need launcher 'accelerate'"),
        (_dist(deepspeed="zero3"), False, "zero3 needs CUDA GPUs"),
        (_dist(num_machines=2), True, "needs main_process_ip and main_process_port"),
    ],
)
def test_what_cannot_run_is_refused_in_one_line(
    dist: DistributedConfig, cuda: bool, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        launch.check_distributed(dist, cuda)


def test_the_command_lines(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    plain = launch.command(job, DistributedConfig(), cuda=False)
    assert plain == [sys.executable, "-m", "doctune.train.worker", str(job)]
    launched = launch.command(job, _dist(num_processes=2), cuda=False)
    assert launched[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert launched[3:5] == ["--config_file", str(tmp_path / launch.ACCELERATE_CONFIG)]
    assert launched[5:] == ["-m", "doctune.train.worker", str(job)]


def test_last_error_finds_the_telling_line(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("loading\nValueError: bad thing\nexiting\n")
    assert launch.last_error(log) == "ValueError: bad thing"
    assert launch.last_error(tmp_path / "none.log") == ""


@pytest.mark.slow
def test_two_cpu_processes_train_and_save_a_loadable_adapter(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dist = _dist(num_processes=2)
    job = make_job(tmp_path, tiny_model_dir, pairs=QA[:8], hp={"epochs": 2, "batch_size": 2})
    job = job.model_copy(update={"train": job.train.model_copy(update={"distributed": dist})})
    result = launch.run_job(job, dist)
    run = Path(job.output_dir)
    assert result.status == "succeeded", (run / launch.LOG_NAME).read_text()[-3000:]
    assert result.world_size == 2
    # 8 examples, 2 processes x batch 2: 2 steps per epoch.
    assert result.steps == 4
    assert "MULTI_CPU" not in (run / launch.ACCELERATE_CONFIG).read_text()

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(run / "adapter")
    )
    expected = expected_tensors(model)
    assert verify_saved_weights(run / "adapter", expected, adapter=True) == len(expected)
    # The weights moved away from their initialisation (LoRA B starts at zero).
    b = next(p for n, p in model.named_parameters() if "lora_B" in n)
    assert b.abs().sum() > 0
    assert local.last_checkpoint(run / local.CHECKPOINTS) is not None


@pytest.mark.slow
def test_a_failing_worker_reports_one_line(tmp_path: Path) -> None:
    job = make_job(tmp_path, tmp_path / "no-such-model", pairs=QA[:2])
    result = launch.run_job(job, DistributedConfig())
    assert result.status == "failed"
    assert result.error and "no-such-model" in result.error and "\n" not in result.error
