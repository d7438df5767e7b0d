"""The extraction rules on corpora of realistic replies, kept as data in tests/evaluate/data.

`choice_replies_dev.jsonl` is what the rules were developed on; `choice_replies_holdout.jsonl`
was written apart and read only after the rules were final. Each file must come out at least
99 % right, and no reply that chose no option may be given a letter: a false letter is a wrong
score in the table, where a missed one only costs the model a point it may have earned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doctune.evaluate.extraction import read_choice

DATA = Path(__file__).parent / "data"
CORPORA = ["choice_replies_dev.jsonl", "choice_replies_holdout.jsonl"]
FIELDS = {"id", "family", "reply", "finish_reason", "options", "expected", "note"}


def load(name: str) -> list[dict[str, object]]:
    path = DATA / name
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        assert set(row) == FIELDS, f"{path}: {row.get('id')}: fields {sorted(row)}"
        assert row["finish_reason"] in ("stop", "length"), f"{path}: {row['id']}"
    return rows


def decide(row: dict[str, object]) -> str | None:
    options = row["options"]
    letters = "".join(sorted(options)) if isinstance(options, dict) else "ABCD"
    return read_choice(
        str(row["reply"]),
        letters,
        options if isinstance(options, dict) else None,
        str(row["finish_reason"]),
    ).letter


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_is_read_like_a_grader(name: str) -> None:
    rows = load(name)
    assert len({r["id"] for r in rows}) == len(rows), f"{name}: duplicate ids"
    wrong = [(r["id"], r["expected"], decide(r)) for r in rows if decide(r) != r["expected"]]
    false_letters = [w for w in wrong if w[1] is None]
    assert false_letters == [], f"{name}: letters given to replies that chose none"
    assert len(rows) - len(wrong) >= 0.99 * len(rows), f"{name}: {len(wrong)} wrong: {wrong}"


def test_dev_corpus_covers_the_model_families() -> None:
    rows = load("choice_replies_dev.jsonl")
    families = {r["family"] for r in rows}
    assert len(rows) >= 200
    assert {"instruct", "base", "reasoning", "zh", "ja", "markdown"} <= families
    assert sum(r["expected"] is None for r in rows) >= 50  # replies that chose nothing
    assert sum(r["finish_reason"] == "length" for r in rows) >= 5
