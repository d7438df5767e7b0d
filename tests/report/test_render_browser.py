"""The report opened from disk in headless Chromium: no console or page errors, the results table
and every plot present and decoded, and a screenshot taken.

Needs Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it). Without it the test
skips and says so, unless DOCTUNE_REQUIRE_CHROMIUM=1, where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from tests.report.factories import HOSTILE, make_project

from doctune.context import RunContext
from doctune.pipeline import get_stage, run_stage
from doctune.report.render import EMPTY_ANSWER
from doctune.report.smoke import BANNER

CHROMIUM = Path(os.environ.get("DOCTUNE_CHROMIUM", "/usr/bin/chromium"))
# Chromium phones home at start-up (component updates, safe browsing, sync); on a closed network
# those connections are refused and logged as errors, so they are switched off.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(pw: Any, tmp_path: Path, width: int, height: int) -> Any:
    """Debian's Chromium, headless, with a fresh profile and the flags above."""
    return pw.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        args=FLAGS,
        headless=True,
        viewport={"width": width, "height": height},
    )


def watch(page: Any, errors: list[str], requests: list[str] | None = None) -> None:
    """Collect what a page should never do: console errors, script errors, dialogs (an injected
    alert), failed responses; and, when asked, every URL it requested."""
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))


def _require_chromium() -> ModuleType:
    """playwright's sync API, once both it and the browser are there; else skip or fail."""
    reason = None
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        reason = "the playwright package is not installed (pip install doctune[dev])"
    if reason is None and not CHROMIUM.is_file():
        reason = f"{CHROMIUM} not found (install it: apt-get install -y chromium)"
    if reason is None:
        return sync_api
    if os.environ.get("DOCTUNE_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"DOCTUNE_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def test_missing_browser_skips_unless_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("DOCTUNE_REQUIRE_CHROMIUM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _require_chromium()
    monkeypatch.setenv("DOCTUNE_REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception, match="DOCTUNE_REQUIRE_CHROMIUM=1 but"):
        _require_chromium()


@pytest.mark.integration
@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    sync_api = _require_chromium()
    ctx = make_project(tmp_path)
    asyncio.run(run_stage(ctx, get_stage("report")))
    index = ctx.out_dir / "report" / "index.html"
    shot = tmp_path / "report.png"

    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = launch(pw, tmp_path, 1400, 900)
        try:
            page = browser.new_page()
            watch(page, errors, requests)
            page.goto(index.as_uri(), wait_until="load")

            rows = page.locator("#results-table tbody tr")
            assert rows.count() == 8
            header = page.locator("#results-table thead").inner_text()
            for column in ("train set QA", "test with rephrased QA", "Task + prompting", "MMLU"):
                assert column in header
            assert "5.86 > 7.29 +14.3 %" in page.locator("#results-table").inner_text()

            images = page.locator("img")
            assert images.count() == 3  # two score plots and the loss curves
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert all(w > 100 for w in widths), widths

            # The hostile answer is shown as text and never became elements.
            assert page.locator("script").count() == 0
            assert HOSTILE in page.locator(".answer .text").all_inner_texts()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert errors == []
    # Opened from disk: the page and its data: images, nothing fetched from anywhere.
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.integration
@pytest.mark.slow
def test_smoke_banner_and_awkward_answers_in_headless_chromium(tmp_path: Path) -> None:
    sync_api = _require_chromium()
    ctx = make_project(tmp_path)
    config = ctx.project_dir / "doctune.yaml"
    data = yaml.safe_load(config.read_text())
    data["report"]["smoke"] = True
    config.write_text(yaml.safe_dump(data))
    answers_dir = ctx.out_dir / "evaluate" / "answers" / "gpt-pdf"
    rows = [json.loads(line) for line in (answers_dir / "test_qa.jsonl").read_text().splitlines()]
    rows[1]["answer"], rows[2]["answer"] = "\n" * 40, "Boots-" * 2000  # blank; one unbroken token
    (answers_dir / "test_qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx = RunContext(ctx.project_dir, show_progress=False)
    asyncio.run(run_stage(ctx, get_stage("report")))
    index = ctx.out_dir / "report" / "index.html"

    with sync_api.sync_playwright() as pw:
        browser = launch(pw, tmp_path, 1400, 900)
        try:
            page = browser.new_page()
            page.goto(index.as_uri(), wait_until="load")
            banner = page.locator("#smoke-banner")
            assert banner.is_visible() and BANNER in banner.inner_text()
            assert banner.bounding_box()["y"] < page.locator("h1").bounding_box()["y"]
            # The unbroken answer wraps inside its card: the page is no wider than the window.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1400
            cards = page.locator(".answer")
            heights = [cards.nth(i).bounding_box()["height"] for i in range(cards.count())]
            assert max(heights) < 700  # clamped; the rest behind "show more"
            assert page.locator(".answer .empty").first.inner_text() == EMPTY_ANSWER
            more = page.locator(".answer details").first
            more.locator("summary").click()
            assert more.evaluate("d => d.open")
        finally:
            browser.close()
