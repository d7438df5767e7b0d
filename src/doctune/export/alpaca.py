"""`alpaca/<recipe>_<split>.json`: a list of `{instruction, input, output, system?}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from doctune.export.format import ExportFormat
from doctune.foundation.jsonl import write_json
from doctune.foundation.records import QARecord


def to_alpaca(record: QARecord, system_prompt: str = "") -> dict[str, Any]:
    # `input` stays empty: LLaMA-Factory joins instruction and input with a newline, so a QA pair
    # puts the whole question in `instruction`.
    row = {"instruction": record.question, "input": "", "output": record.answer}
    if system_prompt:
        row["system"] = system_prompt
    return row


class Alpaca(ExportFormat):
    name = "alpaca"
    kind = "alpaca"
    suffix = ".json"

    def convert(self, record: QARecord, system_prompt: str) -> dict[str, Any]:
        return to_alpaca(record, system_prompt)

    def write(self, path: Path, rows: list[dict[str, Any]]) -> None:
        write_json(path, rows)
