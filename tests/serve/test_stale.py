"""The "data changed" notice without `?seen=`: every page carries the manifest's version stamp
(taken as the request began), `/api/state` answers the current one, and in a real browser an
open page shows the notice once a run rewrites the manifest (the page's script polls)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.report.test_render_browser import _require_chromium, launch, watch
from tests.serve.datasets_factory import make_project
from tests.serve.live import live_server

from doctune.foundation.manifest import Manifest
from doctune.serve.app import create_app


def page_version(html: str) -> str:
    found = re.search(r'data-version="([^"]+)"', html)
    assert found, "every page carries the version it was rendered from"
    return found.group(1)


def rerun_split(project: Path) -> None:
    """What a run does to the manifest: a stage's entry written again (new finish time)."""
    manifest = Manifest(project / "out")
    manifest.replace_stage("split", manifest.find_stage("split"), "fp2")


def test_pages_carry_the_version_that_api_state_answers(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    client = TestClient(create_app(project))
    page = client.get("/datasets")
    version = page_version(page.text)
    state = client.get("/api/state")
    assert state.status_code == 200 and state.headers["cache-control"] == "no-store"
    assert state.json() == {"version": version, "running": None}
    assert re.search(r'id="data-changed" hidden', page.text)  # shown by the script when stale
    rerun_split(project)
    assert client.get("/api/state").json()["version"] != version
    assert page_version(client.get("/datasets").text) == client.get("/api/state").json()["version"]


def test_a_project_never_run_has_a_version_too(tmp_path: Path) -> None:
    project = tmp_path / "empty"
    project.mkdir()
    (project / "doctune.yaml").write_text("name: empty\n")
    client = TestClient(create_app(project))
    assert page_version(client.get("/").text) == "none"
    assert client.get("/api/state").json()["version"] == "none"


@pytest.mark.integration
@pytest.mark.slow
def test_an_open_page_says_the_data_changed_after_a_run(tmp_path: Path) -> None:
    sync_api = _require_chromium()
    project = make_project(tmp_path)
    errors: list[str] = []
    requests: list[str] = []
    with live_server(create_app(project)) as url, sync_api.sync_playwright() as pw:
        browser = launch(pw, tmp_path, 1200, 800)
        try:
            page = browser.new_page()
            watch(page, errors, requests)
            page.goto(url + "/datasets", wait_until="load")
            assert page.locator("#data-changed").is_hidden()
            page.wait_for_event("requestfinished", lambda r: r.url.endswith("/api/state"))
            assert page.locator("#data-changed").is_hidden()  # polled, nothing changed yet
            rerun_split(project)
            page.wait_for_selector("#data-changed", state="visible")
            with page.expect_navigation(wait_until="load"):
                page.click("#data-changed a")
            assert page.url == url + "/datasets"
            assert page.locator("#data-changed").is_hidden()  # the reloaded page is current
        finally:
            browser.close()
    assert errors == []
    assert all(r.startswith(url) for r in requests), requests
