"""The one interface every export format implements, and what a written dataset file is.

A format turns each QA record of a split dataset into one row of its file (`convert`), may check
the file it wrote (`check`), and may write files that span every dataset once all are written
(`finish`: LLaMA-Factory's dataset_info.json, its training YAMLs). A format of project-wide
files only (`per_dataset = False`) is never asked to convert.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from doctune.context import RunContext
from doctune.foundation.config import ExportConfig
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.foundation.records import QARecord
from doctune.models.tokens import TokenCounter


@dataclass(frozen=True)
class Exported:
    """One dataset file an export format wrote."""

    format: str
    recipe: str
    split: str
    path: Path
    records: int


class ExportFormat(abc.ABC):
    #: The name `export.formats` and `--format` use; the folder under out/export/.
    name: ClassVar[str]
    #: The manifest kind of its per-dataset files: its own when another stage reads them by kind.
    kind: ClassVar[str] = "export_file"
    suffix: ClassVar[str] = ".jsonl"
    #: Formats this one needs written too (LLaMA-Factory's YAMLs train on the ShareGPT files).
    needs: ClassVar[tuple[str, ...]] = ()
    #: Config sections beyond `export` that decide its files (they join the stage fingerprint).
    sections: ClassVar[tuple[str, ...]] = ()
    per_dataset: ClassVar[bool] = True

    @abc.abstractmethod
    def convert(self, record: QARecord, system_prompt: str) -> dict[str, Any]:
        """One record as one row of this format's file."""

    def write(self, path: Path, rows: list[dict[str, Any]]) -> None:
        write_jsonl(path, rows)

    def check(self, path: Path, config: ExportConfig, counter: TokenCounter) -> None:  # noqa: B027
        """Raise InputError when a written file would not be accepted as it is."""

    def finish(self, ctx: RunContext, written: list[Exported]) -> list[Artifact]:
        """Files across datasets, once every dataset is written; their manifest entries."""
        return []
