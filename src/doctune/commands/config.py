"""`doctune config [SECTION]`: every config field with its type, default and description, the
way `doctune.yaml` spells it (like TRL's argument help), so nobody has to read the code."""

from __future__ import annotations

import textwrap

import click

from doctune.commands.common import handle_errors
from doctune.foundation.config import ProjectConfig
from doctune.foundation.config.describe import FieldDoc, describe


def field_text(doc: FieldDoc) -> str:
    """ "train.max_length: int (> 16) = 2048" and the description indented below it."""
    head = f"{doc.path}: {doc.type}" + ("" if doc.default == "(section)" else f" = {doc.default}")
    body = textwrap.fill(doc.description, width=96, initial_indent="    ", subsequent_indent="    ")
    return f"{head}\n{body}" if doc.description else head


@click.command("config")
@click.argument("section", required=False)
@handle_errors
def config_command(section: str | None) -> None:
    """Print the config's fields (all, or SECTION's, e.g. train.distributed): type, default and
    what each does."""
    click.echo("\n".join(field_text(doc) for doc in describe(ProjectConfig, section)))
