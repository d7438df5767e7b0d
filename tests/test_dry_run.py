"""`--dry-run` estimates each stage from what the earlier ones wrote or are expected to write.

The project is a copy of the example; the estimates run through the same functions the command
uses (the free stages for real, then `dry_run.estimate`). Where a real run is needed first, the
teacher is the loopback FakeOpenAIServer (a fake of the paid service).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from doctune import dry_run as dry
from doctune import pipeline
from doctune.cli import main
from doctune.commands.common import make_context
from doctune.foundation.manifest import StageState
from doctune.generation import expected
from doctune.generation.expected import FIRST_RUN_RECORD_TOKENS, first_run_keep_rate
from doctune.models.experiments import ExperimentRow, ExperimentTable
from doctune.models.tokens import estimate_tokens
from doctune.pipeline import UNANSWERED
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import default_responder, garbling
from doctune.train.stage import experiments_of


def configure(project: Path, **sections: dict[str, object]) -> None:
    cfg = yaml.safe_load((project / "doctune.yaml").read_text())
    cfg["synthesize"]["knowledge_distillation"]["target_size"] = 80
    cfg["evalsets"]["quiz"]["count"] = 12
    cfg["evaluate"]["max_items"] = 10_000  # no cap: the items follow the splits
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    (project / "doctune.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def dry_run(project: Path, student: str | None = None) -> dict[tuple[str, str], list]:
    """The dry run's rows by (stage, role)."""
    ctx = make_context(project, None, {"student": student}, True, True)
    stages = pipeline.plan()
    free = dry.run_free_stages_for_estimate(ctx, stages)
    asyncio.run(pipeline.run_pipeline(ctx, free))
    rows: dict[tuple[str, str], list] = defaultdict(list)
    for stage, est in dry.estimate(ctx, stages):
        rows[(stage.name, est.role)].append(est)
    return rows


def last_curation(project: Path, kept_share: float) -> None:
    """A manifest whose last curate run kept `kept_share` of each recipe's records."""
    ctx = make_context(project, None, {}, True, True)
    recipes = {
        name: {"records": 100, "kept": round(100 * kept_share)}
        for name in ctx.config.synthesize.recipes
    }
    ctx.manifest.data.stages["curate"] = StageState(
        fingerprint="a-last-run",
        finished_at="2026-01-01T00:00:00+00:00",
        summary={"recipes": recipes},
    )
    ctx.manifest.save()


def calls(rows: dict[tuple[str, str], list], stage: str, role: str) -> int:
    return sum(e.calls for e in rows[(stage, role)])


def test_evalsets_and_evaluate_estimates_follow_the_last_runs_curation(
    example_project: Path, tmp_path: Path
) -> None:
    configure(example_project)
    halved = tmp_path / "halved"
    import shutil

    shutil.copytree(example_project, halved)
    last_curation(example_project, 1.0)
    last_curation(halved, 0.5)
    everything, half = dry_run(example_project), dry_run(halved)

    rephrase = [e for e in everything[("evalsets", "teacher")] if e.note.startswith("rephrase")]
    rephrase_half = [e for e in half[("evalsets", "teacher")] if e.note.startswith("rephrase")]
    assert rephrase[0].calls > 20
    assert abs(rephrase_half[0].calls / rephrase[0].calls - 0.5) < 0.05
    assert "last run's keep rate 0.50" in half[("evaluate", "judge")][0].note
    # The judge scores the QA suites only, whose items are the splits: half of them.
    judged, judged_half = calls(everything, "evaluate", "judge"), calls(half, "evaluate", "judge")
    assert judged > 20 and abs(judged_half / judged - 0.5) < 0.05
    # The quizzes do not depend on curation; the student answers them either way.
    assert 0.5 < calls(half, "evaluate", "student") / calls(everything, "evaluate", "student") < 1


def test_without_a_last_run_the_first_run_keep_rate_is_used(example_project: Path) -> None:
    configure(example_project)
    rows = dry_run(example_project)
    rate = first_run_keep_rate("pdf_synthetic", 77 * 3)
    assert f"first-run keep rate {rate:.2f}" in rows[("evaluate", "judge")][0].note


def test_train_is_listed_with_its_tokens_and_time(
    example_project: Path, tiny_model_dir: Path
) -> None:
    configure(
        example_project,
        train={
            "datasets": ["pdf_synthetic"],
            "grid": {"epochs": [2], "batch_size": [4], "learning_rate": [2e-4]},
        },
    )
    rows = dry_run(example_project, student=f"hf:{tiny_model_dir}")
    (train,) = rows[("train", "student")]
    # 77 chunks x 3 pairs, the first-run share kept, 0.7 of them in train; the first-run size
    # per record; 2 epochs.
    records = round(round(77 * 3 * first_run_keep_rate("pdf_synthetic", 77 * 3)) * 0.7)
    system = estimate_tokens(
        yaml.safe_load((example_project / "doctune.yaml").read_text())["export"]["system_prompt"]
    )
    assert train.train_tokens == records * (FIRST_RUN_RECORD_TOKENS + system) * 2
    assert train.train_seconds is not None and train.train_seconds > 0
    assert "training_throughput" in train.note

    output = CliRunner().invoke(
        main,
        ["run", str(example_project), "--dry-run", "--student", f"hf:{tiny_model_dir}"],
    )
    assert output.exit_code == 0, output.output
    assert f"train ~{train.train_tokens:,} tokens" in output.output


