"""Loss curves from the logs training leaves (trainer_state.json, JSONL, a hosted job's CSV) and
the plots drawn from them and from the scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.report.factories import experiments, talk_scores, training_log
from tests.train.helpers import make_job, one_torch_thread  # noqa: F401 (a fixture)

from doctune.foundation.manifest import Manifest
from doctune.report.logs import find_curves, is_run_summary, parse_log
from doctune.report.plots import loss_plot, score_plots
from doctune.report.tables import build_results_table
from doctune.train import local

PNG = b"\x89PNG\r\n\x1a\n"


def test_trainer_state_log_history(tmp_path: Path) -> None:
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(training_log()))
    curve = parse_log(path, "qwen-kd")
    assert len(curve.train) == 30 and len(curve.eval) == 3
    assert curve.train[0] == (1.0, 2.5 / 1.2)
    assert [s for s, _ in curve.eval] == [10.0, 20.0, 30.0]


def test_hosted_result_csv(tmp_path: Path) -> None:
    path = tmp_path / "result.csv"
    path.write_text(
        "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
        "1,1.9,0.5,,\n2,1.5,0.6,1.7,0.55\n3,1.2,0.7,,\n"
    )
    curve = parse_log(path, "gpt-pdf")
    assert curve.train == [(1.0, 1.9), (2.0, 1.5), (3.0, 1.2)]
    assert curve.eval == [(2.0, 1.7)]


def test_jsonl_with_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.0}\n{"step": 3, "lo')
    assert parse_log(path, "x").train == [(1.0, 2.0), (2.0, 1.0)]


def test_files_without_losses_give_no_curve(tmp_path: Path) -> None:
    for name, text in (
        ("a.json", '{"lora_r": 8}'),
        ("b.json", "not json"),
        ("c.csv", "x,y\n1,2\n"),
    ):
        path = tmp_path / name
        path.write_text(text)
        assert not parse_log(path, "x")


def test_find_curves_from_artifacts_and_experiment_folders(tmp_path: Path) -> None:
    rows = experiments()
    # An artifact of kind training_log for the first, a file in the folder of the third, and
    # the adapter's config (not a log) beside it.
    first = tmp_path / "train" / rows[0].id / "metrics.csv"
    first.parent.mkdir(parents=True)
    first.write_text("step,train_loss\n1,1.0\n2,0.8\n")
    third = tmp_path / "train" / rows[2].id
    (third / "checkpoint-10").mkdir(parents=True)
    (third / "adapter_config.json").write_text('{"loss": 1}')
    (third / "trainer_state.json").write_text(json.dumps(training_log()))
    (third / "checkpoint-10" / "trainer_state.json").write_text('{"log_history": [{"loss": 9}]}')
    manifest = Manifest(tmp_path)
    artifact = manifest.artifact("train", "training_log", first, name=rows[0].id)
    curves = find_curves(tmp_path, [artifact], rows)
    assert [c.name for c in curves] == [rows[0].name, rows[2].name]
    assert curves[1].source == "trainer_state.json"  # the final state, not a checkpoint's
    assert len(curves[1].train) == 30


def test_score_and_loss_plots_are_pngs(tmp_path: Path) -> None:
    table = build_results_table(talk_scores())
    plots = score_plots(table, tmp_path)
    assert [p.path.name for p in plots] == [
        "scores_pdf_synthetic.png",
        "scores_knowledge_distillation.png",
    ]
    first = plots[0].path.read_bytes()
    assert first[:8] == PNG and len(first) > 10_000
    # Same scores, same bytes: a rerun does not make the report look changed.
    again = score_plots(table, tmp_path / "again")
    assert again[0].path.read_bytes() == first

    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(training_log()))
    loss = loss_plot([parse_log(path, "qwen-kd")], tmp_path)
    assert loss is not None and loss.path.read_bytes()[:8] == PNG
    assert loss_plot([], tmp_path / "none") is None
    assert score_plots(build_results_table([]), tmp_path / "empty") == []


def test_the_trainer_summary_is_not_a_point_of_the_curve(tmp_path: Path) -> None:
    from doctune.report.logs import parse_log

    log = tmp_path / "trainer_state.json"
    log.write_text(
        json.dumps(
            {
                "log_history": [
                    {"step": 1, "loss": 4.0},
                    {"step": 2, "loss": 1.0},
                    {"step": 2, "train_loss": 2.5, "train_runtime": 3.1},
                ]
            }
        )
    )
    assert parse_log(log, "x").train == [(1.0, 4.0), (2.0, 1.0)]


DATA = Path(__file__).parent / "data"


def test_transformers_5_24_per_step_entries_are_training_points() -> None:
    # A real log of that version: every per-step entry carries `train_runtime` (it counts input
    # tokens), which must not make it look like the end-of-run summary.
    log = DATA / "trainer_state_transformers_5_24.json"
    history = json.loads(log.read_text())["log_history"]
    assert all("train_runtime" in h for h in history if "loss" in h)
    curve = parse_log(log, "smoke")
    assert [s for s, _ in curve.train] == [float(s) for s in range(1, 9)]
    assert curve.train[0][1] > curve.train[-1][1]
    assert [s for s, _ in curve.eval] == [4.0, 8.0]
    # The summary's mean over the run (5.49) is not drawn as a last point at step 8.
    assert curve.train[-1] == (8.0, history[-3]["loss"])
    assert is_run_summary(history[-1]) and not is_run_summary(history[0])


def test_summaries_are_told_apart_by_what_they_are() -> None:
    assert is_run_summary({"train_loss": 2.5, "total_flos": 1e9, "step": 8})
    # A hosted job's CSV row has a per-step train_loss and none of the run's totals.
    assert not is_run_summary({"step": 3, "train_loss": 1.2, "valid_loss": 1.4})
    # An evaluation entry with the runtime beside it is still a validation point.
    assert not is_run_summary({"step": 4, "eval_loss": 2.0, "train_runtime": 0.3})


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_real_training_run_gives_a_full_training_curve(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    job = make_job(tmp_path, tiny_model_dir, hp={"epochs": 2}, save_steps=10_000)
    result = local.train(job)
    assert result.status == "succeeded" and result.steps == 8
    curve = parse_log(Path(job.output_dir) / "training_log.json", "test")
    assert [s for s, _ in curve.train] == [float(s) for s in range(1, 9)]
    assert len(curve.eval) == 2
