"""`doctune evaluate PROJECT [--models a,b] [--suites x,y]`: the evaluate stage from the command
line. The stage itself is `doctune.evaluate.stage.run`, callable from a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from doctune.commands.common import handle_errors, project_options, run_stages
from doctune.commands.flags import given, model_flags
from doctune.foundation.config import EvaluateConfig
from doctune.foundation.config.options import EvaluateOptions


@click.command("evaluate")
@project_options("evaluate")
@model_flags(EvaluateConfig, only=["models", "suites"], section="evaluate")
@handle_errors
def evaluate(project: Path, **opts: Any) -> None:
    """Answer and score every model on every suite; writes out/evaluate/scores.jsonl."""
    options = EvaluateOptions(**given(opts, EvaluateOptions))
    run_stages(project, only="evaluate", options=options, **opts)
