"""The app served by uvicorn and opened in headless Chromium after a run to export on the loopback
fake: the overview, a document, a chunk with its passage highlighted and hostile text shown as
text; no console errors, no failed request, nothing fetched from outside the app. A screenshot of
the overview is saved in tmp_path (copied to docs/img/ for the README)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from tests.report.test_render_browser import _require_chromium, launch, watch
from tests.serve.live import live_server
from tests.test_e2e_datasets import shrink

from doctune.cli import main
from doctune.serve.app import create_app
from doctune.testing.fake_openai import FakeOpenAIServer

HOSTILE = "<script>alert('pwned')</script>"


@pytest.mark.integration
@pytest.mark.slow
def test_overview_documents_and_a_chunk_in_headless_chromium(
    example_project: Path, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    sync_api = _require_chromium()
    (example_project / "documents" / "hostile.md").write_text(
        f"# Hostile\n\nA line with {HOSTILE} in it.\n", encoding="utf-8"
    )
    shrink(example_project)
    args = ["run", str(example_project), "--until", "export", "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = (example_project / "out" / "ingest" / "chunks.jsonl").read_text().splitlines()
    hostile = next(c for c in map(json.loads, lines) if c["path"] == "hostile.md")
    shot = tmp_path / "serve-overview.png"

    errors: list[str] = []
    requests: list[str] = []
    with live_server(create_app(example_project)) as url, sync_api.sync_playwright() as pw:
        browser = launch(pw, tmp_path, 1300, 800)
        try:
            page = browser.new_page()
            watch(page, errors, requests)
            page.goto(url + "/", wait_until="load")

            for stage in ("ingest", "synthesize", "curate", "split", "evalsets", "export"):
                state = page.locator(f'#stages tr[data-stage="{stage}"] .state')
                assert state.inner_text() == "up to date", stage
            assert page.locator("#stages tbody tr").count() == 9
            display = page.eval_on_selector("header.top", "e => getComputedStyle(e).display")
            assert display == "flex"  # the vendored stylesheet applied
            page.screenshot(path=str(shot), full_page=True)

            # count() and inner_text() do not wait for a navigation: each click waits for its load.
            with page.expect_navigation(wait_until="load"):
                page.click("header.top nav >> text=Documents")
            with page.expect_navigation(wait_until="load"):
                page.click("text=procedure_nickel_route.md")
            assert page.locator("#chunks tbody tr").count() >= 1
            with page.expect_navigation(wait_until="load"):
                page.locator("#chunks tbody tr a").first.click()
            assert page.locator("#chunk-text").inner_text().strip()

            page.goto(f"{url}/chunks/{hostile['id']}?q=" + quote(HOSTILE, safe=""))
            assert page.locator("#chunk-text mark").inner_text() == HOSTILE
            assert page.locator("main script").count() == 0
        finally:
            browser.close()

    assert errors == []
    assert all(r.startswith(url) for r in requests), requests
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
