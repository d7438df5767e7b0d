"""The Compare page through TestClient: every item with each model's answer side by side, the
score difference to the base ("where fine-tuning hurt") filtering and ordering the items, the
suite and exclusion filters, and model text escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.serve.compare_factory import BASE, HOSTILE, TUNED, make_project

from doctune.serve.app import create_app

ITEMS = re.compile(r'<section class="item" id="item-(\w+)"')


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(make_project(tmp_path)))


def items(html: str) -> list[str]:
    return ITEMS.findall(html)


def test_every_item_with_each_models_answer_side_by_side(client: TestClient) -> None:
    page = client.get("/compare")
    assert page.status_code == 200
    assert items(page.text) == ["q0", "q1", "q2", "q3", "q4", "z0"]
    q0 = page.text[page.text.index('id="item-q0"') : page.text.index('id="item-q1"')]
    # Base models first (plain, then +RAG), then the fine-tuned ones.
    labels = re.findall(r'<h3 title="[^"]*">([^<]+?) <span', q0)
    assert labels == [BASE, f"{BASE} +RAG", TUNED]
    assert "The reference of q0." in q0 and "+3.00" in q0
    assert "rated 8.0" in q0  # the judge's rationale
    quiz = page.text[page.text.index('id="item-z0"') :]
    assert "letter read: <strong>B</strong>" in quiz and "letter read: <strong>A</strong>" in quiz
    assert re.findall(r'<span class="score">(\w+)</span>', quiz) == ["wrong", "correct"]
    assert HOSTILE not in page.text and "&lt;script&gt;alert(" in page.text


def test_filtered_and_ordered_by_the_score_difference(client: TestClient) -> None:
    hurt = client.get("/compare?diff=hurt&sort=diff")
    assert items(hurt.text) == ["q2", "q4"]  # -7, then -1
    assert "-7.00" in hurt.text
    helped = client.get(f"/compare?diff=helped&versus={TUNED}")
    assert items(helped.text) == ["q0", "z0"]  # the quiz: wrong before, right after
    same = client.get("/compare?diff=same")
    assert items(same.text) == ["q1"]
    ordered = client.get("/compare?sort=-diff&suite=test_qa")
    # Most helped first; the excluded item has no difference and goes last.
    assert items(ordered.text) == ["q0", "q1", "q4", "q2", "q3"]


def test_filtered_by_suite_and_exclusion(client: TestClient) -> None:
    assert items(client.get("/compare?suite=task").text) == ["z0"]
    excluded = client.get("/compare?exclusion=judge_failed")
    assert items(excluded.text) == ["q3"]
    assert "excluded: judge failed: invalid JSON" in excluded.text
    assert "1–1</strong> / 1" in excluded.text


def test_no_answers_says_what_to_run(tmp_path: Path) -> None:
    project = tmp_path / "empty"
    project.mkdir()
    (project / "doctune.yaml").write_text("name: empty\n")
    page = TestClient(create_app(project)).get("/compare")
    assert page.status_code == 200 and "run <code>doctune evaluate</code>" in page.text
