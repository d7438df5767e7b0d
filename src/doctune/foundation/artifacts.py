"""Reading the artifacts several stages share, through the manifest."""

from __future__ import annotations

from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import Chunk


def load_chunks(manifest: Manifest, *, needed_for: str = "this stage needs them") -> list[Chunk]:
    """Every chunk the ingest stage wrote, in its order; a one-line error when there are none."""
    artifacts = manifest.find("chunks", stage="ingest")
    if not artifacts:
        raise InputError(
            f"{manifest.path}: no chunks artifact; {needed_for} (run `doctune ingest` first)"
        )
    return [c for a in artifacts for c in read_jsonl(manifest.resolve(a), Chunk)]
