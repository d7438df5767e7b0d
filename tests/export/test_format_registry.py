"""The export format registry: a format is one class plus one `register` line, and the stage
runs whatever is registered; an unknown name fails naming the known ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.export.test_export import make_project, run_export

from doctune.export import registry
from doctune.export.format import ExportFormat
from doctune.foundation.errors import ConfigError
from doctune.foundation.records import QARecord


class Pairs(ExportFormat):
    """A toy format: one `question<TAB>answer` line per record."""

    name = "pairs"
    suffix = ".tsv"

    def convert(self, record: QARecord, system_prompt: str) -> dict[str, Any]:
        return {"line": f"{record.question}\t{record.answer}"}

    def write(self, path: Path, rows: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(row["line"] + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def pairs_format() -> Iterator[None]:
    registry.register(Pairs())
    yield
    registry.unregister("pairs")


def test_a_registered_format_runs_through_the_export_stage(
    tmp_path: Path, pairs_format: None
) -> None:
    ctx = make_project(tmp_path, {"formats": ["pairs"]})
    run_export(ctx)
    path = ctx.out_dir / "export" / "pairs" / "pdf_synthetic_train.tsv"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert (
        first
        == "Q0 (train): at what temperature is the ketone hydrogenated?\tA0: over Raney nickel at 70 °C."
    )
    entries = [a for a in ctx.manifest.find("export_file") if a.format == "pairs"]
    assert len(entries) == 6  # one per recipe x split, the empty test split included
    assert not (ctx.out_dir / "export" / "openai").exists()


def test_an_unknown_format_names_the_known_ones(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, {"formats": ["sharegtp"]})
    with pytest.raises(ConfigError) as err:
        run_export(ctx)
    message = str(err.value)
    assert "unknown export format 'sharegtp'" in message
    assert "known: sharegpt, openai, alpaca, llamafactory" in message
    assert "did you mean 'sharegpt'?" in message
