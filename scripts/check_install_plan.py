"""Check that doctune installs on a clean machine with a CPU build of PyTorch.

Resolves what scripts/setup.sh would install there, with `pip install --isolated --dry-run
--ignore-installed --report` (isolated: this machine's user pip configuration, its local wheel
folder and mirrors, are not used), in two steps as setup.sh does them: torch alone from the
PyTorch CPU wheel index, then doctune with every extra constrained to that torch. Fails (exit 1)
when either cannot be resolved, or when the plan pulls a CUDA build: any nvidia-* package, or a
torch without the "+cpu" label (Linux, where PyPI's torch is a CUDA build).

Where the PyTorch CPU index cannot be reached (a machine with no access but to PyPI), a local
CPU wheel stands in for it: the folder in DOCTUNE_TORCH_WHEELS, else the find-links folders of
pip's configuration; only their torch-*+cpu wheels are offered, and the output says so.

    python scripts/check_install_plan.py [--report-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = os.environ.get("TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")
EXTRAS = ".[all,dev]"


def pip_plan(args: list[str], report: Path) -> tuple[dict | None, str]:
    """A dry-run resolution; (the JSON report, pip's output) or (None, output) on failure."""
    cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed"]
    cmd += ["--quiet", "--report", str(report), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not report.is_file():
        return None, output
    return json.loads(report.read_text()), output


def installs(report: dict) -> dict[str, str]:
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in report["install"]}


def local_cpu_wheels(work: Path) -> Path | None:
    """A folder holding only the torch CPU wheels found locally (see the module docstring)."""
    configured = os.environ.get("DOCTUNE_TORCH_WHEELS")
    folders = [configured] if configured else []
    if not folders:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
        ).stdout
        for line in listing.splitlines():
            key, _, value = line.partition("=")
            if key.endswith("find-links"):
                folders += value.strip("'\"").split()
    out = work / "torch-wheels"
    out.mkdir()
    for folder in dict.fromkeys(folders):  # the same folder may be configured twice
        for wheel in Path(folder).glob("torch-*+cpu*.whl"):
            if not (out / wheel.name).exists():
                (out / wheel.name).symlink_to(wheel)
    return out if any(out.iterdir()) else None


def torch_source(work: Path) -> tuple[str, list[str], str]:
    """(torch version, pip arguments that find it, where it comes from)."""
    probe = ["--retries", "1", "--no-deps", "--index-url", CPU_INDEX, "torch"]
    report, output = pip_plan(probe, work / "t.json")
    if report is not None:
        return installs(report)["torch"], ["--extra-index-url", CPU_INDEX], CPU_INDEX
    wheels = local_cpu_wheels(work)
    if wheels is None:
        last = output.splitlines()[-1] if output else ""
        sys.exit(f"FAIL: no CPU build of torch: {CPU_INDEX} cannot be resolved ({last})")
    report, output = pip_plan(
        ["--no-deps", "--no-index", "--find-links", str(wheels), "torch"], work / "t.json"
    )
    if report is None:
        sys.exit(f"FAIL: the local CPU wheels in {wheels} do not install here: {output[-300:]}")
    names = ", ".join(sorted(p.name for p in wheels.iterdir()))
    print(f"note: {CPU_INDEX} cannot be reached from here; the local wheel(s) {names} stand in")
    return installs(report)["torch"], ["--find-links", str(wheels)], "a local CPU wheel"


def problems(plan: dict[str, str], torch: str) -> list[str]:
    found = [f"{name} {version}" for name, version in plan.items() if name.startswith("nvidia-")]
    got = plan.get("torch")
    if got is None:
        found.append("no torch in the plan")
    elif got != torch:
        found.append(f"torch {got} instead of the {torch} set up first")
    elif sys.platform.startswith("linux") and not re.search(r"\+cpu$", got):
        found.append(f"torch {got} is not a CPU build")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report-dir", type=Path, help="Keep pip's JSON reports here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doctune-plan-") as tmp:
        work = args.report_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        torch, source_args, source = torch_source(Path(tmp))
        constraint = Path(tmp) / "constraints-torch.txt"
        constraint.write_text(f"torch=={torch}\n")
        report, output = pip_plan(
            ["-c", str(constraint), *source_args, "-e", EXTRAS], work / "plan.json"
        )
        if report is None:
            print(output[-2000:], file=sys.stderr)
            print(f"FAIL: doctune{EXTRAS[1:]} with torch=={torch} cannot be resolved")
            return 1
        plan = installs(report)
        bad = problems(plan, torch)
        if bad:
            print("FAIL: the clean-machine install pulls a CUDA build: " + "; ".join(bad))
            return 1
        print(
            f"PASS: {len(plan)} packages resolve on a clean machine, torch {torch} "
            f"from {source}, no nvidia-* package"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
