"""Reviews made in the web app, applied by the pipeline, in headless Chromium: after a run to
export on the loopback fake, one record is rejected with a reason, one edited (with markup in the
new answer) and one approved on their record pages; `doctune run --until export` then leaves the
rejected record out of every split and export, exports the edited text, and the edited record's
page shows its provenance naming the editor. A screenshot of the edited record is saved in
tmp_path (copied to docs/img/ for the README)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.report.test_render_browser import _require_chromium, launch, watch
from tests.serve.live import live_server
from tests.test_reviews_pipeline import (
    RECIPE,
    cli,
    configure,
    export_lines,
    split_records,
    train_line,
)

from doctune.serve.app import create_app
from doctune.testing.fake_openai import FakeOpenAIServer

MARKUP = "Ibuprofen forms in <script>alert('x')</script> two steps."


@pytest.mark.integration
@pytest.mark.slow
def test_reviews_from_the_record_pages_reach_the_exports(
    example_project: Path, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    sync_api = _require_chromium()
    configure(example_project)
    project, out = str(example_project), example_project / "out"
    cli("run", project, "--until", "export", "--no-progress")
    before = split_records(out)
    train = sorted(i for i, r in before.items() if r.recipe == RECIPE and r.split == "train")
    rejected_id, edited_id, approved_id = train[:3]
    shot = tmp_path / "serve-review.png"

    errors: list[str] = []
    with live_server(create_app(example_project)) as url, sync_api.sync_playwright() as pw:
        browser = launch(pw, tmp_path, 1300, 900)
        try:
            page = browser.new_page()
            watch(page, errors)

            page.goto(f"{url}/records/{rejected_id}", wait_until="load")
            page.fill("#reason", "states the wrong temperature")
            page.click("#reject")
            page.goto(f"{url}/records/{rejected_id}", wait_until="load")
            assert page.locator("#status").inner_text() == "rejected"

            page.goto(f"{url}/records/{edited_id}", wait_until="load")
            page.click("#edit-box summary")
            page.fill("#edit-question", "Reviewed question?")
            page.fill("#edit-answer", MARKUP)
            page.click("#save")
            page.goto(f"{url}/records/{approved_id}", wait_until="load")
            page.click("#approve")

            # Playwright's sync API holds an event loop in this thread; the run needs its own.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(cli, "run", project, "--until", "export", "--no-progress").result()
            page.goto(f"{url}/records/{edited_id}", wait_until="load")
            assert page.locator("#status").inner_text() == "edited"
            assert page.locator("#answer").inner_text() == MARKUP  # shown as text
            assert page.locator("main script").count() == 0
            provenance = page.locator("table.kv").inner_text()
            assert "edited_by" in provenance and "qa-lead" in provenance
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert not errors, errors
    assert shot.stat().st_size > 10_000
    after = split_records(out)
    assert rejected_id not in after
    for fmt in ("sharegpt", "openai", "alpaca"):
        assert not any(before[rejected_id].answer in line for line in export_lines(out, fmt))
    assert after[edited_id].provenance.edited_by == "qa-lead"
    assert after[approved_id].provenance.approved_by == "qa-lead"
    assert train_line(out, "openai", edited_id)["messages"][-1]["content"] == MARKUP
    sharegpt = train_line(out, "sharegpt", edited_id)["conversations"]
    assert sharegpt[-2:] == [
        {"from": "human", "value": "Reviewed question?"},
        {"from": "gpt", "value": MARKUP},
    ]
