"""End to end on the bundled example: documents -> chunks -> datasets -> splits -> exports.

The teacher is a real HTTP server on loopback (FakeOpenAIServer, a fake of the paid service) or the
tiny local model; everything else is the real pipeline, driven through the `doctune` CLI.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import QARecord
from doctune.pipeline import UNANSWERED
from doctune.testing.fake_openai import FakeOpenAIServer, Faults

SPLITS = ("train", "validation", "test")


def shrink(project: Path, **overrides: object) -> None:
    """Smaller synthesis targets so the suite stays fast; the pipeline is the same."""
    cfg = yaml.safe_load((project / "doctune.yaml").read_text())
    cfg["synthesize"]["knowledge_distillation"]["target_size"] = 80
    cfg["evalsets"]["quiz"]["count"] = 12
    for dotted, value in overrides.items():
        node = cfg
        *path, last = dotted.split("__")
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    (project / "doctune.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def datasets(out: Path, stage: str) -> dict[str, bytes]:
    manifest = Manifest(out)
    return {
        f"{a.recipe}/{a.split or ''}": manifest.resolve(a).read_bytes()
        for a in manifest.find("dataset", stage=stage)
    }


def test_example_runs_to_export_and_a_second_run_calls_nothing(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    shrink(example_project)
    run_cli("run", str(example_project), "--until", "export")
    out = example_project / "out"
    manifest = Manifest(out)
    kinds = {a.kind for a in manifest.data.artifacts}
    assert {
        "chunks",
        "dataset",
        "rejected",
        "rephrased",
        "quiz",
        "sharegpt",
        "dataset_info",
        "openai_jsonl",
        "alpaca",
        "stats",
    } <= kinds
    for artifact in manifest.data.artifacts:  # every entry names a real file with its hash
        assert (out / artifact.path).exists(), artifact.path
    calls = fake_openai.completions
    assert calls > 0

    run_cli("run", str(example_project), "--until", "export")
    assert fake_openai.completions == calls, "a second run called the model"

    # No chunk feeds two splits; the leak check reports 0 after removal.
    for recipe in ("pdf_synthetic", "knowledge_distillation"):
        owner: dict[str, str] = {}
        for split in SPLITS:
            art = manifest.one("dataset", stage="split", recipe=recipe, split=split)
            for record in read_jsonl(manifest.resolve(art), QARecord):
                for chunk in record.provenance.chunk_ids:
                    assert owner.setdefault(chunk, split) == split, (
                        f"{chunk} in {owner[chunk]} and {split}"
                    )
    report = json.loads((out / "split" / "report.json").read_text())
    assert all(r["leaks_after_removal"] == 0 for r in report["recipes"].values())


def test_dry_run_counts_calls_and_spends_nothing(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    shrink(example_project)
    output = CliRunner().invoke(
        main, ["run", str(example_project), "--dry-run", "--until", "export"]
    )
    assert output.exit_code == 0, output.output
    assert fake_openai.completions == 0
    assert "pdf_synthetic" in output.output and "total" in output.output


def test_injected_faults_lose_no_record(
    example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shrink(example_project)
    clean_project = tmp_path / "clean"
    import shutil

    shutil.copytree(example_project, clean_project)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        run_cli("run", str(clean_project), "--until", "synthesize")
    faults = Faults(rate_429=0.2, rate_500=0.1, rate_truncated=0.05, retry_after_s=0.01)
    with FakeOpenAIServer(faults=faults, seed=3) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        run_cli("run", str(example_project), "--until", "synthesize")
        assert server.counts["429"] and server.counts["500"] and server.counts["truncated"]
        # One call in a few hundred can draw a truncated reply on all three of its attempts
        # (p ~ 0.07 each): it is listed as rejected, never cached, and the stage stays out of
        # date, so a plain rerun asks it again while every good reply comes from the cache.
        first = server.completions
        for _ in range(3):
            left = unanswered(example_project)
            if not left:
                break
            seen = {json.dumps(b, sort_keys=True) for b in server.bodies}
            before = server.completions
            output = run_cli("run", str(example_project), "--until", "synthesize")
            assert "ingest: up to date" in output  # only the stage that failed runs again
            asked = server.completions - before
            assert 0 < asked < 0.1 * first  # every good reply came from the cache
            # What was asked before, asked again: the failed chains only (an ask and at most
            # two re-asks each, the same bodies when the same fault strikes again).
            again = {json.dumps(b, sort_keys=True) for b in server.bodies[-asked:]} & seen
            assert len(again) <= 3 * left
        assert not unanswered(example_project)
        output = run_cli("run", str(example_project), "--until", "synthesize")
        assert "synthesize: up to date" in output
    clean, faulty = Manifest(clean_project / "out"), Manifest(example_project / "out")
    for recipe in ("pdf_synthetic", "knowledge_distillation"):
        a = read_jsonl(
            clean.resolve(clean.one("dataset", stage="synthesize", recipe=recipe)), QARecord
        )
        b = read_jsonl(
            faulty.resolve(faulty.one("dataset", stage="synthesize", recipe=recipe)), QARecord
        )
        assert len(b) == len(a) > 0, recipe
        assert faulty.one("rejected", stage="synthesize", recipe=recipe).records == 0
        if recipe == "pdf_synthetic":
            # Ids are positional (chunk, pair index): the very same records. Distillation ids
            # include the question, which a re-asked call may word differently.
            assert [r.id for r in a] == [r.id for r in b]


def unanswered(project: Path) -> int:
    """The calls the last synthesize run left failed (0 once the stage is up to date)."""
    state = Manifest(project / "out").stage_state("synthesize")
    assert state is not None
    left = int(state.summary.get(UNANSWERED, 0))
    assert (state.fingerprint == "") == (left > 0)
    return left


def _cache_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_during_synthesis_then_resume_gives_exactly_the_records(
    example_project: Path, tmp_path: Path
) -> None:
    """Killed with SIGKILL mid-synthesis and run again: none lost, none twice, same bytes."""
    import shutil

    shrink(example_project)
    reference = tmp_path / "reference"
    shutil.copytree(example_project, reference)
    with FakeOpenAIServer(latency_s=0.05) as server:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-test",
            "DOCTUNE_NO_PROGRESS": "1",
        }
        cmd = [sys.executable, "-m", "doctune.cli", "run", "--until", "synthesize", "--no-progress"]
        subprocess.run([*cmd, str(reference)], env=env, check=True, capture_output=True)
        total = _cache_rows(reference / "out" / "cache" / "calls.sqlite")

        proc = subprocess.Popen(
            [*cmd, str(example_project)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cache = example_project / "out" / "cache" / "calls.sqlite"
        deadline = time.time() + 120
        while _cache_rows(cache) < total // 3 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "synthesis finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_before_kill = _cache_rows(cache)
        assert 0 < done_before_kill < total
        assert not Manifest(example_project / "out").find("dataset", stage="synthesize")

        time.sleep(0.5)  # requests in flight at the kill are still being answered by the server
        served = server.completions
        subprocess.run([*cmd, str(example_project)], env=env, check=True, capture_output=True)
        # The resumed run paid only for the calls the killed run had not finished.
        assert server.completions - served == total - done_before_kill

    assert datasets(example_project / "out", "synthesize") == datasets(
        reference / "out", "synthesize"
    )


@pytest.mark.slow
def test_fully_offline_with_the_tiny_model_as_teacher(
    example_project: Path, tiny_model_dir: Path
) -> None:
    """`--teacher hf:<tiny model>` with no endpoint at all: valid records from a random model."""
    shrink(
        example_project,
        synthesize__pdf_synthetic__max_chunks=6,
        synthesize__pdf_synthetic__questions_per_chunk=2,
        synthesize__knowledge_distillation__target_size=8,
        synthesize__knowledge_distillation__max_topics=2,
        evalsets__quiz__count=2,
        curate__grounding=False,  # random text carries random numbers; grounding is tested elsewhere
        split__default={"train": 0.5, "validation": 0.25, "test": 0.25},
    )
    spec = f"hf:{tiny_model_dir}"
    run_cli("run", str(example_project), "--until", "export", "--teacher", spec, "--judge", spec)
    manifest = Manifest(example_project / "out")
    synthesized = manifest.one("dataset", stage="synthesize", recipe="pdf_synthetic")
    assert synthesized.records == 12
    assert manifest.find("openai_jsonl")
