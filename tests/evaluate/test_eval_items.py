"""Items: which records each suite asks, stable ids, a seeded sample independent of file order,
and which rows the plan holds (fine-tuned models on their own dataset, bases added)."""

from __future__ import annotations

from pathlib import Path

from evalkit import TEST, TRAIN, make_project, qa

from doctune.context import RunContext
from doctune.evaluate.items import sample
from doctune.evaluate.plan import build_plan
from doctune.evaluate.suites import Items, suite_kind


def suite_items(ctx: RunContext, suite: str) -> Items:
    found = suite_kind(suite).items(ctx)
    assert not isinstance(found, str), found
    return found


def test_suites_read_their_splits(tmp_path: Path) -> None:
    ctx = RunContext(make_project(tmp_path / "p"), show_progress=False)
    train = suite_items(ctx, "train_qa")["pdf_synthetic"]
    test = suite_items(ctx, "test_qa")["pdf_synthetic"]
    assert {i.question for i in train} == {q for q, _ in TRAIN}
    assert {i.question for i in test} == {q for q, _ in TEST}
    assert all(i.reference and i.dataset == "pdf_synthetic" for i in train + test)
    rephrased = suite_items(ctx, "rephrased_qa")["pdf_synthetic"]
    # rephrased_from defaults to train: the rewordings of training questions, judged against
    # the original answer.
    assert len(rephrased) == len(TRAIN)
    assert all(
        i.meta["split"] == "train" and i.question.startswith("Put differently") for i in rephrased
    )
    assert {i.reference for i in rephrased} == {a for _, a in TRAIN}
    task, prompted = suite_items(ctx, "task")[None], suite_items(ctx, "task_prompted")[None]
    assert [i.id for i in task] == [i.id for i in prompted]  # the same quizzes: they pair up
    assert all(i.options and i.answer and i.knowledge for i in task)


def test_rephrased_from_and_max_items(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p", {"evaluate": {"rephrased_from": ["test"], "max_items": 3, "seed": 5}}
    )
    ctx = RunContext(project, show_progress=False)
    rephrased = suite_items(ctx, "rephrased_qa")["pdf_synthetic"]
    assert len(rephrased) == len(TEST) and all(i.meta["split"] == "test" for i in rephrased)
    train = suite_items(ctx, "train_qa")["pdf_synthetic"]
    assert len(train) == 3
    assert [i.id for i in train] == [i.id for i in suite_items(ctx, "train_qa")["pdf_synthetic"]]
    assert len(suite_items(ctx, "task")[None]) == 3


def test_sample_is_seeded_and_ignores_file_order() -> None:
    records = qa("r", "train", [(f"Question {i}?", f"Answer {i}.") for i in range(50)])
    first = sample(records, 10, 0, "train_qa", "x")
    assert [r.id for r in first] == [r.id for r in sample(records[::-1], 10, 0, "train_qa", "x")]
    assert [r.id for r in first] == sorted(r.id for r in first)
    assert [r.id for r in first] != [r.id for r in sample(records, 10, 1, "train_qa", "x")]
    assert len(sample(records, None, 0)) == 50


def test_plan_rows(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"evaluate": {"models": ["exp1"]}})
    ctx = RunContext(project, show_progress=False)
    plan = build_plan(ctx)
    labels = [(m.label, m.kind) for m in plan.models]
    assert labels == [
        ("openai:base (base)", "base"),  # added: before/after needs it
        ("exp1 (pdf_synthetic)", "finetuned"),
        ("openai:baseline", "baseline"),
    ]
    assert plan.suites == ["train_qa", "test_qa", "rephrased_qa", "task", "task_prompted"]
    assert any(note.startswith("mmlu: skipped") for note in plan.notes)
    jobs = {(j.model.label, j.suite, j.dataset) for j in plan.jobs()}
    assert ("exp1 (pdf_synthetic)", "train_qa", "pdf_synthetic") in jobs
    assert len(jobs) == 3 * 5
