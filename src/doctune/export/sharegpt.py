"""`sharegpt/<recipe>_<split>.jsonl`: `{"conversations": [{"from": "system"|"human"|"gpt",
"value": ...}]}`, with one `sharegpt/dataset_info.json` naming every non-empty file for
LLaMA-Factory (`dataset: <project>_<recipe>_<split>`, `dataset_dir: .../sharegpt`)."""

from __future__ import annotations

import re
from typing import Any

from doctune.context import RunContext
from doctune.export.format import Exported, ExportFormat
from doctune.foundation.jsonl import write_json
from doctune.foundation.manifest import Artifact
from doctune.foundation.records import QARecord

DATASET_INFO_NAME = "dataset_info.json"
# LLaMA-Factory's sharegpt tags (data/README.md, parser.DatasetAttr): these are its defaults,
# written out anyway so the entry does not depend on defaults that a release may change.
SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}


def to_sharegpt(record: QARecord, system_prompt: str = "") -> dict[str, Any]:
    """LLaMA-Factory reads a leading `system` turn as the system prompt of that example."""
    turns = [{"from": "system", "value": system_prompt}] if system_prompt else []
    turns += [{"from": "human", "value": record.question}, {"from": "gpt", "value": record.answer}]
    return {"conversations": turns}


def dataset_name(project: str, recipe: str, split: str) -> str:
    """The name of a ShareGPT dataset in dataset_info.json: `<project>_<recipe>_<split>`;
    characters LLaMA-Factory's comma-separated `dataset:` argument or a YAML file could misread
    become `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{project}_{recipe}_{split}")


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """One dataset_info.json entry for a ShareGPT file next to it (file_name is relative)."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": dict(SHAREGPT_TAGS),
    }


def dataset_info(project: str, written: list[Exported]) -> dict[str, Any]:
    """dataset_info.json for the ShareGPT files written; LLaMA-Factory cannot load an empty
    file, so an empty split gets no entry."""
    return {
        dataset_name(project, e.recipe, e.split): dataset_info_entry(e.path.name)
        for e in written
        if e.format == ShareGPT.name and e.records
    }


class ShareGPT(ExportFormat):
    name = "sharegpt"
    kind = "sharegpt"

    def convert(self, record: QARecord, system_prompt: str) -> dict[str, Any]:
        return to_sharegpt(record, system_prompt)

    def finish(self, ctx: RunContext, written: list[Exported]) -> list[Artifact]:
        info = dataset_info(ctx.config.name, written)
        path = ctx.stage_dir("export") / self.name / DATASET_INFO_NAME
        write_json(path, info)
        return [
            ctx.manifest.artifact(
                "export", "dataset_info", path, records=len(info), format="llamafactory"
            )
        ]
