"""The pipeline: order checks before any model call, and fingerprints that notice what matters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from doctune.context import RunContext
from doctune.foundation.codehash import imported_modules
from doctune.foundation.errors import StageOrderError
from doctune.pipeline import STAGES, check_order, get_stage, plan, stage_fingerprint


def project(tmp_path: Path, **config: object) -> RunContext:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "doctune.yaml").write_text(yaml.safe_dump({"name": "t", **config}))
    return RunContext(tmp_path, show_progress=False)


def test_a_stage_reading_what_nothing_wrote_fails_before_any_model_call(tmp_path: Path) -> None:
    ctx = project(tmp_path)
    with pytest.raises(StageOrderError, match="stage 'synthesize' reads chunks"):
        check_order(plan(only="synthesize"), ctx)
    check_order(plan(until="export"), ctx)  # ingest writes what synthesize reads


@pytest.mark.parametrize(
    "change",
    [
        {"client": {"temperature": 0.0}},
        {"client": {"seed": 7}},
        {"models": {"teacher": "openai:m", "settings": {"openai:m": {"max_new_tokens": 64}}}},
        {
            "models": {
                "teacher": "openai:m",
                "settings": {"openai:m": {"structured_output": "json_object"}},
            }
        },
        {"synthesize": {"pdf_synthetic": {"questions_per_chunk": 5}}},
    ],
)
def test_what_changes_the_requests_changes_the_fingerprint(tmp_path: Path, change: dict) -> None:
    base = {"models": {"teacher": "openai:m"}}
    before = stage_fingerprint(project(tmp_path / "a", **base), get_stage("synthesize"))
    merged = {**base, **change}
    assert stage_fingerprint(project(tmp_path / "b", **merged), get_stage("synthesize")) != before


def test_price_and_concurrency_do_not_redo_a_stage(tmp_path: Path) -> None:
    base = {"models": {"teacher": "openai:m"}}
    other = {
        "models": {"teacher": "openai:m", "settings": {"openai:m": {"price_input_per_mtok": 9.0}}},
        "client": {"concurrency": 3},
    }
    a = stage_fingerprint(project(tmp_path / "a", **base), get_stage("synthesize"))
    assert stage_fingerprint(project(tmp_path / "b", **other), get_stage("synthesize")) == a


def test_every_stage_that_renders_prompts_hashes_them() -> None:
    for name in ("synthesize", "curate", "evalsets", "evaluate"):
        assert "doctune.prompts" in imported_modules(*get_stage(name).modules), name
    assert [s.name for s in STAGES] == [
        "ingest",
        "synthesize",
        "curate",
        "split",
        "evalsets",
        "export",
        "train",
        "evaluate",
        "report",
    ]
