"""`doctune`: thin commands over library functions a notebook can call.

Exit codes: 0 done, 1 unexpected error, 2 bad config or usage, 3 bad input data,
4 a model endpoint failed after every retry, 5 another run holds the output folder, 130
interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from doctune import __version__
from doctune.commands import chat, config, evaluate, export, report, review, serve, train
from doctune.commands.common import handle_errors, project_options, run_stages
from doctune.pipeline import STAGE_NAMES
from doctune.scaffold import scaffold


class InOrder(click.Group):
    """Lists its commands in the order they were added (the pipeline's), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=InOrder, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="doctune")
def main() -> None:
    """doctune: domain documents -> synthetic training data -> fine-tuned, measured models."""


@main.command()
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def init(project: Path) -> None:
    """Scaffold PROJECT with a doctune.yaml and an empty documents/ folder."""
    written = scaffold(project)
    click.echo(f"created {written}; put your documents in {project / 'documents'}")


@main.command()
@project_options(*STAGE_NAMES)
@click.option("--until", type=str, help="Stop after this stage.")
@click.option("--from", "start", type=str, help="Start at this stage.")
@handle_errors
def run(project: Path, until: str | None, start: str | None, **opts: Any) -> None:
    """Run the stages in order (resumable: finished stages are skipped, model calls cached)."""
    run_stages(project, until=until, start=start, **opts)


def _stage_command(name: str, help_text: str) -> None:
    @project_options(name)
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


# Commands that live with their stage's code (one module each under doctune/commands/), added
# one line each, in pipeline order, so `doctune --help` reads as the pipeline.
main.add_command(export.export)
main.add_command(train.train_command)
main.add_command(train.experiments_command)
main.add_command(evaluate.evaluate)
main.add_command(report.report)
main.add_command(review.review)
main.add_command(chat.chat)
main.add_command(serve.serve)
main.add_command(config.config_command)


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
    # Lazily: the test helpers (and transformers, which they train with) load for this command only.
    from doctune.testing.tiny_model import build_tiny_model

    build_tiny_model(dest, corpus_paths=list(corpus), max_positions=max_positions)
    click.echo(f"tiny model written to {dest}; use it as hf:{dest}")


if __name__ == "__main__":
    main()
