"""The Datasets, review, Compare and Chat pages served by uvicorn in headless Chromium: a dataset
filtered, one record approved, one rejected and one edited with the keyboard (a, r, e, ctrl+s),
the reviews still there after a reload and in the list; compare answers filtered by "fine-tuning
hurt"; a streamed chat against the loopback fake server with RAG on. No console error, no
failed request, nothing fetched from outside the app. Screenshots of the review and compare
pages are saved in tmp_path (copied to docs/img/ for the README)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.report.test_render_browser import _require_chromium, launch, watch
from tests.serve.compare_factory import write_answers
from tests.serve.datasets_factory import CHUNK_TEXT, make_project
from tests.serve.live import live_server

from doctune.foundation.manifest import Manifest
from doctune.foundation.reviews import ReviewStore, reviews_path
from doctune.serve.app import create_app
from doctune.testing.fake_openai import FakeOpenAIServer


def review_with_the_keyboard(page: Any, url: str) -> None:
    page.goto(url + "/datasets", wait_until="load")
    page.fill("form.filters input[name=q]", "hydrogenation")
    page.select_option("form.filters select[name=recipe]", "pdf_synthetic")
    with page.expect_navigation(wait_until="load"):
        page.click("form.filters button[type=submit]")
    assert page.locator("#position strong").inner_text() == "1–17"
    # The shortcuts are a script at the end of the record page: a key pressed before it has run
    # is lost, so wait for the page's load event, not only for the navigation to commit.
    with page.expect_navigation(wait_until="load"):
        page.locator("table.records tbody tr a").first.click()
    assert page.locator("#position strong").inner_text() == "1 / 17"
    page.keyboard.press("j")
    page.wait_for_url(re.compile(r"/records/pdf-00014\?.*at=2$"))
    page.keyboard.press("a")  # approve pdf-00014, on to the next
    page.wait_for_url(re.compile(r"/records/pdf-00021\?.*at=3$"))
    page.keyboard.press("r")
    page.keyboard.type("wrong pressure")
    page.keyboard.press("Enter")  # reject pdf-00021, on to the next
    page.wait_for_url(re.compile(r"/records/pdf-00028\?.*at=4$"))
    page.keyboard.press("e")
    page.fill("#edit-answer", "Raney nickel at 70 °C, checked by the reviewer.")
    with page.expect_navigation():
        page.keyboard.press("Control+s")
    page.reload(wait_until="load")
    assert page.locator("#status").inner_text() == "edited"
    assert page.locator("#answer").inner_text() == "Raney nickel at 70 °C, checked by the reviewer."
    assert page.locator("#audit tbody tr").count() == 1


@pytest.mark.integration
@pytest.mark.slow
def test_review_compare_and_chat_in_headless_chromium(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    sync_api = _require_chromium()
    project = make_project(tmp_path, n=120)
    write_answers(Manifest(project / "out"))
    fake_openai.responder = lambda body: "Over Raney nickel at 70 °C."
    errors: list[str] = []
    requests: list[str] = []
    with live_server(create_app(project)) as url, sync_api.sync_playwright() as pw:
        browser = launch(pw, tmp_path, 1300, 900)
        try:
            page = browser.new_page()
            watch(page, errors, requests)

            review_with_the_keyboard(page, url)
            page.screenshot(path=str(tmp_path / "serve-review.png"), full_page=True)
            with page.expect_navigation(wait_until="load"):
                page.click("#back")
            assert page.locator("tr.here").get_attribute("id") == "r-pdf-00028"
            statuses = {
                rid: page.locator(f"#r-{rid} .review").inner_text()
                for rid in ("pdf-00007", "pdf-00014", "pdf-00021", "pdf-00028")
            }
            assert statuses == {
                "pdf-00007": "pending",
                "pdf-00014": "approved",
                "pdf-00021": "rejected",
                "pdf-00028": "edited",
            }

            page.goto(url + "/compare", wait_until="load")
            page.select_option("select[name=diff]", "hurt")
            page.select_option("select[name=sort]", "diff")
            with page.expect_navigation(wait_until="load"):
                page.click("form.filters button[type=submit]")
            sections = page.locator("section.item")
            assert [sections.nth(i).get_attribute("id") for i in range(sections.count())] == [
                "item-q2",
                "item-q4",
            ]
            assert page.locator("#item-q2 .diff").inner_text() == "-7.00"
            page.screenshot(path=str(tmp_path / "serve-compare.png"), full_page=True)

            page.goto(url + "/chat", wait_until="load")
            page.fill("#chat-model", "openai:fake-model")
            page.check("#chat-rag")
            page.fill("#chat-question", "Over which catalyst is the ketone hydrogenated?")
            page.click("#chat-send")
            answer = page.locator("#chat-log .turn.assistant pre").last
            # Streamed in pieces: the turn is marked done once the whole answer is in.
            page.wait_for_selector("#chat-log .turn.assistant.done:last-child")
            assert answer.inner_text() == "Over Raney nickel at 70 °C."
            assert page.locator("#passages li").count() == 1  # the project's one chunk
            assert page.locator("#passages a").inner_text() == "process.md p. 3 (Synthesis)"
            assert page.url == url + "/chat"  # streamed in place, no page load
        finally:
            browser.close()

    store = ReviewStore(reviews_path(project))
    assert {r.record_id: r.status for r in store.all()} == {
        "pdf-00014": "approved",
        "pdf-00021": "rejected",
        "pdf-00028": "edited",
    }
    assert store.get("pdf-00021").reason == "wrong pressure"
    assert "Over which catalyst" in fake_openai.bodies[-1]["messages"][-1]["content"]
    assert CHUNK_TEXT in fake_openai.bodies[-1]["messages"][-1]["content"]  # RAG context sent
    assert errors == []
    assert all(r.startswith(url) for r in requests), requests
