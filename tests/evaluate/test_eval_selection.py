"""`select_by: <suite>` must not flip with each partial run."""

from __future__ import annotations

from pathlib import Path

import yaml

from doctune.context import RunContext
from doctune.evaluate.plan import previous_scores, remember_scores
from doctune.foundation.evalrecords import SuiteScore


def score(experiment: str | None, suite: str, mean: float, variant: str = "plain") -> SuiteScore:
    return SuiteScore(
        model=experiment or "base",
        spec="hf:x",
        kind="finetuned" if experiment else "base",
        experiment=experiment,
        suite=suite,
        variant=variant,
        metric="judge",
        n=3,
        mean=mean,
    )


def test_selection_scores_accumulate_across_runs(tmp_path: Path) -> None:
    (tmp_path / "doctune.yaml").write_text(yaml.safe_dump({"name": "t"}))
    ctx = RunContext(tmp_path, show_progress=False)
    assert previous_scores(ctx, "test_qa") is None
    remember_scores(
        ctx,
        [score("exp1", "test_qa", 6.0), score("exp2", "test_qa", 7.0), score(None, "test_qa", 5.0)],
    )
    # A later run evaluates only exp2 (a new score) and a rag variant: exp1's score stays.
    remember_scores(
        ctx, [score("exp2", "test_qa", 5.5), score("exp1", "test_qa", 9.9, variant="rag")]
    )
    assert previous_scores(ctx, "test_qa") == {"exp1": 6.0, "exp2": 5.5}
    assert previous_scores(ctx, "validation_loss") is None
