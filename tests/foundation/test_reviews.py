"""The review store (SQLite with an audit trail) and how reviews are applied to records."""

from __future__ import annotations

from pathlib import Path

import pytest

from doctune.foundation.config import ProjectConfig
from doctune.foundation.errors import InputError
from doctune.foundation.records import Provenance, QARecord
from doctune.foundation.reviews import Change, ReviewStore, apply_reviews, review_user


def record(rid: str, question: str = "Q?", answer: str = "A.") -> QARecord:
    return QARecord(
        id=rid,
        recipe="pdf_synthetic",
        question=question,
        answer=answer,
        provenance=Provenance(chunk_ids=[f"c-{rid}"]),
    )


def test_reading_a_project_without_reviews_creates_no_file(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    assert store.get("r1") is None
    assert store.all() == [] and store.audit("r1") == []
    assert store.digest() == ReviewStore(tmp_path / "other.sqlite").digest()
    assert not (tmp_path / "reviews.sqlite").exists()


def test_every_change_leaves_an_audit_row_with_who_when_before_and_after(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    store.set("r1", "edited", "ana", answer="Fixed.", before={"question": "Q?", "answer": "A."})
    store.set("r1", "approved", "ben")
    store.set("r1", "rejected", "cy", reason="wrong dose")

    assert store.get("r1").status == "rejected"
    assert store.get("r1").answer is None  # a rejection drops the edit's effect
    trail = store.audit("r1")
    assert [e.user for e in trail] == ["ana", "ben", "cy"]
    assert trail[0].before == {"question": "Q?", "answer": "A."}
    assert trail[0].after["status"] == "edited" and trail[0].after["answer"] == "Fixed."
    # Approving an edited record approves its edited text: it stays an edit.
    assert trail[1].before["answer"] == "Fixed." and trail[1].after["status"] == "edited"
    assert trail[1].after["answer"] == "Fixed." and trail[1].after["user"] == "ben"
    assert trail[2].after["reason"] == "wrong dose"
    assert all(e.at.endswith("+00:00") for e in trail)


def test_bad_reviews_are_refused_with_one_line(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    with pytest.raises(ValueError, match="needs a reason"):
        store.set("r1", "rejected", "ana")
    with pytest.raises(ValueError, match="needs a new question or answer"):
        store.set("r1", "edited", "ana")
    with pytest.raises(ValueError, match="not one of"):
        store.set("r1", "maybe", "ana")
    assert store.all() == []
    (tmp_path / "junk.sqlite").write_text("not a database at all" * 100)
    with pytest.raises(InputError, match=r"junk\.sqlite"):
        ReviewStore(tmp_path / "junk.sqlite").all()


def test_set_many_stores_a_selection_at_once_with_an_audit_row_each(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    store.set("r1", "edited", "ana", answer="Fixed.")
    approved = store.set_many([Change(f"r{i}", "approved") for i in range(1, 4)], "ben")
    # The edited record stays an edit once approved; the others are plain approvals.
    assert [(r.record_id, r.status, r.answer) for r in approved] == [
        ("r1", "edited", "Fixed."),
        ("r2", "approved", None),
        ("r3", "approved", None),
    ]
    assert store.all() == approved
    assert [len(store.audit(f"r{i}")) for i in range(1, 4)] == [2, 1, 1]
    assert store.audit("r1")[1].before["answer"] == "Fixed."  # the prior review's state
    # One bad change stores none of the selection.
    with pytest.raises(ValueError, match="r5 needs a reason"):
        store.set_many([Change("r4", "rejected", "dup"), Change("r5", "rejected")], "cy")
    with pytest.raises(ValueError, match="more than once"):
        store.set_many([Change("r6", "approved"), Change("r6", "approved")], "cy")
    assert {r.record_id for r in store.all()} == {"r1", "r2", "r3"}
    assert store.set_many([], "cy") == []


def test_many_orphaned_and_digest(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    store.set("r1", "approved", "ana")
    store.set("r2", "rejected", "ana", reason="off topic")
    store.set("r3", "pending", "ana")
    assert set(store.many(["r1", "r3", "nope"])) == {"r1", "r3"}
    assert [r.record_id for r in store.orphaned({"r1"})] == ["r2"]  # pending is no review
    before = store.digest()
    assert store.digest() == before and store.audit("r1")  # reading changes nothing
    store.set("r1", "rejected", "ana", reason="duplicate of r2")
    assert store.digest() != before  # a new state: split reruns


def test_apply_drops_rejected_replaces_edited_and_names_the_editor(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "reviews.sqlite")
    store.set("r1", "rejected", "ana", reason="hallucinated")
    store.set("r2", "edited", "ben", question="New Q?", answer="New A.")
    store.set("r3", "approved", "cy")
    records = [record(f"r{i}") for i in range(1, 5)]

    applied = apply_reviews(
        records,
        store.many(["r1"]) | store.many(["r2", "r3"]),
        require_approval=False,
        stage="split",
    )
    assert [r.id for r in applied.kept] == ["r2", "r3", "r4"]
    assert [(r.id, r.reason) for r in applied.dropped] == [("r1", "review_rejected")]
    assert "ana" in applied.dropped[0].detail and "hallucinated" in applied.dropped[0].detail
    edited = applied.kept[0]
    assert (edited.question, edited.answer) == ("New Q?", "New A.")
    assert edited.provenance.edited_by == "ben" and edited.provenance.edited_at
    assert edited.provenance.chunk_ids == ["c-r2"]
    assert applied.kept[1].provenance.approved_by == "cy"
    assert applied.kept[2].provenance.edited_by is None
    assert applied.counts == {
        "reviewed": 3,
        "approved": 1,
        "edited": 1,
        "rejected": 1,
        "not_approved": 0,
    }

    strict = apply_reviews(
        records, {r.record_id: r for r in store.all()}, require_approval=True, stage="split"
    )
    assert [r.id for r in strict.kept] == ["r2", "r3"]
    assert {(r.id, r.reason) for r in strict.dropped} == {
        ("r1", "review_rejected"),
        ("r4", "not_approved"),
    }


def test_review_user_from_config_else_the_os() -> None:
    config = ProjectConfig.model_validate({"review": {"user": "qa-lead"}})
    assert review_user(config) == "qa-lead"
    assert review_user(ProjectConfig()) not in ("", "qa-lead")
