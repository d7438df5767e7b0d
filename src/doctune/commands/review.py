"""`doctune review PROJECT RECORD_ID --approve | --reject REASON | --edit --question Q --answer A`
and `doctune review PROJECT --list | --orphaned`: the review store from scripts and tests (the
web app, `doctune serve`, writes the same store). The next `doctune run` applies the reviews."""

from __future__ import annotations

import json
from pathlib import Path

import click

from doctune.commands.common import handle_errors
from doctune.foundation.config import load_config
from doctune.foundation.display import console_text
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.manifest import Manifest
from doctune.foundation.reviews import (
    Review,
    ReviewStore,
    review_user,
    reviews_path,
    written_records,
)


def _line(review: Review) -> str:
    parts = [review.record_id, review.status, review.user, review.at]
    if review.reason:
        parts.append(f"reason: {review.reason}")
    return console_text("  ".join(parts))


def _seen(written: dict[str, str], prior: Review | None) -> dict[str, str]:
    """What the reviewer changes: the record's text as it stands (a prior edit's, if any)."""
    seen = dict(written)
    if prior is not None:
        seen["status"] = prior.status
        seen.update(
            {k: v for k, v in (("question", prior.question), ("answer", prior.answer)) if v}
        )
    return seen


@click.command("review")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path))
@click.argument("record_id", required=False)
@click.option("--approve", is_flag=True, help="Approve the record.")
@click.option(
    "--reject", "reject_reason", metavar="REASON", help="Reject the record, with a reason."
)
@click.option("--edit", is_flag=True, help="Replace the record's question and/or answer.")
@click.option("--question", help="With --edit: the new question.")
@click.option("--answer", help="With --edit: the new answer.")
@click.option("--pending", is_flag=True, help="Withdraw the record's review (kept in the audit).")
@click.option("--list", "list_all", is_flag=True, help="Every review, one line each.")
@click.option("--orphaned", is_flag=True, help="Reviews whose record no run holds any more.")
@click.option("--audit", is_flag=True, help="The audit trail of RECORD_ID, as JSON lines.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: <project>/doctune.yaml).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder whose records are reviewed (default: <project>/out).",
)
@handle_errors
def review(
    project: Path,
    record_id: str | None,
    approve: bool,
    reject_reason: str | None,
    edit: bool,
    question: str | None,
    answer: str | None,
    pending: bool,
    list_all: bool,
    orphaned: bool,
    audit: bool,
    config_path: Path | None,
    out_dir: Path | None,
) -> None:
    """Review RECORD_ID of PROJECT, or list the reviews (applied by split on the next run)."""
    config = load_config(project, path=config_path)
    store = ReviewStore(reviews_path(project))
    manifest = Manifest(out_dir or project / config.out)
    if list_all or orphaned:
        shown = store.orphaned(written_records(manifest)) if orphaned else store.all()
        for r in shown:
            click.echo(_line(r))
        return
    if audit and record_id:
        for entry in store.audit(record_id):
            click.echo(json.dumps(entry.__dict__, ensure_ascii=False, sort_keys=True))
        return
    actions = [approve, reject_reason is not None, edit, pending]
    if record_id is None or sum(actions) != 1:
        raise ConfigError(
            "give RECORD_ID and one of --approve, --reject REASON, --edit, --pending "
            "(or --list / --orphaned, or RECORD_ID --audit)"
        )
    if not edit and (question is not None or answer is not None):
        raise ConfigError("--question and --answer go with --edit")
    known = written_records(manifest)
    if record_id not in known:
        raise InputError(f"{manifest.path}: no record {record_id} in any synthesized dataset")
    status = (
        "approved" if approve else "rejected" if reject_reason else "edited" if edit else "pending"
    )
    try:
        done = store.set(
            record_id,
            status,
            review_user(config),
            reason=reject_reason,
            question=question,
            answer=answer,
            before=_seen(known[record_id], store.get(record_id)),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(_line(done))
