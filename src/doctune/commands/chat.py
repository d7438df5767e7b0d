"""`doctune chat MODEL [--project DIR] [--rag] [--system TEXT]`: the QA chatbot, one line in,
one answer out, until EOF. Typed at a terminal it prompts; piped, it prints answers only."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from doctune.chat import (
    COMMANDS_HELP,
    ChatSession,
    project_retriever,
    repl,
    resolve_model,
    standalone_client,
)
from doctune.commands.common import handle_errors
from doctune.context import RunContext
from doctune.foundation.errors import ConfigError, ModelError


@click.command("chat")
@click.argument("model")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    help="Use this project's model settings, call cache, system prompt, experiments and chunks.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The project's output folder (default: <project>/out).",
)
@click.option("--rag", is_flag=True, help="Retrieve passages from the project's chunks.")
@click.option("-k", "k", type=click.IntRange(min=1), help="Passages per question (--rag).")
@click.option("--system", help="System prompt (default: the project's export.system_prompt).")
@click.option("--temperature", type=click.FloatRange(0, 2), help="Sampling temperature.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Longest answer in tokens.")
@handle_errors
def chat(model: str, project: Path | None, out_dir: Path | None, **opts: Any) -> None:
    """Chat with MODEL: a spec (openai:..., hf:...), or with --project an experiment name or a
    role (student, teacher, judge). /reset forgets the conversation, /exit ends it."""
    if opts["rag"] and project is None:
        raise ConfigError("--rag retrieves from a project's chunks: give --project")
    asyncio.run(_chat(model, project, out_dir, **opts))


async def _chat(
    model: str,
    project: Path | None,
    out_dir: Path | None,
    *,
    rag: bool,
    k: int | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
) -> None:
    ctx = RunContext(project, out_dir=out_dir, show_progress=False) if project else None
    spec = resolve_model(model, ctx)
    client = ctx.client_for_spec(spec, "chat") if ctx else standalone_client(spec)
    session = ChatSession(
        client,
        system=system if system is not None else (ctx.config.export.system_prompt if ctx else ""),
        retriever=project_retriever(ctx) if rag and ctx else None,
        k=k or (ctx.config.evaluate.rag.k if ctx else 3),
        params={"temperature": temperature, "max_tokens": max_tokens},
    )
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"chatting with {spec} ({COMMANDS_HELP}; Ctrl-D ends)", err=True)
    try:
        failures = await repl(session, _lines(interactive), click.echo)
    finally:
        await (ctx.aclose() if ctx else client.aclose())
    if failures:
        raise ModelError(f"{failures} question(s) got no answer (see the errors above)")


def _lines(interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from click.get_text_stream("stdin")
        return
    while True:
        try:
            yield input("> ")
        except EOFError:
            click.echo(err=True)
            return
