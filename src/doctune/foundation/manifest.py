"""`out/manifest.json`: every artifact a run wrote (stage, kind, recipe, split, path, records,
sha256) and, per stage, the fingerprint of what produced it. Tools and tests find files through it;
a stage whose fingerprint and outputs are unchanged is skipped."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_json, write_json

MANIFEST_NAME = "manifest.json"

# What an artifact is. Readers select by kind (and recipe/split), never by file name.
KINDS = frozenset(
    {
        "chunks",
        "dataset",
        "rejected",
        "rephrased",
        "quiz",
        "sharegpt",
        "dataset_info",
        "openai_jsonl",
        "alpaca",
        "export_file",  # an export format no other stage reads by kind
        "stats",
        "llamafactory_config",
        "experiments",
        "adapter",
        "training_log",
        "scores",
        "answers",
        "report",
    }
)


class Read(NamedTuple):
    """What a stage reads: the artifacts of one kind that one stage wrote. An optional read is
    one the stage does without (the experiments table when nothing was trained)."""

    kind: str
    stage: str
    optional: bool = False


class Artifact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    kind: str
    path: str = Field(description="Relative to the output folder.")
    records: int | None = None
    sha256: str
    recipe: str | None = None
    split: str | None = None
    format: str | None = None
    name: str | None = Field(
        None, description="Experiment, model or suite the artifact belongs to."
    )


class StageState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    finished_at: str
    summary: dict[str, Any] = Field(default_factory=dict)


class ManifestData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    artifacts: list[Artifact] = Field(default_factory=list)
    stages: dict[str, StageState] = Field(default_factory=dict)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def fingerprint(**parts: Any) -> str:
    """Hash of everything that decides a stage's outputs (inputs' hashes, config, code)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Manifest:
    """The manifest of one output folder, saved atomically after every stage."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        if self.path.is_file():
            raw = read_json(self.path)
            try:
                self.data = ManifestData.model_validate(raw)
            except ValueError as exc:
                raise InputError(
                    f"{self.path}: not a doctune manifest ({exc.__class__.__name__})"
                ) from None
        else:
            self.data = ManifestData()

    # -- reading -----------------------------------------------------------------------------
    def find(self, kind: str, **filters: str | None) -> list[Artifact]:
        out = [a for a in self.data.artifacts if a.kind == kind]
        for key, value in filters.items():
            if value is not None:
                out = [a for a in out if getattr(a, key) == value]
        return out

    def one(self, kind: str, **filters: str | None) -> Artifact:
        found = self.find(kind, **filters)
        if len(found) != 1:
            what = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
            state = "no" if not found else f"{len(found)}"
            raise InputError(
                f"{self.path}: {state} artifact of kind '{kind}'{' (' + what + ')' if what else ''}"
            )
        return found[0]

    def resolve(self, artifact: Artifact) -> Path:
        return self.out_dir / artifact.path

    def stage_state(self, stage: str) -> StageState | None:
        return self.data.stages.get(stage)

    def is_up_to_date(self, stage: str, stage_fingerprint: str) -> bool:
        """Same fingerprint, and every artifact of the stage still on disk with its hash."""
        state = self.data.stages.get(stage)
        if state is None or state.fingerprint != stage_fingerprint:
            return False
        for artifact in self.find_stage(stage):
            path = self.resolve(artifact)
            if not path.exists() or (path.is_file() and file_sha256(path) != artifact.sha256):
                return False
        return True

    def find_stage(self, stage: str) -> list[Artifact]:
        return [a for a in self.data.artifacts if a.stage == stage]

    # -- writing -----------------------------------------------------------------------------
    def artifact(
        self,
        stage: str,
        kind: str,
        path: str | Path,
        *,
        records: int | None = None,
        **labels: str | None,
    ) -> Artifact:
        """Describe a file (or folder) already written under the output folder."""
        if kind not in KINDS:
            raise ValueError(f"unknown artifact kind '{kind}'")
        path = Path(path)
        full = path if path.is_absolute() else self.out_dir / path
        if full.is_dir():
            sha = _dir_sha256(full)
        else:
            sha = file_sha256(full)
            if records is None and full.suffix == ".jsonl":
                records = count_lines(full)
        return Artifact(
            stage=stage,
            kind=kind,
            path=full.relative_to(self.out_dir).as_posix(),
            records=records,
            sha256=sha,
            **labels,
        )

    def replace_stage(
        self,
        stage: str,
        artifacts: list[Artifact],
        stage_fingerprint: str,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Swap in a stage's new artifacts and record its fingerprint; saved at once."""
        self.data.artifacts = [a for a in self.data.artifacts if a.stage != stage] + artifacts
        self.data.stages[stage] = StageState(
            fingerprint=stage_fingerprint,
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            summary=summary or {},
        )
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data.model_dump(mode="json"))


def _dir_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()
