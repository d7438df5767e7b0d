"""Fingerprints derived from the code, and reads checked against each stage's declaration."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from doctune.context import RunContext
from doctune.foundation import codehash
from doctune.foundation.errors import StageOrderError
from doctune.foundation.results import StageResult
from doctune.pipeline import STAGES, check_order, get_stage, plan, run_stage, stage_fingerprint


@pytest.fixture
def source_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of doctune's sources that the fingerprints read instead of the installed ones."""
    copy = tmp_path / "src" / "doctune"
    shutil.copytree(codehash.SOURCE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(codehash, "SOURCE_ROOT", copy)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the copy's table, not ~'s
    codehash.clear_cache()
    yield copy
    codehash.clear_cache()


def project(root: Path) -> RunContext:
    (root / "documents").mkdir(parents=True, exist_ok=True)
    (root / "documents" / "a.md").write_text("# A\n\nIbuprofen is made in three steps.\n")
    (root / "doctune.yaml").write_text(yaml.safe_dump({"name": "t"}))
    return RunContext(root, show_progress=False)


def all_done(ctx: RunContext) -> None:
    """Record every stage as finished with its current fingerprint (and no artifacts)."""
    for stage in STAGES:
        ctx.manifest.replace_stage(stage.name, [], stage_fingerprint(ctx, stage))


def edit(copy: Path, module: str) -> None:
    path = copy.joinpath(*module.split(".")[1:]).with_suffix(".py")
    path.write_text(path.read_text() + "\n# edited by a test\n")
    codehash.clear_cache()  # a new run: the versions are computed once per process


def rerun(ctx: RunContext) -> list[str]:
    return [s.name for s in STAGES if asyncio.run(run_stage(ctx, s)) is not None]


def test_editing_a_module_the_report_imports_reruns_the_report_only(
    source_copy: Path, tmp_path: Path
) -> None:
    ctx = project(tmp_path / "p")
    all_done(ctx)
    edit(source_copy, "doctune.report.tables")
    assert rerun(ctx) == ["report"]
    assert rerun(ctx) == []


@pytest.mark.parametrize(
    ("module", "stages"),
    [
        # The three modules the hand-written lists had missed.
        ("doctune.foundation.stats", ["evaluate", "report"]),
        ("doctune.foundation.openai_checks", ["export", "train"]),
        ("doctune.models.grid", ["export", "train", "evaluate", "report"]),
        ("doctune.prompts.__init__", ["synthesize", "curate", "evalsets", "evaluate"]),
    ],
)
def test_a_stage_is_out_of_date_exactly_when_code_it_imports_changed(
    source_copy: Path, tmp_path: Path, module: str, stages: list[str]
) -> None:
    ctx = project(tmp_path / "p")
    all_done(ctx)
    edit(source_copy, module)
    assert [
        s.name for s in STAGES if not ctx.manifest.is_up_to_date(s.name, stage_fingerprint(ctx, s))
    ] == stages


def test_a_prompt_template_is_part_of_the_code_of_the_stages_that_render_it(
    source_copy: Path, tmp_path: Path
) -> None:
    ctx = project(tmp_path / "p")
    before = {s.name: stage_fingerprint(ctx, s) for s in STAGES}
    template = source_copy / "prompts" / "judge_qa.yaml"
    template.write_text(template.read_text() + "\n# edited\n")
    codehash.clear_cache()
    changed = [s.name for s in STAGES if stage_fingerprint(ctx, s) != before[s.name]]
    assert changed == ["synthesize", "curate", "evalsets", "evaluate"]


def test_an_import_inside_a_function_counts() -> None:
    # train loads its hosted route only when a grid has one.
    assert "doctune.train.hosted" in codehash.imported_modules("doctune.train.stage")


async def _reads_chunks(ctx: RunContext) -> StageResult:
    ctx.inputs("chunks", stage="ingest")
    return StageResult(artifacts=[])


def test_a_stage_reading_what_it_did_not_declare_fails(tmp_path: Path) -> None:
    ctx = project(tmp_path / "p")
    toy = dataclasses.replace(get_stage("report"), entry=f"{__name__}:_reads_chunks")
    with pytest.raises(RuntimeError, match="stage 'report' reads chunks of ingest without"):
        asyncio.run(run_stage(ctx, toy))
    with ctx.reading("report", toy.reads):
        assert ctx.inputs("scores") == []
        with pytest.raises(RuntimeError, match="reads stats of split without declaring"):
            ctx.inputs("stats", stage="split")
    assert ctx.inputs("chunks") == []  # outside a stage (a command, a notebook) nothing is checked


def test_optional_reads_do_not_hold_up_a_plan(tmp_path: Path) -> None:
    ctx = project(tmp_path / "p")
    with pytest.raises(StageOrderError, match="stage 'report' reads scores of evaluate,"):
        check_order(plan(only="report"), ctx)
    scores = ctx.stage_dir("evaluate") / "scores.jsonl"
    scores.write_text("")
    ctx.manifest.replace_stage(
        "evaluate", [ctx.manifest.artifact("evaluate", "scores", scores)], ""
    )
    check_order(plan(only="report"), ctx)  # no experiments table, answers, stats or logs needed
