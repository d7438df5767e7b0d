"""Export: the split datasets as files that training tools accept as they are.

For every recipe x split dataset of the split stage, in the formats `export.formats` names:
- `sharegpt/<recipe>_<split>.jsonl`: `{"conversations": [{"from": "system"|"human"|"gpt",
  "value": ...}]}`, with one `sharegpt/dataset_info.json` naming every non-empty file for
  LLaMA-Factory (`dataset: <project>_<recipe>_<split>`, `dataset_dir: .../sharegpt`);
- `openai/<recipe>_<split>.jsonl`: OpenAI chat fine-tuning lines (`{"messages": [...]}`), checked
  with the cookbook's rules (`openai_checks`); a file that fails stops the stage;
- `alpaca/<recipe>_<split>.json`: a list of `{instruction, input, output, system?}`;
- `llamafactory/<experiment id>.yaml`: one LLaMA-Factory training config per local experiment of
  the train config, naming the ShareGPT datasets (see `doctune.export.llamafactory`).
The formats are `export.formats` and those chosen with `doctune export --format` (ExportOptions).
Line N of every export is record N of its split file, so an example can be traced to its record.
`stats.json` holds the size of every dataset (see `stats`), for the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from doctune.context import RunContext
from doctune.export import stats as stats_mod
from doctune.export.llamafactory import dataset_name, write_llamafactory_configs
from doctune.foundation.config import ExportConfig
from doctune.foundation.config.options import ExportOptions
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.jsonl import read_jsonl, write_json, write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.foundation.openai_checks import validate_openai_jsonl
from doctune.foundation.records import SPLITS, QARecord
from doctune.foundation.results import StageResult
from doctune.models.tokens import TokenCounter, get_token_counter, is_estimate, tokenizer_for_spec

STAGE = "export"
DATASET_INFO_NAME = "dataset_info.json"
STATS_NAME = "stats.json"
# Artifact kind and file suffix per export format.
KINDS = {"sharegpt": "sharegpt", "openai": "openai_jsonl", "alpaca": "alpaca"}
SUFFIXES = {"sharegpt": ".jsonl", "openai": ".jsonl", "alpaca": ".json"}
# Every format, in the order they are written; llamafactory configs name the sharegpt files.
FORMATS = ("sharegpt", "openai", "alpaca", "llamafactory")
# LLaMA-Factory's sharegpt tags (data/README.md, parser.DatasetAttr): these are its defaults,
# written out anyway so the entry does not depend on defaults that a release may change.
SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}


# -- one record in each format -----------------------------------------------------------------
def to_sharegpt(record: QARecord, system_prompt: str = "") -> dict[str, Any]:
    """LLaMA-Factory reads a leading `system` turn as the system prompt of that example."""
    turns = [{"from": "system", "value": system_prompt}] if system_prompt else []
    turns += [{"from": "human", "value": record.question}, {"from": "gpt", "value": record.answer}]
    return {"conversations": turns}


def to_openai(record: QARecord, system_prompt: str = "") -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [
        {"role": "user", "content": record.question},
        {"role": "assistant", "content": record.answer},
    ]
    return {"messages": messages}


def to_alpaca(record: QARecord, system_prompt: str = "") -> dict[str, Any]:
    # `input` stays empty: LLaMA-Factory joins instruction and input with a newline, so a QA pair
    # puts the whole question in `instruction`.
    row = {"instruction": record.question, "input": "", "output": record.answer}
    if system_prompt:
        row["system"] = system_prompt
    return row


CONVERTERS = {"sharegpt": to_sharegpt, "openai": to_openai, "alpaca": to_alpaca}


# -- LLaMA-Factory dataset_info.json -----------------------------------------------------------
def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """One dataset_info.json entry for a ShareGPT file next to it (file_name is relative)."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": dict(SHAREGPT_TAGS),
    }


# -- writing -----------------------------------------------------------------------------------
def export_formats(ctx: RunContext) -> list[str]:
    """The formats to write: export.formats plus any `--format` asked for (added, not instead:
    dropping the OpenAI files from the manifest would leave `train` without its data);
    llamafactory brings sharegpt along (its configs train on those files)."""
    chosen = set(ctx.config.export.formats) | set(ctx.stage_options(ExportOptions).formats)
    if "llamafactory" in chosen:
        chosen.add("sharegpt")
    return [f for f in FORMATS if f in chosen]


def fingerprint(ctx: RunContext) -> str:
    """What decides the outputs beyond the export section: the formats chosen, the student
    (its tokenizer counts the tokens) and, for LLaMA-Factory configs, the train section."""
    formats = export_formats(ctx)
    parts: dict[str, Any] = {"formats": formats, "student": ctx.spec("student")}
    if "llamafactory" in formats:
        parts["train"] = ctx.config.section_hash("train")
    return json.dumps(parts, sort_keys=True)


