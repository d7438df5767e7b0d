"""A smoke run says so: a run that uses a tiny random model anywhere (a role, an evaluated model,
an adapter's base) or that its config marks as one gets a banner at the top of index.html and
report.md, a title that claims nothing, and `smoke=true` on every row of results.csv."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import yaml
from tests.report.factories import make_project

from doctune.context import RunContext
from doctune.models.tiny import MARKER, TINY_RANDOM_KEY
from doctune.pipeline import get_stage, run_stage
from doctune.report.smoke import BANNER, is_tiny_random, smoke_reason, tiny_specs


def fake_model_folder(path: Path, *, tiny: bool) -> Path:
    """A model folder's config.json only: detection reads nothing else."""
    path.mkdir(parents=True)
    config = {"model_type": "qwen2", **({TINY_RANDOM_KEY: True} if tiny else {})}
    (path / "config.json").write_text(json.dumps(config))
    return path


def adapter_of(path: Path, base: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    return path


def test_tiny_models_are_found_through_config_marker_and_adapter_base(tmp_path: Path) -> None:
    tiny = fake_model_folder(tmp_path / "tiny", tiny=True)
    real = fake_model_folder(tmp_path / "real", tiny=False)
    old = fake_model_folder(tmp_path / "old-tiny", tiny=False)
    (old / MARKER).write_text("{}")  # built before config.json carried the key
    adapter = adapter_of(tmp_path / "run" / "adapter", tiny)
    assert is_tiny_random(tiny) and is_tiny_random(old) and not is_tiny_random(real)
    specs = [
        f"hf:{real}",
        f"hf:{tiny}",
        f"hf:{old}",
        f"hf:{real}+{adapter}",  # the adapter's config names the tiny base
        "openai:gpt-4o",
        "hf:Qwen/Qwen2.5-7B-Instruct",
        f"hf:{tmp_path / 'missing'}",
    ]
    assert tiny_specs(specs) == [f"hf:{tiny}", f"hf:{old}", f"hf:{real}+{adapter}"]
    # A relative folder is looked up from the project too.
    assert tiny_specs(["hf:tiny"], root=tmp_path) == ["hf:tiny"]
    assert smoke_reason(False, ["openai:gpt-4o", f"hf:{real}"]) == ""
    assert "report.smoke" in smoke_reason(True, [])


def test_the_real_tiny_model_carries_the_key(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config[TINY_RANDOM_KEY] is True


def run_report(ctx: RunContext) -> Path:
    asyncio.run(run_stage(ctx, get_stage("report")))
    return ctx.out_dir / "report"


def test_a_run_with_a_tiny_model_has_the_banner_everywhere(tmp_path: Path) -> None:
    tiny = fake_model_folder(tmp_path / "tiny", tiny=True)
    ctx = make_project(tmp_path)
    ctx = RunContext(ctx.project_dir, overrides={"student": f"hf:{tiny}"}, show_progress=False)
    folder = run_report(ctx)
    html = (folder / "index.html").read_text(encoding="utf-8")
    body = html.split("<body>", 1)[1]
    # The banner comes first, before the title, and says why.
    assert body.index('id="smoke-banner"') < body.index("<h1>")
    assert BANNER in html and f"hf:{tiny}" in html
    assert "did fine-tuning teach the model?" not in html
    assert "<title>ibuprofen: smoke run" in html
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert md.startswith(f"> **{BANNER}.**")
    assert "did fine-tuning teach the model?" not in md
    rows = list(csv.DictReader(io.StringIO((folder / "results.csv").read_text())))
    assert rows and {r["smoke"] for r in rows} == {"true"}


def test_the_config_marks_a_smoke_run_and_a_real_run_has_no_banner(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    folder = run_report(ctx)
    assert "smoke-banner" not in (folder / "index.html").read_text(encoding="utf-8")
    assert "ibuprofen: did fine-tuning teach the model?" in (folder / "report.md").read_text()
    config = ctx.project_dir / "doctune.yaml"
    data = yaml.safe_load(config.read_text())
    data["report"]["smoke"] = True
    config.write_text(yaml.safe_dump(data))
    folder = run_report(RunContext(ctx.project_dir, show_progress=False))  # not up to date now
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert BANNER in html and "report.smoke" in html


def test_the_smoke_example_is_marked(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "ibuprofen" / "smoke.yaml"
    assert yaml.safe_load(example.read_text())["report"]["smoke"] is True
