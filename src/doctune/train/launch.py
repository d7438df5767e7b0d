"""Starting an experiment's training processes: one plain worker, or `accelerate launch`.

Every experiment trains in its own process(es): its peak memory is its own, a crash or an
out-of-memory kill takes only that experiment down, and a GPU is empty again for the next one.
With launcher `accelerate`, doctune writes the accelerate config (and the DeepSpeed JSON) into
the experiment folder and runs `accelerate launch --config_file ... -m doctune.train.worker`.

CPU-only multi-process runs (CI, 2 processes on the tiny model): accelerate's `MULTI_CPU` type
starts processes only through `mpirun`; doctune writes `MULTI_GPU` with `use_cpu: true` instead,
which starts them through torchrun, and each process, finding no GPU and `use_cpu`, joins a
`MULTI_CPU` group over gloo.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import yaml

from doctune.foundation.config import DistributedConfig
from doctune.foundation.errors import ConfigError
from doctune.foundation.jsonl import atomic_write_text, write_json
from doctune.train import workers
from doctune.train.local import RESULT_NAME, TrainJob, TrainResult

JOB_NAME = "job.json"
LOG_NAME = "worker.log"
ACCELERATE_CONFIG = "accelerate_config.yaml"


def deepspeed_config(stage: str) -> dict[str, Any]:
    """A DeepSpeed ZeRO-2 or ZeRO-3 config for the HF Trainer: "auto" values are filled from the
    training arguments (batch size, accumulation, precision, clipping), so one file fits every
    experiment of a grid."""
    zero: dict[str, Any] = {
        "stage": 3 if stage == "zero3" else 2,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if stage == "zero3":
        zero |= {
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_max_live_parameters": 1e9,
            "stage3_max_reuse_distance": 1e9,
            # The save gathers the shards into real tensors; without it the adapter is empty.
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    else:
        zero |= {"allgather_partitions": True, "allgather_bucket_size": 2e8, "reduce_scatter": True}
    return {
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "steps_per_print": 1_000_000,  # the trainer logs; DeepSpeed's own lines are noise
        "wall_clock_breakdown": False,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_distributed(dist: DistributedConfig, cuda: bool) -> None:
    """Refuse what cannot run, before any process starts: one line naming the setting."""
    many = dist.num_processes > 1 or dist.num_machines > 1 or dist.deepspeed or dist.fsdp
    if dist.launcher == "local" and many:
        raise ConfigError(
            "train.distributed: num_processes/num_machines/deepspeed/fsdp need launcher "
            "'accelerate' (--launcher accelerate)"
        )
    if dist.num_machines > 1 and not (dist.main_process_ip and dist.main_process_port):
        raise ConfigError(
            "train.distributed: num_machines > 1 needs main_process_ip and main_process_port"
        )
    if dist.deepspeed:
        if not cuda:
            raise ConfigError(
                f"train.distributed.deepspeed: {dist.deepspeed} needs CUDA GPUs; none here"
            )
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(
                "train.distributed.deepspeed: DeepSpeed is not installed (pip install deepspeed)"
            )


def accelerate_config(
    dist: DistributedConfig, *, cuda: bool, deepspeed_file: Path | None = None
) -> dict[str, Any]:
    """The `accelerate launch --config_file` contents for a distributed setting."""
    port = dist.main_process_port or free_port()
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "num_processes": dist.num_processes,  # accelerate's meaning: all machines together
        "num_machines": dist.num_machines,
        "machine_rank": dist.machine_rank,
        "main_process_ip": dist.main_process_ip or "127.0.0.1",
        "main_process_port": port,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": not cuda,
        "gpu_ids": "all",
        "debug": False,
    }
    if dist.deepspeed:
        # With a DeepSpeed JSON, accelerate refuses a mixed_precision of its own: the JSON's
        # "auto" takes the trainer's bf16/fp16 flags.
        cfg["distributed_type"] = "DEEPSPEED"
        cfg["deepspeed_config"] = {
            "deepspeed_config_file": str(deepspeed_file),
            "zero3_init_flag": dist.deepspeed == "zero3",
            "deepspeed_multinode_launcher": "standard",
        }
        return cfg
    cfg["mixed_precision"] = dist.mixed_precision
    if dist.fsdp:
        cfg["distributed_type"] = "FSDP"
        cfg["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",  # the model's _no_split_modules
            "fsdp_reshard_after_forward": True,
            # Saving gathers a full state dict: the adapter on disk is a normal PEFT adapter.
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_offload_params": False,
            "fsdp_cpu_ram_efficient_loading": False,
            "fsdp_activation_checkpointing": False,
        }
    elif dist.num_processes > 1 or dist.num_machines > 1:
        cfg["distributed_type"] = "MULTI_GPU"  # also on CPUs, see the module docstring
    else:
        cfg["distributed_type"] = "NO"
    return cfg


def write_launch_files(job_dir: Path, dist: DistributedConfig, *, cuda: bool) -> Path:
    """Write the accelerate config (and DeepSpeed JSON) into the experiment folder."""
    ds_file = None
    if dist.deepspeed:
        ds_file = job_dir / f"deepspeed_{dist.deepspeed}.json"
        write_json(ds_file, deepspeed_config(dist.deepspeed))
    path = job_dir / ACCELERATE_CONFIG
    text = yaml.safe_dump(
        accelerate_config(dist, cuda=cuda, deepspeed_file=ds_file), sort_keys=False
    )
    atomic_write_text(path, text)
    return path


def command(job_path: Path, dist: DistributedConfig, *, cuda: bool) -> list[str]:
    """The command line that trains the job: the plain worker, or accelerate launching it."""
    worker = ["-m", "doctune.train.worker", str(job_path)]
    if dist.launcher == "local":
        return [sys.executable, *worker]
    config = write_launch_files(job_path.parent, dist, cuda=cuda)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        *worker,
    ]


def _tee(cmd: list[str], log_path: Path, echo: IO[str] | None) -> int:
    """Run `cmd`, copying its output into the log (and to `echo`, progress bars included).

    The worker gets its own session (a terminal's Ctrl-C reaches doctune, which ends the whole
    group, never half of it) and dies with doctune however doctune dies (see `workers`)."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=workers.worker_env(),
            start_new_session=True,
            preexec_fn=workers.die_with_parent if workers.HAS_PDEATHSIG else None,
        )
        assert proc.stdout is not None
        try:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                log.write(chunk)
                log.flush()
                if echo is not None:
                    echo.write(chunk.decode("utf-8", errors="replace"))
                    echo.flush()
        except BaseException:
            workers.end_group(proc)  # Ctrl-C, or anything else that stops us waiting
            raise
        return proc.wait()


