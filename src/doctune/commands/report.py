"""`doctune report PROJECT [--out DIR]`: the report stage from the command line. The stage itself
is `doctune.report.stage.run`, callable from a notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from doctune.commands.common import handle_errors, project_options, run_stages


@click.command("report")
@project_options("report")
@handle_errors
def report(project: Path, **opts: Any) -> None:
    """Write out/report/: index.html (opens from disk), report.md, results.csv and plots."""
    run_stages(project, only="report", **opts)
