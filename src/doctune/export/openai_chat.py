"""`openai/<recipe>_<split>.jsonl`: OpenAI chat fine-tuning lines (`{"messages": [...]}`), checked
with the cookbook's rules (`doctune.foundation.openai_checks`); a file that fails stops the stage,
because the hosted route uploads it as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from doctune.export.format import ExportFormat
from doctune.foundation.config import ExportConfig
from doctune.foundation.openai_checks import validate_openai_jsonl
from doctune.foundation.records import QARecord
from doctune.models.tokens import TokenCounter


def to_openai(record: QARecord, system_prompt: str = "") -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [
        {"role": "user", "content": record.question},
        {"role": "assistant", "content": record.answer},
    ]
    return {"messages": messages}


class OpenAIChat(ExportFormat):
    name = "openai"
    kind = "openai_jsonl"

    def convert(self, record: QARecord, system_prompt: str) -> dict[str, Any]:
        return to_openai(record, system_prompt)

    def check(self, path: Path, config: ExportConfig, counter: TokenCounter) -> None:
        validate_openai_jsonl(path, config.max_tokens_per_example, counter).raise_for_errors()