def test_a_stage_after_one_that_reruns_is_estimated_not_up_to_date(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    configure(example_project)
    args = ["run", str(example_project), "--until", "evalsets", "--no-progress"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = dry_run(example_project)
    assert [e.note for s in ("synthesize", "evalsets") for e in rows[(s, "teacher")]] == [
        "up to date",
        "up to date",
    ]

    configure(example_project, synthesize={"pdf_synthetic": {"questions_per_chunk": 2}})
    rows = dry_run(example_project)
    # Curate's and evalsets' own fingerprints still see the old datasets: they would say
    # "up to date" although the new synthesis feeds them.
    assert calls(rows, "evalsets", "teacher") > 0
    notes = [e.note for e in rows[("evalsets", "teacher")]]
    assert any("splits not written yet" in n for n in notes)


def test_synthesis_estimate_uses_the_topics_the_teacher_listed_last_time(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    configure(example_project)
    until = ["run", str(example_project), "--until", "synthesize", "--no-progress"]
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    configure(example_project, client={"seed": 99})  # every request new: nothing cached
    rows = dry_run(example_project)
    (pdf, kd) = rows[("synthesize", "teacher")]
    assert "as the last run found" in kd.note
    served = fake_openai.completions
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    # The fake lists two topics per document where the estimate alone would assume the most.
    assert pdf.calls + kd.calls == fake_openai.completions - served


def synthesized_records(project: Path) -> int:
    ctx = make_context(project, None, {}, True, True)
    return sum(a.records or 0 for a in ctx.manifest.find("dataset", stage="synthesize"))


def test_curation_is_estimated_on_what_synthesis_will_write_when_it_reruns(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    configure(example_project, curate={"judge_filter": {"enabled": True}})
    until = ["run", str(example_project), "--until", "synthesize", "--no-progress"]
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    before = synthesized_records(example_project)
    configure(example_project, synthesize={"pdf_synthetic": {"questions_per_chunk": 1}})
    (judge,) = dry_run(example_project)[("curate", "judge")]
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    # One record per record synthesis then writes (77 chunks x 1 pair + distillation's
    # planned answers), not the last run's 3 pairs per chunk.
    after = synthesized_records(example_project)
    assert after < before - 77
    assert judge.calls == after


def test_hosted_fine_tuning_is_priced_by_its_trained_tokens(example_project: Path) -> None:
    configure(
        example_project,
        train={
            "students": ["openai:gpt-4o-mini-2024-07-18"],
            "datasets": ["pdf_synthetic"],
            "hosted": {"price_per_mtok_trained": 3.0},
        },
    )
    (train,) = dry_run(example_project)[("train", "student")]
    assert train.train_tokens and train.cost_usd == pytest.approx(train.train_tokens * 3.0 / 1e6)
    assert train.train_seconds is None and "hosted" in train.note


def test_training_time_comes_from_the_last_runs_logs(
    example_project: Path, tiny_model_dir: Path
) -> None:
    configure(example_project, train={"datasets": ["pdf_synthetic"]})
    student = f"hf:{tiny_model_dir}"
    ctx = make_context(example_project, None, {"student": student}, True, True)
    (exp,) = experiments_of(ctx)
    row = ExperimentRow.for_experiment(exp, "lora", "an-older-config")
    # Trained before on other data (its adapter is gone): it trains again, at the same speed.
    ExperimentTable(ctx.out_dir).upsert(
        row.model_copy(
            update={"status": "succeeded", "output": "gone", "train_tokens": 5000, "wall_s": 5.0}
        )
    )
    (train,) = dry_run(example_project, student=student)[("train", "student")]
    assert "the last run's training logs" in train.note
    assert train.train_seconds == pytest.approx(train.train_tokens / 1000.0)


def test_a_stage_left_with_unanswered_calls_is_priced_at_those_calls_only(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    configure(example_project, synthesize={"recipes": ["pdf_synthetic"]})
    fake_openai.responders["QAPairs"] = garbling(default_responder, 0.1)
    until = ["run", str(example_project), "--until", "evalsets", "--no-progress"]
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    ctx = make_context(example_project, None, {}, True, True)
    state = ctx.manifest.stage_state("synthesize")
    assert state is not None and state.fingerprint == ""
    unanswered = state.summary[UNANSWERED]
    assert 0 < unanswered < 20

    rows = dry_run(example_project)
    (synth,) = rows[("synthesize", "teacher")]
    assert synth.calls == unanswered  # the 77 - n answered ones are in the cache
    # What synthesis wrote stands for its output: evalsets is not priced as a full rerun.
    assert calls(rows, "evalsets", "teacher") == 0
    assert all(
        "once synthesize gets its unanswered calls" in e.note for e in rows[("evalsets", "teacher")]
    )
    # The endpoint recovered: the calls are answered, and evalsets asks for the new records only.
    fake_openai.responders["QAPairs"] = default_responder
    served = fake_openai.completions
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    usage = json.loads((ctx.out_dir / "usage.json").read_text())
    (synthesis,) = usage["synthesize"].values()
    (evalsets,) = usage["evalsets"].values()
    assert synthesis["calls"] - synthesis["cache_hits"] == unanswered
    # At most 3 pairs per answered call, of which curation keeps some: a few rephrasings.
    new = evalsets["calls"] - evalsets["cache_hits"]
    assert new < 3 * unanswered < evalsets["cache_hits"]
    assert fake_openai.completions - served == unanswered + new

    # Left with unanswered calls again, but with a setting changed: a real rerun, priced whole.
    fake_openai.responders["QAPairs"] = garbling(default_responder, 0.1, seed=5)
    configure(example_project, synthesize={"pdf_synthetic": {"questions_per_chunk": 2}})
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    configure(example_project, synthesize={"pdf_synthetic": {"questions_per_chunk": 4}})
    rows = dry_run(example_project)
    assert calls(rows, "synthesize", "teacher") == 77
    assert calls(rows, "evalsets", "teacher") > 20


def estimated_splits(project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple]:
    """The split sizes per recipe the dry run's later stages were given (the last asked)."""
    seen: dict[str, tuple] = {}
    original = expected.split_sizes

    def spy(ctx, recipe):  # type: ignore[no-untyped-def]
        seen[recipe] = original(ctx, recipe)
        return seen[recipe]

    with monkeypatch.context() as patch:
        patch.setattr(expected, "split_sizes", spy)
        dry_run(project)
    return seen


def split_summary(project: Path) -> dict[str, dict]:
    ctx = make_context(project, None, {}, True, True)
    return ctx.manifest.stage_state("split").summary["recipes"]


def test_split_shares_follow_the_last_run_only_for_the_records_that_carry_over(
    example_project: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(example_project)
    until = ["run", str(example_project), "--until", "split", "--no-progress"]
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    last = split_summary(example_project)
    shares = {"train": 0.7, "validation": 0.15, "test": 0.15}  # the example's configured sizes

    # Synthesis asks the same (a curation setting changed): the same records, the same draw.
    configure(example_project, curate={"min_answer_chars": 21})
    for recipe, (sizes, source) in estimated_splits(example_project, monkeypatch).items():
        assert source.endswith("last run's split shares"), source
        assert sizes == {s: last[recipe]["sizes"].get(s, 0) for s in shares}

    # A new seed changes every request: every group is drawn anew, as configured.
    configure(example_project, client={"seed": 99})
    found = estimated_splits(example_project, monkeypatch)
    assert set(found) == {"pdf_synthetic", "knowledge_distillation"}
    for recipe, (sizes, source) in found.items():
        assert "configured split shares (no record carries over)" in source, source
        kept = round(sum(sizes.values()))
        assert all(abs(sizes[s] - kept * shares[s]) <= 1 for s in shares), (recipe, sizes)
    # Distillation's realised draw was off the configured shares (its few groups are placed
    # whole), so the two cases above differ for it.
    kd = last["knowledge_distillation"]
    assert abs(kd["sizes"]["train"] / kd["records"] - 0.7) > 0.02


def test_distillation_documents_with_cached_topics_are_not_priced_again(
    example_project: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(example_project)
    until = ["run", str(example_project), "--until", "split", "--no-progress"]
    assert CliRunner().invoke(main, until, catch_exceptions=False).exit_code == 0
    # Synthesis reruns for pdf_synthetic's new setting; distillation asks what it asked.
    configure(example_project, synthesize={"pdf_synthetic": {"questions_per_chunk": 2}})
    rows = dry_run(example_project)
    pdf, kd = rows[("synthesize", "teacher")]
    assert pdf.calls == 77 and pdf.cached_calls == 0
    assert kd.calls == 0 and kd.cached_calls > 0 and "cached" in kd.note
    found = estimated_splits(example_project, monkeypatch)
    assert "configured split shares" in found["pdf_synthetic"][1]
    assert found["knowledge_distillation"][1].endswith("last run's split shares")
    served = fake_openai.completions
    result = CliRunner().invoke(main, until, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert fake_openai.completions - served == pdf.calls  # distillation came from the cache
