"""`doctune evaluate PROJECT [--models a,b] [--suites x,y]`: the evaluate stage from the command
line. The stage itself is `doctune.evaluate.stage.run`, callable from a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from doctune.commands.common import handle_errors, project_options, run_stages
from doctune.foundation.config import SUITES
from doctune.foundation.config.options import EvaluateOptions


@click.command("evaluate")
@project_options("evaluate")
@click.option(
    "--models",
    help="Comma-separated: 'base', 'best', experiment names or ids, model specs "
    "(default: evaluate.models of the config).",
)
@click.option(
    "--suites",
    help=f"Comma-separated, of {', '.join(SUITES)} (default: evaluate.suites of the config).",
)
@handle_errors
def evaluate(project: Path, models: str | None, suites: str | None, **opts: Any) -> None:
    """Answer and score every model on every suite; writes out/evaluate/scores.jsonl."""
    options = EvaluateOptions(models=models, suites=suites)  # comma-separated lists
    run_stages(project, only="evaluate", options=options, **opts)
