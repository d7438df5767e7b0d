"""Training loss curves from whatever log an experiment left behind.

Local runs log like transformers' Trainer (`log_history`: dicts with `step`, `loss`,
`eval_loss`); hosted jobs give a result CSV (`step,train_loss,valid_loss,...`). Both are read, as
a manifest artifact of kind `training_log` or found under `out/train/<experiment id>/`; an
experiment with no readable log simply has no curve, and the report says so.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctune.foundation.manifest import Artifact
from doctune.models.experiments import ExperimentRow

TRAIN_KEYS = ("loss", "train_loss")
EVAL_KEYS = ("eval_loss", "valid_loss", "validation_loss")
LOG_SUFFIXES = (".json", ".jsonl", ".csv")
# Files under an experiment folder that are configs or data, never logs.
_NOT_LOGS = ("config", "tokenizer", "adapter", "special_tokens", "generation", "dataset")


@dataclass
class LossCurve:
    name: str
    source: str
    train: list[tuple[float, float]] = field(default_factory=list)
    eval: list[tuple[float, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.train or self.eval)


def parse_log(path: Path, name: str) -> LossCurve:
    """The (step, loss) points of one log file; an empty curve when it holds none."""
    entries = _entries(path)
    curve = LossCurve(name=name, source=path.name)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or is_run_summary(entry):
            continue
        step = _number(entry.get("step"))
        step = float(i) if step is None else step
        for keys, points in ((TRAIN_KEYS, curve.train), (EVAL_KEYS, curve.eval)):
            loss = next(
                (_number(entry.get(k)) for k in keys if _number(entry.get(k)) is not None), None
            )
            if loss is not None:
                points.append((step, loss))
    return curve


def is_run_summary(entry: dict[str, Any]) -> bool:
    """The Trainer's end-of-run summary: `train_loss` is the mean over the whole run, not a point
    of the curve (which would jump back up). It is told apart by what it is, a mean loss with the
    run's totals and no per-step `loss`, not by `train_runtime` alone: transformers 5.24 writes
    `train_runtime` into every per-step entry when it counts input tokens. A hosted job's CSV
    has `train_loss` per step and none of the totals."""
    totals = "train_runtime" in entry or "total_flos" in entry
    return totals and "train_loss" in entry and "loss" not in entry


def _entries(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if path.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    if path.suffix == ".jsonl":
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line of a log being written
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    if isinstance(data, dict):
        for key in ("log_history", "history", "logs", "steps"):
            if isinstance(data.get(key), list):
                return data[key]
        return []
    return data if isinstance(data, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def find_curves(
    out_dir: Path, artifacts: list[Artifact], experiments: list[ExperimentRow]
) -> list[LossCurve]:
    """One curve per experiment that has a readable log, in the experiments' order."""
    names = {r.id: r.name for r in experiments}
    curves: dict[str, LossCurve] = {}
    for artifact in artifacts:
        key = artifact.name or Path(artifact.path).parent.name
        path = out_dir / artifact.path
        if key not in curves and path.is_file():
            curve = parse_log(path, names.get(key, key))
            if curve:
                curves[key] = curve
    for row in experiments:
        if row.id in curves:
            continue
        for path in log_candidates(out_dir / "train" / row.id):
            curve = parse_log(path, row.name)
            if curve:
                curves[row.id] = curve
                break
    order = {r.id: i for i, r in enumerate(experiments)}
    return [curves[k] for k in sorted(curves, key=lambda k: (order.get(k, len(order)), k))]


def log_candidates(folder: Path) -> list[Path]:
    """Files in an experiment's folder that may be logs, shallowest first (the final
    trainer_state.json before those of intermediate checkpoints)."""
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in LOG_SUFFIXES
        and not any(word in p.name for word in _NOT_LOGS)
    ]
    return sorted(found, key=lambda p: (len(p.relative_to(folder).parts), p.as_posix()))
