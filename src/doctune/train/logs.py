"""Per-experiment training logs: a JSON record (losses, throughput, memory, resume point, the
trainer's whole log history) and a loss-curve PNG, written into the experiment's folder."""

from __future__ import annotations

import math
import resource
import sys
from pathlib import Path
from typing import Any

from doctune.foundation.jsonl import write_json

LOG_NAME = "training_log.json"
CURVE_NAME = "loss_curve.png"


def train_losses(history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(step, loss) of every training log entry (the trainer's running loss)."""
    return [
        (int(h["step"]), float(h["loss"]))
        for h in history
        if "loss" in h and "step" in h and math.isfinite(float(h["loss"]))
    ]


def eval_losses(history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [(int(h["step"]), float(h["eval_loss"])) for h in history if "eval_loss" in h]


def peak_memory_mb() -> float:
    """Peak memory of this process: allocated CUDA memory on a GPU, else the resident set size."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def write_loss_curve(history: list[dict[str, Any]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display; and never pick a GUI backend inside a worker
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    train = train_losses(history)
    evals = eval_losses(history)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1.5)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="validation loss", linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if train or evals:
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_training_log(
    folder: Path, summary: dict[str, Any], history: list[dict[str, Any]]
) -> tuple[Path, Path]:
    """`training_log.json` (the summary plus the log history) and `loss_curve.png`."""
    log_path = folder / LOG_NAME
    write_json(log_path, {**summary, "log_history": history})
    curve = write_loss_curve(history, folder / CURVE_NAME, str(summary.get("experiment", "")))
    return log_path, curve
