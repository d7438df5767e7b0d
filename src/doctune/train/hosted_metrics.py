"""Losses of a hosted fine-tuning job: from its metrics events while it runs, and from its result
file when it ends (a CSV of `step,train_loss,train_accuracy,valid_loss,...`, which OpenAI serves
base64-encoded). The curve is written as `metrics.csv` beside the job's state, where the report
finds training logs."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob

from doctune.context import Tick
from doctune.foundation.jsonl import atomic_write_text

METRICS_NAME = "metrics.csv"
Row = dict[str, float | None]


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _last(rows: list[Row], key: str) -> float | None:
    for row in reversed(rows):
        if row.get(key) is not None:
            return row[key]
    return None


class LossTracker:
    """What the metrics events of one job said: steps for the progress bar, losses per step."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self.rows: list[Row] = []
        self.step = 0
        self.total_steps: int | None = None
        self.full_valid_loss: float | None = None

    def is_new(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        return True

    def add(self, data: dict[str, Any], tick: Tick) -> None:
        total = _number(data.get("total_steps"))
        if total and int(total) != self.total_steps:
            self.total_steps = int(total)
            tick.total(self.total_steps)
        step = int(_number(data.get("step")) or 0)
        if step > self.step:
            tick.advance(step - self.step)
            self.step = step
        self.rows.append(
            {
                "step": float(step),
                "train_loss": _number(data.get("train_loss")),
                "valid_loss": _number(data.get("valid_loss")),
            }
        )
        # The loss on the whole validation set, reported at the end; per-step valid_loss is
        # measured on a sample of it.
        if _number(data.get("full_valid_loss")) is not None:
            self.full_valid_loss = _number(data.get("full_valid_loss"))

    def final_losses(self, result_rows: list[Row]) -> tuple[float | None, float | None]:
        """(train, validation) at the end: the result file when there is one, else the events."""
        rows = result_rows or self.rows
        validation = self.full_valid_loss
        for key in ("full_valid_loss", "valid_loss"):
            if validation is None:
                validation = _last(rows, key)
        return _last(rows, "train_loss"), validation


def parse_result_csv(raw: bytes) -> list[Row]:
    """The rows of a result file, plain or base64-encoded; [] when it holds no CSV."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text.startswith("step"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return []
    if not text.startswith("step"):
        return []
    return [{k: _number(v) for k, v in r.items() if k} for r in csv.DictReader(io.StringIO(text))]


async def read_result_file(
    client: openai.AsyncOpenAI,
    job: FineTuningJob,
    *,
    log: Callable[[str], None],
    scrub: Callable[[str], str],
) -> list[Row]:
    """The metrics of a finished job's first result file; [] (and one line) when unreadable:
    the losses then come from the events."""
    if not job.result_files:
        return []
    file_id = job.result_files[0]
    try:
        response = await client.files.content(file_id)
    except openai.APIError as exc:
        log(f"job {job.id}: result file {file_id} unreadable ({scrub(str(exc))}); using events")
        return []
    return parse_result_csv(response.content)


def write_metrics_csv(folder: Path, rows: list[Row]) -> Path | None:
    """`metrics.csv` (step, train_loss, valid_loss, ...) for the report's loss curves."""
    if not rows:
        return None
    columns = ["step", "train_loss", "valid_loss"]
    columns += sorted({k for r in rows for k in r} - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else f"{row[k]:g}") for k in columns})
    path = folder / METRICS_NAME
    atomic_write_text(path, buffer.getvalue())
    return path
