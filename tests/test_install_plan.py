"""The set-up's pieces that run without a network: what the clean-machine plan check calls a CUDA
build, and the torch constraint written from the torch installed, local label included. (The
check itself resolves against the registry and runs in CI: `scripts/check_install_plan.py`.)"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def plan_module():
    spec = importlib.util.spec_from_file_location(
        "check_install_plan", ROOT / "scripts" / "check_install_plan.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the +cpu label is Linux's")
def test_cuda_builds_are_named() -> None:
    problems = plan_module().problems
    good = {"torch": "2.13.0+cpu", "transformers": "5.24.0"}
    assert problems(good, "2.13.0+cpu") == []
    cuda = {"torch": "2.14.1", "nvidia-cublas": "13.1.1.3", "transformers": "5.24.0"}
    assert problems(cuda, "2.14.1") == [
        "nvidia-cublas 13.1.1.3",
        "torch 2.14.1 is not a CPU build",
    ]
    assert problems({"torch": "2.14.1+cpu"}, "2.13.0+cpu") == [
        "torch 2.14.1+cpu instead of the 2.13.0+cpu set up first"
    ]
    assert problems({"numpy": "2.0"}, "2.13.0+cpu") == ["no torch in the plan"]


def test_the_constraint_pins_the_installed_torch_with_its_label(tmp_path: Path) -> None:
    out = tmp_path / "constraints-torch.txt"
    script = f'. scripts/torch_build.sh && write_torch_constraint "{sys.executable}" "{out}"'
    subprocess.run(["bash", "-c", script], cwd=ROOT, check=True)
    assert out.read_text() == f"torch=={importlib.metadata.version('torch')}\n"


def test_a_torch_already_installed_is_kept_and_a_bad_choice_refused() -> None:
    # With torch importable, install_torch returns before any pip call, whatever is asked.
    kept = subprocess.run(
        [
            "bash",
            "-c",
            f'. scripts/torch_build.sh && DOCTUNE_TORCH=nonsense install_torch "{sys.executable}"',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert kept.returncode == 0 and kept.stderr == ""
    # `false` stands in for an interpreter without torch: `import torch` fails, the choice is read.
    bad = subprocess.run(
        ["bash", "-c", ". scripts/torch_build.sh && DOCTUNE_TORCH=rocm install_torch false"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "DOCTUNE_TORCH=rocm: expected 'cpu' or 'cuda'" in bad.stderr
