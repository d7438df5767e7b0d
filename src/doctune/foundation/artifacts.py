"""Reading the artifacts several stages share, through the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.manifest import MANIFEST_NAME, Artifact
from doctune.foundation.records import Chunk


class ArtifactReader(Protocol):
    """What finds a stage's inputs (the run context: it checks them against the stage's reads)."""

    out_dir: Path

    def inputs(
        self, kind: str, stage: str | None = None, **filters: str | None
    ) -> list[Artifact]: ...

    def path(self, artifact: Artifact) -> Path: ...


def load_chunks(
    reader: ArtifactReader, *, needed_for: str = "this stage needs them"
) -> list[Chunk]:
    """Every chunk the ingest stage wrote, in its order; a one-line error when there are none."""
    artifacts = reader.inputs("chunks", stage="ingest")
    if not artifacts:
        raise InputError(
            f"{reader.out_dir / MANIFEST_NAME}: no chunks artifact; {needed_for} "
            "(run `doctune ingest` first)"
        )
    return [c for a in artifacts for c in read_jsonl(reader.path(a), Chunk)]