def last_error(log_path: Path) -> str:
    """The most telling line of a worker log: the last that names an error, else the last."""
    if not log_path.is_file():
        return ""
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    for line in reversed(lines[-200:]):
        if "error" in line.lower() or "killed" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else ""


def run_job(job: TrainJob, dist: DistributedConfig, *, echo: IO[str] | None = None) -> TrainResult:
    """Write the job, start its process(es), wait, and read what the main process reported."""
    import torch

    cuda = torch.cuda.is_available()
    check_distributed(dist, cuda)
    job_dir = Path(job.output_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    job_path = job_dir / JOB_NAME
    atomic_write_text(job_path, job.model_dump_json(indent=2))
    result_path = job_dir / RESULT_NAME
    result_path.unlink(missing_ok=True)
    code = _tee(command(job_path, dist, cuda=cuda), job_dir / LOG_NAME, echo)
    if result_path.is_file():
        result = TrainResult.model_validate_json(result_path.read_text(encoding="utf-8"))
        if result.status == "failed" or code == 0:
            return result
    why = "killed" if code < 0 else f"exit code {code}"
    detail = last_error(job_dir / LOG_NAME)
    return TrainResult(
        status="failed",
        error=f"training process ended ({why})"
        + (f": {detail}" if detail else "")
        + f" (log: {job_dir / LOG_NAME})",
    )
