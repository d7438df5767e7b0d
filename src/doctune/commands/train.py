"""`doctune train` (the train stage alone, with its launch flags) and `doctune experiments`
(the experiments table, best run per student and dataset marked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from doctune.commands.common import handle_errors, project_options, run_stages
from doctune.commands.flags import given, model_flags
from doctune.foundation.config import DistributedConfig, load_config
from doctune.foundation.config.options import TrainOptions
from doctune.models.experiments import ExperimentTable


@click.command("train")
@project_options("train")
@model_flags(TrainOptions, exclude=["distributed"])
@model_flags(DistributedConfig, section="train.distributed")
@handle_errors
def train_command(project: Path, **opts: Any) -> None:
    """Fine-tune the experiments of PROJECT's config (local TRL + PEFT, or hosted jobs)."""
    distributed = given(opts, DistributedConfig)
    options = TrainOptions(**given(opts, TrainOptions), distributed=distributed)
    run_stages(project, only="train", options=options, **opts)


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def experiments_table(out_dir: Path) -> Table | None:
    """The rich table of `out_dir`'s experiments; None when none were recorded."""
    table = ExperimentTable(out_dir)
    if not table.rows:
        return None
    best = {
        row.id
        for row in (
            table.best(s, d) for s, d in {(r.student, r.dataset) for r in table.rows.values()}
        )
        if row is not None
    }
    view = Table(
        title=f"experiments ({table.path}); * best by validation loss per student x dataset"
    )
    columns = ("", "name", "student", "dataset", "route", "epochs", "bs", "lr", "status",
               "train loss", "val loss", "time s", "tok/s", "cost $", "output")  # fmt: skip
    for col in columns:
        numeric = col in (
            "epochs",
            "bs",
            "lr",
            "train loss",
            "val loss",
            "time s",
            "tok/s",
            "cost $",
        )
        view.add_column(col, justify="right" if numeric else "left")
    rows = sorted(table.rows.values(), key=lambda r: (r.student, r.dataset, r.name))
    for r in rows:
        lr = _num(r.learning_rate, "g")
        if r.route == "hosted" and r.learning_rate_multiplier is not None:
            lr = f"x{r.learning_rate_multiplier:g}"
        view.add_row(
            "*" if r.id in best else "",
            r.name,
            r.student,
            r.dataset,
            r.route,
            _num(r.epochs, "g"),
            str(r.batch_size),
            lr,
            r.status + (f": {r.error}" if r.error and r.status == "failed" else ""),
            _num(r.train_loss, ".4f"),
            _num(r.validation_loss, ".4f"),
            _num(r.wall_s, ".1f"),
            _num(r.tokens_per_s, ".0f"),
            _num(r.cost_usd, ".2f"),
            r.output or "",
        )
    return view


@click.command("experiments")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path))
@handle_errors
def experiments_command(project: Path, out_dir: Path | None, config_path: Path | None) -> None:
    """Print PROJECT's experiments table: hyperparameters, status, losses, time, cost, output."""
    out = out_dir or (project / load_config(project, path=config_path).out)
    view = experiments_table(out)
    if view is None:
        click.echo(f"no experiments recorded in {out} (run `doctune train {project}`)")
        return
    console = Console()
    if not console.is_terminal:  # a pipe or a log: do not wrap cells at 80 columns
        console = Console(width=240)
    console.print(view)
