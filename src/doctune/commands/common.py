"""What every command shares: one line and an exit code per user error, the options of the stage
commands, and running a plan of stages (under the output folder's lock, or as a dry run)."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from doctune import pipeline
from doctune.context import RunContext
from doctune.dry_run import estimate, run_free_stages_for_estimate
from doctune.foundation.config import ROLES, load_config, model_settings
from doctune.foundation.config.options import StageOptions
from doctune.foundation.display import console_text
from doctune.foundation.errors import EXIT_INTERRUPTED, DoctuneError
from doctune.foundation.results import CallEstimate
from doctune.foundation.runlock import run_lock

err_console = Console(stderr=True)

#: The roles whose spec each stage reads: the models it calls (its Stage entry's roles) and the
#: ones it only looks at: ingest counts tokens with the teacher's tokenizer, export with the
#: student's, evaluate answers with the students, and report marks a run of tiny models.
STAGE_ROLES: dict[str, tuple[str, ...]] = {
    "ingest": ("teacher",),
    "synthesize": ("teacher",),
    "curate": ("judge",),
    "split": (),
    "evalsets": ("teacher",),
    "export": ("student",),
    "train": ("student",),
    "evaluate": ("judge", "student"),
    "report": ROLES,
}

_ROLE_HELP = "{} model spec (overrides DOCTUNE_{} and the config)."


def _fail(message: str, code: int) -> None:
    # The message may quote a file name: its control characters and brackets print as text.
    err_console.print(
        f"[bold red]error:[/] {console_text(message)}", highlight=False, soft_wrap=True
    )
    sys.exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line and an exit code for what a user can fix; a traceback only for our own bugs."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DoctuneError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted; rerun the same command to resume")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def roles_of(stages: Iterable[str]) -> tuple[str, ...]:
    """The roles the stages use, in the config's order."""
    used = {role for stage in stages for role in STAGE_ROLES[stage]}
    return tuple(role for role in ROLES if role in used)


def project_options(*stages: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every command running `stages` shares, with a flag for each role they use."""
    role_flags = [
        click.option(f"--{role}", help=_ROLE_HELP.format(role.capitalize(), role.upper()))
        for role in roles_of(stages)
    ]
    return lambda fn: _decorate(fn, role_flags)


def _decorate(fn: Callable[..., Any], role_flags: list[Any]) -> Callable[..., Any]:
    decorators = [
        click.argument("project", type=click.Path(file_okay=False, path_type=Path), default="."),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Output folder (default: <project>/out).",
        ),
        *role_flags,
        click.option(
            "--dry-run", is_flag=True, help="Print model calls, tokens and cost; spend nothing."
        ),
        click.option("--force", is_flag=True, help="Rerun stages even if they are up to date."),
        click.option("--no-progress", is_flag=True, help="No progress bars."),
        click.option(
            "--wait",
            is_flag=True,
            help="If another run is writing the same output folder, wait for it instead of "
            "exiting with code 5.",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Config file (default: <project>/doctune.yaml); paths in it stay relative to PROJECT.",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def make_context(
    project: Path,
    out_dir: Path | None,
    overrides: dict[str, str | None],
    dry_run: bool,
    no_progress: bool,
    options: StageOptions | None = None,
    config_path: Path | None = None,
) -> RunContext:
    return RunContext(
        project,
        load_config(project, path=config_path) if config_path else None,
        out_dir=out_dir,
        overrides=overrides,
        dry_run=dry_run,
        show_progress=not no_progress,
        options=options,
    )


def run_stages(
    project: Path,
    *,
    until: str | None = None,
    only: str | None = None,
    start: str | None = None,
    **opts: Any,
) -> None:
    ctx = make_context(
        project,
        opts["out_dir"],
        {role: opts.get(role) for role in ROLES},  # a command without a role's flag: None
        opts["dry_run"],
        opts["no_progress"],
        opts.get("options"),
        opts.get("config_path"),
    )
    stages = pipeline.plan(until=until, only=only, start=start)
    pipeline.preflight(ctx, stages)
    if only == "report" and not opts["force"] and pipeline.is_up_to_date(ctx, stages[0]):
        # Reading a finished run's report writes nothing: no lock, so it works during a run.
        ctx.log(f"report: up to date ({ctx.out_dir / 'report'})")
        return

    def say(line: str) -> None:  # the holder's command line is text, not markup
        ctx.log(console_text(line))

    with run_lock(ctx.out_dir, _command_line(), wait=opts.get("wait", False), log=say):
        ctx.reload_manifest()  # what a run we waited for wrote
        if opts["dry_run"]:
            _dry_run(ctx, stages)
            return
        asyncio.run(pipeline.run_pipeline(ctx, stages, force=opts["force"]))
    click.echo(f"outputs: {ctx.out_dir} (manifest: {ctx.manifest.path})")


def _command_line() -> str:
    """What the lock file names as the running command (the program's name, not its path)."""
    return " ".join(["doctune", *sys.argv[1:]])[:300]


def _dry_run(ctx: RunContext, stages: list[pipeline.Stage]) -> None:
    free = run_free_stages_for_estimate(ctx, stages)
    if free:
        asyncio.run(pipeline.run_pipeline(ctx, free))
    rows = estimate(ctx, stages)
    table = Table(title="dry run: model calls before anything is spent")
    for col in (
        "stage",
        "role",
        "model",
        "calls",
        "prompt tok",
        "completion tok",
        "est. cost $",
        "note",
    ):
        table.add_column(
            col,
            justify="right"
            if col in ("calls", "prompt tok", "completion tok", "est. cost $")
            else "left",
        )
    total_calls, total_cost = 0, 0.0
    for stage, est in rows:
        spec = ctx.spec(est.role)
        settings = model_settings(ctx.config, spec)
        cost = (
            est.prompt_tokens * settings.price_input_per_mtok
            + est.completion_tokens * settings.price_output_per_mtok
        ) / 1e6 + (est.cost_usd or 0.0)
        total_calls += est.calls
        total_cost += cost
        approx = "" if est.exact else "~"
        table.add_row(
            stage.name,
            est.role,
            spec,
            f"{approx}{est.calls}",
            f"{approx}{est.prompt_tokens}",
            f"{approx}{est.completion_tokens}",
            f"{approx}{cost:.4f}",
            _training_note(est) if est.train_tokens is not None else est.note,
        )
    table.add_row("total", "", "", str(total_calls), "", "", f"{total_cost:.4f}", "")
    console = Console()
    if not console.is_terminal:  # a pipe or a log: do not wrap cells at 80 columns
        console = Console(width=200)
    console.print(table)


def _training_note(est: CallEstimate) -> str:
    """A training row: its tokens and time first, then where they come from."""
    if est.train_seconds is None:
        took = "time unknown"
    elif est.train_seconds < 90:
        took = f"~{est.train_seconds:.0f} s"
    elif est.train_seconds < 5400:
        took = f"~{est.train_seconds / 60:.0f} min"
    else:
        took = f"~{est.train_seconds / 3600:.1f} h"
    return f"train ~{est.train_tokens:,} tokens, {took}; {est.note}"
