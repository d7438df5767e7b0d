"""`doctune`: thin commands over library functions a notebook can call.

Exit codes: 0 done, 1 unexpected error, 2 bad config or usage, 3 bad input data,
4 a model endpoint failed after every retry, 5 another run holds the output folder, 130
interrupted.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from doctune import __version__
from doctune.display import console_text
from doctune.errors import EXIT_INTERRUPTED, DoctuneError
from doctune.runlock import run_lock

err_console = Console(stderr=True)


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


def project_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every stage command shares."""
    decorators = [
        click.argument("project", type=click.Path(file_okay=False, path_type=Path), default="."),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Output folder (default: <project>/out).",
        ),
        click.option(
            "--teacher", help="Teacher model spec (overrides DOCTUNE_TEACHER and the config)."
        ),
        click.option("--judge", help="Judge model spec (overrides DOCTUNE_JUDGE and the config)."),
        click.option(
            "--student", help="Student model spec (overrides DOCTUNE_STUDENT and the config)."
        ),
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
    teacher: str | None,
    judge: str | None,
    student: str | None,
    dry_run: bool,
    no_progress: bool,
    options: dict[str, Any] | None = None,
    config_path: Path | None = None,
) -> Any:
    from doctune.config import load_config
    from doctune.context import RunContext

    return RunContext(
        project,
        load_config(project, path=config_path) if config_path else None,
        out_dir=out_dir,
        overrides={"teacher": teacher, "judge": judge, "student": student},
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
    from doctune import pipeline

    ctx = make_context(
        project,
        opts["out_dir"],
        opts["teacher"],
        opts["judge"],
        opts["student"],
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


def _dry_run(ctx: Any, stages: list[Any]) -> None:
    from doctune import pipeline
    from doctune.config import model_settings

    free = pipeline.run_free_stages_for_estimate(ctx, stages)
    if free:
        asyncio.run(pipeline.run_pipeline(ctx, free))
    rows = pipeline.estimate(ctx, stages)
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
        ) / 1e6
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
            est.note,
        )
    table.add_row("total", "", "", str(total_calls), "", "", f"{total_cost:.4f}", "")
    console = Console()
    if not console.is_terminal:  # a pipe or a log: do not wrap cells at 80 columns
        console = Console(width=200)
    console.print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="doctune")
def main() -> None:
    """doctune: domain documents -> synthetic training data -> fine-tuned, measured models."""


@main.command()
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def init(project: Path) -> None:
    """Scaffold PROJECT with a doctune.yaml and an empty documents/ folder."""
    from doctune.scaffold import scaffold

    written = scaffold(project)
    click.echo(f"created {written}; put your documents in {project / 'documents'}")


@main.command()
@project_options
@click.option("--until", type=str, help="Stop after this stage.")
@click.option("--from", "start", type=str, help="Start at this stage.")
@handle_errors
def run(project: Path, until: str | None, start: str | None, **opts: Any) -> None:
    """Run the stages in order (resumable: finished stages are skipped, model calls cached)."""
    run_stages(project, until=until, start=start, **opts)


def _stage_command(name: str, help_text: str) -> None:
    @project_options
    @handle_errors
    def command(project: Path, **opts: Any) -> None:
        run_stages(project, only=name, **opts)

    command.__doc__ = help_text
    main.command(name=name)(command)


_stage_command("ingest", "Read documents/ into chunks (PDF, Markdown, TXT, HTML, DOCX, CSV/JSONL).")
_stage_command("synthesize", "Write the training datasets (pdf_synthetic, knowledge_distillation).")
_stage_command("curate", "Deduplicate, grounding-check and optionally judge-filter the datasets.")
_stage_command("split", "Split datasets into train/validation/test, grouped by source chunk.")
_stage_command("evalsets", "Write rephrased questions and multiple-choice quizzes.")


@main.command("make-tiny-model")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--corpus",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    help="Text files or folders to train the tokenizer on (default: built-in text).",
)
@click.option(
    "--max-positions",
    type=click.IntRange(min=16),
    default=32768,
    show_default=True,
    help="The model's context (max_position_embeddings); a small one forces prompt fitting.",
)
@handle_errors
def make_tiny_model(dest: Path, corpus: tuple[Path, ...], max_positions: int) -> None:
    """Build a tiny random Qwen2-style model + tokenizer in DEST, offline (for smoke tests)."""
    from doctune.testing.tiny_model import build_tiny_model

    build_tiny_model(dest, corpus_paths=list(corpus), max_positions=max_positions)
    click.echo(f"tiny model written to {dest}; use it as hf:{dest}")


# Commands that live with their stage's code (one module each under doctune/commands/).
# Registration is explicit, one line per module, so `doctune --help` lists what exists.
# Importing a module registers its commands on `main` (chat; evaluate; export with
# --format llamafactory; report; train and experiments).
from doctune.commands import chat, evaluate, export, report, train  # noqa: E402, F401

if __name__ == "__main__":
    main()
