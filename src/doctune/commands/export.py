"""`doctune export PROJECT [--format F ...]`: the export stage from the command line, with
`--format` adding formats to export.formats of the config. `llamafactory`
writes one LLaMA-Factory training YAML per local experiment beside the ShareGPT files and
dataset_info.json they name. The stage itself is `doctune.export.stage.run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from doctune.commands.common import handle_errors, project_options, run_stages
from doctune.export.registry import known_formats
from doctune.foundation.config.options import ExportOptions


@click.command("export")
@project_options("export")
@click.option(
    "--format",
    "formats",
    type=click.Choice(known_formats()),
    multiple=True,
    help="A format to write besides export.formats of the config (repeatable). llamafactory: "
    "one training YAML per local experiment (brings sharegpt along).",
)
@handle_errors
def export(project: Path, formats: tuple[str, ...], **opts: Any) -> None:
    """Write ShareGPT + dataset_info.json, OpenAI chat JSONL and Alpaca files, and LLaMA-Factory
    configs with --format llamafactory."""
    run_stages(project, only="export", options=ExportOptions(formats=list(formats)), **opts)
