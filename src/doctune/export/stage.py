"""Export: the split datasets as files that training tools accept as they are.

For every recipe x split dataset of the split stage, in the formats `export.formats` names (the
format registry, `doctune.export.registry`: one module per format, `sharegpt`, `openai_chat`,
`alpaca`, `llamafactory`), a file `<format>/<recipe>_<split><suffix>`, checked by its format; then
each format's project-wide files (ShareGPT's dataset_info.json, LLaMA-Factory's training YAMLs).
The formats are `export.formats` and those chosen with `doctune export --format` (ExportOptions).
Line N of every export is record N of its split file, so an example can be traced to its record.
`stats.json` holds the size of every dataset (see `stats`) and the reviews split applied to it
(from split's report.json), for the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from doctune.context import RunContext
from doctune.export import stats as stats_mod
from doctune.export.format import Exported, ExportFormat
from doctune.export.registry import resolve_formats
from doctune.export.sharegpt import dataset_name
from doctune.foundation.config import ExportConfig
from doctune.foundation.config.options import ExportOptions
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.jsonl import read_json, read_jsonl, write_json
from doctune.foundation.manifest import Artifact
from doctune.foundation.recipes import record_type
from doctune.foundation.records import SPLITS, QARecord
from doctune.foundation.results import StageResult
from doctune.models.tokens import TokenCounter, get_token_counter, is_estimate, tokenizer_for_spec

STAGE = "export"
STATS_NAME = "stats.json"
__all__ = ["dataset_name", "export_dataset", "export_formats", "fingerprint", "run"]


def export_formats(ctx: RunContext) -> list[ExportFormat]:
    """The formats to write: export.formats plus any `--format` asked for (added, not instead:
    dropping the OpenAI files from the manifest would leave `train` without its data), plus
    those they need; an unknown name is a ConfigError naming the known ones."""
    chosen = [*ctx.config.export.formats, *ctx.stage_options(ExportOptions).formats]
    return resolve_formats(chosen)


def fingerprint(ctx: RunContext) -> str:
    """What decides the outputs beyond the export section: the formats chosen, the student
    (its tokenizer counts the tokens) and the config sections a format depends on."""
    formats = export_formats(ctx)
    parts: dict[str, Any] = {"formats": [f.name for f in formats], "student": ctx.spec("student")}
    for section in sorted({s for f in formats for s in f.sections}):
        parts[section] = ctx.config.section_hash(section)
    return json.dumps(parts, sort_keys=True)


def export_dataset(
    records: list[QARecord],
    export_dir: Path,
    recipe: str,
    split: str,
    config: ExportConfig,
    formats: list[ExportFormat] | None = None,
) -> list[Exported]:
    """Write one dataset in every per-dataset format (default: the configured ones)."""
    written = []
    for fmt in resolve_formats(config.formats) if formats is None else formats:
        if not fmt.per_dataset:
            continue
        path = export_dir / fmt.name / f"{recipe}_{split}{fmt.suffix}"
        fmt.write(path, [fmt.convert(r, config.system_prompt) for r in records])
        written.append(Exported(fmt.name, recipe, split, path, len(records)))
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


def _review_counts(ctx: RunContext) -> dict[str, dict[str, int]]:
    """The review counts per recipe that split applied (its report.json), for stats.json."""
    found: dict[str, dict[str, int]] = {}
    for artifact in ctx.inputs("stats", stage="split"):
        report = read_json(ctx.path(artifact))
        recipes = report.get("recipes", {}) if isinstance(report, dict) else {}
        found.update({k: v["reviews"] for k, v in recipes.items() if "reviews" in v})
    return found


def _artifact(
    ctx: RunContext, kind: str, path: Path, records: int, **labels: str | None
) -> Artifact:
    return ctx.manifest.artifact(STAGE, kind, path, records=records, **labels)


def _export_one(
    ctx: RunContext, source: Artifact, counter: TokenCounter, formats: list[ExportFormat]
) -> tuple[list[Exported], dict[str, Any]]:
    """Export one split dataset in every per-dataset format, each file checked: its files and
    stats."""
    cfg = ctx.config.export
    recipe, split = source.recipe or "", source.split or ""
    records = read_jsonl(ctx.path(source), record_type(recipe))
    written = export_dataset(records, ctx.stage_dir(STAGE), recipe, split, cfg, formats)
    by_name = {f.name: f for f in formats}
    for exported in written:
        by_name[exported.format].check(exported.path, cfg, counter)
    return written, stats_mod.dataset_stats(records, counter, cfg.system_prompt)


def _entry(ctx: RunContext, formats: list[ExportFormat], e: Exported) -> Artifact:
    kind = next(f.kind for f in formats if f.name == e.format)
    return _artifact(ctx, kind, e.path, e.records, recipe=e.recipe, split=e.split, format=e.format)


async def run(ctx: RunContext) -> StageResult:
    """The export stage: formats, their checks and project-wide files, and stats.json."""
    cfg = ctx.config.export
    formats = export_formats(ctx)
    inputs = _split_inputs(ctx)
    counter, tokenizer = token_counter(ctx)
    written: list[Exported] = []
    per_dataset: dict[tuple[str, str], dict[str, Any]] = {}
    with ctx.progress("export", total=len(inputs)) as tick:
        for source in inputs:
            files, stats = _export_one(ctx, source, counter, formats)
            written += files
            per_dataset[(source.recipe or "", source.split or "")] = stats
            tick.advance()
    artifacts = [_entry(ctx, formats, e) for e in written]
    for fmt in formats:
        artifacts += fmt.finish(ctx, written)
    estimate = is_estimate(counter)
    stats_path = ctx.stage_dir(STAGE) / STATS_NAME
    write_json(
        stats_path,
        stats_mod.build_stats(
            per_dataset,
            tokenizer=tokenizer,
            estimate=estimate,
            system_prompt=cfg.system_prompt,
            reviews=_review_counts(ctx),
        ),
    )
    artifacts.append(_artifact(ctx, "stats", stats_path, len(per_dataset)))
    summary = {
        "datasets": len(per_dataset),
        "examples": sum(s["samples"] for s in per_dataset.values()),
        "tokens": sum(s["total_tokens"] for s in per_dataset.values()),
        "token_counts": "estimate" if estimate else "tokenizer",
        "formats": ",".join(f.name for f in formats),
    }
    return StageResult(artifacts=artifacts, summary=summary)
