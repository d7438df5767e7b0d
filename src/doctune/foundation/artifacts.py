"""Reading the artifacts several stages share, through the manifest."""

from __future__ import annotations

from doctune.context import RunContext
from doctune.data.jsonl import read_jsonl
from doctune.data.records import Chunk
from doctune.errors import InputError


def load_chunks(ctx: RunContext, *, needed_for: str = "this stage needs them") -> list[Chunk]:
    """Every chunk the ingest stage wrote, in its order; a one-line error when there are none."""
    artifacts = ctx.inputs("chunks", stage="ingest")
    if not artifacts:
        raise InputError(
            f"{ctx.manifest.path}: no chunks artifact; {needed_for} (run `doctune ingest` first)"
        )
    return [c for a in artifacts for c in read_jsonl(ctx.path(a), Chunk)]
