"""Fixtures for ingest: a temp project (doctune.yaml + documents/) to run the stage in. The
documents themselves are written by ingest_samples.py."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from doctune.context import RunContext


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., RunContext]:
    """A temp project: doctune.yaml with the given ingest settings, documents/ with the given
    files (name -> bytes, str, or a callable writing the file). Returns its RunContext."""

    def make(files: dict[str, object] | None = None, **ingest: object) -> RunContext:
        project = tmp_path / "project"
        docs = project / "documents"
        docs.mkdir(parents=True, exist_ok=True)
        config = {
            "name": "ingest-test",
            "ingest": {"chunk_tokens": 120, "overlap_tokens": 24, **ingest},
        }
        (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        for name, content in (files or {}).items():
            target = docs / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if callable(content):
                content(target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(str(content), encoding="utf-8")
        # A console writing to memory, so tests can read what the stage printed.
        console = Console(file=io.StringIO(), width=300, color_system=None)
        return RunContext(project, show_progress=False, console=console)

    return make
