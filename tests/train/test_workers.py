"""Training workers cannot outlive their run: own session, killed by the kernel when doctune dies
(kill -9 included), ended with doctune on Ctrl-C, and started without API keys. The rerun after
a kill resumes from the checkpoint the dead run left."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from tests.train.helpers import (
    make_job,
    one_torch_thread,  # noqa: F401 (a fixture, used by pytestmark)
)

from doctune.foundation.config import DistributedConfig
from doctune.foundation.jsonl import FILE_MODE
from doctune.train import launch, local, workers

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# A doctune stand-in that runs one job through the real launcher, as the train stage does.
PARENT = (
    # A shell starts background jobs with SIGINT ignored, and Python keeps it so (CI runs this
    # suite in the background): doctune started from a terminal has Python's default handler.
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from pathlib import Path\n"
    "from doctune.foundation.config import DistributedConfig\n"
    "from doctune.train import launch\n"
    "from doctune.train.local import TrainJob\n"
    "job = TrainJob.model_validate_json(Path(sys.argv[1]).read_text())\n"
    "launch.run_job(job, DistributedConfig())\n"
)
PROBE = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None)\n"
    "sig = ctypes.c_int()\n"
    "libc.prctl(2, ctypes.byref(sig))\n"  # PR_GET_PDEATHSIG
    "print('pdeathsig', sig.value)\n"
    "print('own session', os.getsid(0) == os.getpid())\n"
    "print('env', ' '.join(sorted(os.environ)))\n"
)


def test_secrets_are_not_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {
        "OPENAI_API_KEY": False,
        "OPENAI_BASE_URL": False,
        "WANDB_API_KEY": False,
        "AWS_SECRET_ACCESS_KEY": False,
        "GITHUB_TOKEN": False,
        "DB_PASSWORD": False,
        "HF_TOKEN": True,  # a gated base model downloads with it
        "TOKENIZERS_PARALLELISM": True,
        "OMP_NUM_THREADS": True,
    }
    for name in names:
        monkeypatch.setenv(name, "value")
    env = workers.worker_env()
    assert {name: name in env for name in names} == names
    assert env["PYTHONUNBUFFERED"] == "1"


@pytest.mark.skipif(not workers.HAS_PDEATHSIG, reason="PR_SET_PDEATHSIG is Linux only")
def test_the_launched_process_has_its_session_death_signal_and_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-pass")
    log = tmp_path / "worker.log"
    assert launch._tee([sys.executable, "-c", PROBE], log, None) == 0
    text = log.read_text()
    assert f"pdeathsig {int(signal.SIGKILL)}" in text
    assert "own session True" in text
    env = text.split("env ", 1)[1].split()
    assert "OPENAI_API_KEY" not in env and "sk-must-not-pass" not in text and "PATH" in env


def start_parent(
    tmp_path: Path, tiny_model_dir: Path, epochs: int = 20
) -> tuple[subprocess.Popen[bytes], Path]:
    job = make_job(tmp_path, tiny_model_dir, hp={"epochs": epochs}, save_steps=4)  # 4 an epoch
    job_file = tmp_path / "job-input.json"
    job_file.write_text(job.model_dump_json())
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(job_file)])
    return parent, Path(job.output_dir)


def wait_for_worker(parent: subprocess.Popen[bytes], run: Path) -> psutil.Process:
    """The worker, once it has written its first checkpoint (bounded: a broken setup fails)."""
    deadline = time.monotonic() + 180
    while local.last_checkpoint(run / local.CHECKPOINTS) is None:
        assert parent.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 180 s"
        time.sleep(0.05)
    children = psutil.Process(parent.pid).children(recursive=True)
    assert len(children) == 1
    return children[0]


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # dead, waiting for a reaper
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_kill_9_of_doctune_takes_the_worker_and_the_rerun_resumes(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    parent, run = start_parent(tmp_path, tiny_model_dir)
    worker = wait_for_worker(parent, run)
    parent.send_signal(signal.SIGKILL)
    assert parent.wait() == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(worker), "the worker outlived its run by 5 s"
    checkpoint = local.last_checkpoint(run / local.CHECKPOINTS)
    assert checkpoint is not None and not (run / local.RESULT_NAME).exists()
    step = int(checkpoint.name.rsplit("-", 1)[1])

    job = make_job(tmp_path, tiny_model_dir, hp={"epochs": 20}, save_steps=4)
    result = launch.run_job(job, DistributedConfig())
    assert result.status == "succeeded" and result.steps == 80, result.error
    assert result.resumed_from is not None and result.start_step >= step > 0
    # The saved adapter is readable by whoever the umask lets read it (0644 under 022).
    saved = [p for p in (run / "adapter").rglob("*") if p.is_file()]
    assert saved and {p.stat().st_mode & 0o777 for p in saved} == {FILE_MODE}


@pytest.mark.slow
def test_ctrl_c_ends_the_worker_with_doctune(tmp_path: Path, tiny_model_dir: Path) -> None:
    # 2,000 steps, so the run is surely still training when the signal comes.
    parent, run = start_parent(tmp_path, tiny_model_dir, epochs=500)
    worker = wait_for_worker(parent, run)
    parent.send_signal(signal.SIGINT)  # what a terminal sends to doctune alone: own session
    assert parent.wait(timeout=60) != 0  # interrupted, not finished
    assert gone(worker), "doctune stopped but left its worker running"
    assert not (run / local.RESULT_NAME).exists()
