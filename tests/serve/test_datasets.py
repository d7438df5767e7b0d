"""The Datasets and record pages through Starlette's TestClient: filters, search, pages and the
position carried into a record and back, review POSTs stored with their audit trail and moving
on to the next record, bulk actions on the filtered selection, and model text escaped."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.serve.datasets_factory import HOSTILE, make_project

from doctune.foundation.manifest import Manifest
from doctune.foundation.reviews import ReviewStore, reviews_path
from doctune.serve.app import create_app

ROWS = re.compile(r'<tr id="r-([\w-]+)"')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, n=120, dropped=4)


@pytest.fixture
def client(project: Path) -> TestClient:
    return TestClient(create_app(project), follow_redirects=False)


def csrf(client: TestClient) -> str:
    return client.app.state.doctune.csrf_token  # type: ignore[attr-defined]


def ids(html: str) -> list[str]:
    return ROWS.findall(html)


def test_every_record_of_every_recipe_paged_with_its_position(client: TestClient) -> None:
    page = client.get("/datasets")
    assert page.status_code == 200
    assert "1–50</strong> / 123" in page.text  # 120 + 3 records, dropped ones included
    # Recipes in name order, each in the order synthesis wrote it.
    assert ids(page.text)[:4] == ["kno-00000", "kno-00001", "kno-00002", "pdf-00000"]
    assert len(ids(page.text)) == 50
    third = client.get("/datasets?page=3")
    assert "101–123</strong> / 123" in third.text
    assert ids(third.text)[-1] == "pdf-00119"
    # A position lands on its page, the row marked.
    at = client.get("/datasets?at=77")
    assert "51–100</strong>" in at.text
    assert 'id="r-pdf-00073" class="here"' in at.text


def test_filters_by_recipe_split_verdict_and_search(client: TestClient) -> None:
    kd = client.get("/datasets?recipe=knowledge_distillation")
    assert ids(kd.text) == ["kno-00000", "kno-00001", "kno-00002"]
    dropped = client.get("/datasets?verdict=duplicate")
    assert ids(dropped.text) == ["pdf-00001", "pdf-00003"]
    ungrounded = client.get("/datasets?verdict=ungrounded&recipe=pdf_synthetic")
    assert ids(ungrounded.text) == ["pdf-00002", "pdf-00004"]
    test_split = client.get("/datasets?split=test&recipe=pdf_synthetic")
    assert "1–23</strong> / 23" in test_split.text  # 116 kept, every 5th in test
    found = client.get("/datasets?q=HYDROGENATION+question")
    # Every 7th question mentions it (0 carries the script tag instead); search is case-blind.
    assert ids(found.text) == [f"pdf-{i:05d}" for i in range(7, 120, 7)]
    nothing = client.get("/datasets?q=no-such-word")
    assert "0 / 0" in nothing.text and ids(nothing.text) == []


def test_position_survives_going_into_a_record_and_back(client: TestClient) -> None:
    listing = client.get("/datasets?q=hydrogenation&at=3")
    link = re.search(r'href="(/records/pdf-00021\?[^"]+)"', listing.text)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert "q=hydrogenation" in url and "at=3" in url
    record = client.get(url)
    assert "<strong>3 / 17</strong>" in record.text
    assert 'href="/records/pdf-00028?q=hydrogenation&amp;at=4" id="next"' in record.text
    assert 'href="/records/pdf-00014?q=hydrogenation&amp;at=2" id="prev"' in record.text
    back = re.search(r'href="([^"]+)" id="back"', record.text)
    assert back is not None and back.group(1) == "/datasets?q=hydrogenation&amp;at=3#r-pdf-00021"
    assert 'id="r-pdf-00021" class="here"' in client.get("/datasets?q=hydrogenation&at=3").text


def test_record_page_shows_provenance_chunk_link_and_escapes_model_text(
    client: TestClient,
) -> None:
    page = client.get("/records/pdf-00000")
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(" in page.text
    # The chunk's sentence sharing the most words with the answer is the passage to highlight.
    assert "/chunks/c-1?q=The+BHC+route+hydrogenates+the+ketone+over+Raney+nickel" in page.text
    assert "process.md p. 3" in page.text
    assert client.get("/records/no-such-id").status_code == 404
    listing = client.get("/datasets?q=script")
    assert HOSTILE not in listing.text and "&lt;script&gt;" in listing.text


def review(client: TestClient, record_id: str, **form: str):
    return client.post(f"/records/{record_id}/review", data={"csrf": csrf(client), **form})


def test_review_posts_are_stored_audited_and_move_to_the_next(
    client: TestClient, project: Path
) -> None:
    store = ReviewStore(reviews_path(project))
    moved = review(client, "pdf-00014", action="approve", q="hydrogenation", at="2")
    assert moved.status_code == 303
    assert moved.headers["location"] == "/records/pdf-00021?q=hydrogenation&at=3"
    rejected = review(client, "pdf-00021", action="reject", reason="wrong temperature",
                      q="hydrogenation", at="3")  # fmt: skip
    assert rejected.headers["location"] == "/records/pdf-00028?q=hydrogenation&at=4"
    edited = review(client, "pdf-00028", action="edit", question="Edited question?",
                    answer="Edited answer.\r\nSecond line.", q="hydrogenation", at="4")  # fmt: skip
    assert edited.headers["location"] == "/records/pdf-00028?q=hydrogenation&at=4"
    got = store.many(["pdf-00014", "pdf-00021", "pdf-00028"])
    assert {k: v.status for k, v in got.items()} == {
        "pdf-00014": "approved",
        "pdf-00021": "rejected",
        "pdf-00028": "edited",
    }
    assert got["pdf-00021"].reason == "wrong temperature"
    assert got["pdf-00028"].answer == "Edited answer.\nSecond line."
    (entry,) = store.audit("pdf-00028")
    assert entry.before is not None and entry.before["question"].startswith("Question 28")
    assert entry.after["question"] == "Edited question?"
    page = client.get("/records/pdf-00028?q=hydrogenation&at=4")
    assert "Edited question?" in page.text and 'id="status">edited' in page.text
    assert "wrong temperature" in client.get("/records/pdf-00021").text
    # The review filter sees them; a rejection without a reason is refused in one line.
    assert ids(client.get("/datasets?status=rejected").text) == ["pdf-00021"]
    refused = review(client, "pdf-00035", action="reject", reason=" ")
    assert refused.status_code == 400 and "needs a reason" in refused.text
    assert store.get("pdf-00035") is None


def test_approving_in_a_pending_filter_goes_to_the_record_that_took_its_place(
    client: TestClient,
) -> None:
    moved = review(client, "pdf-00014", action="approve", q="hydrogenation", status="pending",
                   at="2")  # fmt: skip
    # pdf-00014 left the selection; its place (2) is now pdf-00021's.
    assert moved.headers["location"] == "/records/pdf-00021?status=pending&q=hydrogenation&at=2"


def test_bulk_actions_cover_the_filtered_selection_only(client: TestClient, project: Path) -> None:
    store = ReviewStore(reviews_path(project))
    review(client, "pdf-00007", action="edit", question="Kept edit?", answer="Kept.")
    done = client.post(
        "/datasets/bulk",
        data={"csrf": csrf(client), "action": "approve", "q": "hydrogenation", "at": "5"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/datasets?q=hydrogenation&at=5"
    reviews = store.all()
    assert {r.record_id for r in reviews} == {f"pdf-{i:05d}" for i in range(7, 120, 7)}
    assert store.get("pdf-00007").status == "edited"  # approving kept the edit, no new entry
    assert len(store.audit("pdf-00007")) == 1
    refused = client.post("/datasets/bulk", data={"csrf": csrf(client), "action": "reject"})
    assert refused.status_code == 400
    client.post(
        "/datasets/bulk",
        data={"csrf": csrf(client), "action": "reject", "reason": "off topic",
              "recipe": "knowledge_distillation"},
    )  # fmt: skip
    assert ids(client.get("/datasets?status=rejected").text) == [
        "kno-00000",
        "kno-00001",
        "kno-00002",
    ]


def test_a_post_without_the_csrf_token_is_refused(client: TestClient, project: Path) -> None:
    refused = client.post("/records/pdf-00001/review", data={"action": "approve"})
    assert refused.status_code == 403
    assert ReviewStore(reviews_path(project)).get("pdf-00001") is None


def test_reviews_of_records_gone_are_listed_as_orphaned(client: TestClient, project: Path) -> None:
    store = ReviewStore(reviews_path(project))
    store.set("pdf-99999", "rejected", "alice", reason="stale")
    store.set("pdf-00001", "approved", "alice")
    page = client.get("/datasets")
    assert "1 orphaned review:" in page.text
    orphaned = page.text[page.text.index('id="orphaned"') :]
    assert "<code>pdf-99999</code>" in orphaned and "stale" in orphaned
    assert "pdf-00001" not in orphaned


def test_as_written_is_what_synthesis_wrote_after_a_run_applied_the_edit(
    client: TestClient, project: Path
) -> None:
    rid, edit = "pdf-00005", "Raney nickel at 70 °C, as the reviewer checked."
    written = ReviewStore(reviews_path(project))
    form = {"csrf": csrf(client), "action": "edit", "question": "", "answer": edit}
    page = client.get(f"/records/{rid}")
    form["question"] = html_text(page.text, "question")
    original = html_text(page.text, "answer")
    assert client.post(f"/records/{rid}/review", data=form).status_code == 303
    assert written.get(rid).answer == edit
    # What split writes once a run applied the review: the record with its edited text.
    manifest = Manifest(project / "out")
    for artifact in manifest.find("dataset", stage="split"):
        path = manifest.resolve(artifact)
        lines = path.read_text().splitlines()
        path.write_text(
            "".join(
                (json.dumps({**json.loads(line), "answer": edit}) if rid in line else line) + "\n"
                for line in lines
            )
        )
    shown = client.get(f"/records/{rid}").text
    assert html_text(shown, "answer") == edit
    as_written = re.search(r'id="as-written">(.*?)</p>', shown, re.S)
    assert as_written and html.escape(original, quote=True) in as_written.group(1)
    assert html.escape(edit, quote=True) not in as_written.group(1)
    # Back to pending: the record shows its own text again, not split's copy of the old edit.
    pending = {"csrf": csrf(client), "action": "pending"}
    assert client.post(f"/records/{rid}/review", data=pending).status_code == 303
    assert html_text(client.get(f"/records/{rid}").text, "answer") == original


def html_text(page: str, element_id: str) -> str:
    found = re.search(rf'<pre class="text" id="{element_id}">(.*?)</pre>', page, re.S)
    assert found, element_id
    return html.unescape(found.group(1))