def export_dataset(
    records: list[QARecord],
    export_dir: Path,
    recipe: str,
    split: str,
    config: ExportConfig,
    formats: list[str] | None = None,
) -> dict[str, Path]:
    """Write one dataset in every per-dataset format (default: the configured ones); returns
    format -> path."""
    written: dict[str, Path] = {}
    for fmt in formats or config.formats:
        if fmt not in CONVERTERS:  # llamafactory: configs per experiment, not per dataset
            continue
        rows = [CONVERTERS[fmt](r, config.system_prompt) for r in records]
        path = export_dir / fmt / f"{recipe}_{split}{SUFFIXES[fmt]}"
        if fmt == "alpaca":
            write_json(path, rows)
        else:
            write_jsonl(path, rows)
        written[fmt] = path
    return written


def token_counter(ctx: RunContext) -> tuple[TokenCounter, str | None]:
    """The student's tokenizer (or `export.tokenizer`), else the labelled estimate.

    A tokenizer named in `export.tokenizer` must load. One derived from the student spec may not
    be available offline (a hub id never downloaded): then the counts are estimates, and say so.
    """
    configured = ctx.config.export.tokenizer
    if configured:
        return get_token_counter(configured), configured
    name = tokenizer_for_spec(ctx.spec("student"))
    try:
        return get_token_counter(name), name
    except ConfigError as exc:
        ctx.log(f"[yellow]export[/]: {exc}; token counts are estimates (~4 characters per token)")
        return get_token_counter(None), None


def _split_inputs(ctx: RunContext) -> list[Artifact]:
    found = ctx.inputs("dataset", stage="split")
    if not found:
        raise InputError(
            f"{ctx.manifest.path}: no split datasets to export (run `doctune split` first)"
        )
    missing = [a for a in found if not a.recipe or not a.split]
    if missing:
        raise InputError(f"{ctx.manifest.path}: dataset {missing[0].path} has no recipe or split")
    order = {name: i for i, name in enumerate(SPLITS)}
    return sorted(found, key=lambda a: (a.recipe or "", order.get(a.split or "", len(order))))


def _artifact(
    ctx: RunContext, kind: str, path: Path, records: int, **labels: str | None
) -> Artifact:
    return ctx.manifest.artifact(STAGE, kind, path, records=records, **labels)


def _export_one(
    ctx: RunContext,
    source: Artifact,
    counter: TokenCounter,
    info: dict[str, Any],
    formats: list[str],
) -> tuple[list[Artifact], dict[str, Any]]:
    """Export one split dataset: its artifacts and stats; adds its dataset_info entry to `info`."""
    cfg = ctx.config.export
    recipe, split = source.recipe or "", source.split or ""
    records = read_jsonl(ctx.path(source), QARecord)
    artifacts = []
    export_dir = ctx.stage_dir(STAGE)
    for fmt, path in export_dataset(records, export_dir, recipe, split, cfg, formats).items():
        if fmt == "openai":  # the hosted route uploads this file as it is: check it now
            validate_openai_jsonl(path, cfg.max_tokens_per_example, counter).raise_for_errors()
        artifacts.append(
            _artifact(ctx, KINDS[fmt], path, len(records), recipe=recipe, split=split, format=fmt)
        )
        # LLaMA-Factory cannot load an empty file: an empty split gets no entry.
        if fmt == "sharegpt" and records:
            info[dataset_name(ctx.config.name, recipe, split)] = dataset_info_entry(path.name)
    return artifacts, stats_mod.dataset_stats(records, counter, cfg.system_prompt)


async def run(ctx: RunContext) -> StageResult:
    """The export stage: formats, dataset_info.json, cookbook checks and stats.json."""
    cfg = ctx.config.export
    formats = export_formats(ctx)
    inputs = _split_inputs(ctx)
    export_dir = ctx.stage_dir(STAGE)
    counter, tokenizer = token_counter(ctx)
    artifacts: list[Artifact] = []
    info: dict[str, Any] = {}
    per_dataset: dict[tuple[str, str], dict[str, Any]] = {}
    with ctx.progress("export", total=len(inputs)) as tick:
        for source in inputs:
            written, stats = _export_one(ctx, source, counter, info, formats)
            artifacts += written
            per_dataset[(source.recipe or "", source.split or "")] = stats
            tick.advance()

    if "sharegpt" in formats:
        info_path = export_dir / "sharegpt" / DATASET_INFO_NAME
        write_json(info_path, info)
        artifacts.append(
            _artifact(ctx, "dataset_info", info_path, len(info), format="llamafactory")
        )
    if "llamafactory" in formats:
        artifacts += write_llamafactory_configs(ctx, export_dir / "sharegpt", info, stage=STAGE)
    estimate = is_estimate(counter)
    stats_path = export_dir / STATS_NAME
    write_json(
        stats_path,
        stats_mod.build_stats(
            per_dataset, tokenizer=tokenizer, estimate=estimate, system_prompt=cfg.system_prompt
        ),
    )
    artifacts.append(_artifact(ctx, "stats", stats_path, len(per_dataset)))
    summary = {
        "datasets": len(per_dataset),
        "examples": sum(s["samples"] for s in per_dataset.values()),
        "tokens": sum(s["total_tokens"] for s in per_dataset.values()),
        "token_counts": "estimate" if estimate else "tokenizer",
        "formats": ",".join(formats),
    }
    return StageResult(artifacts=artifacts, summary=summary)
