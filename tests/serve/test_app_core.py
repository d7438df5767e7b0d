"""The web app's core through Starlette's TestClient: the guard (token, traversal, cross-site
POST, CSRF), escaping of hostile text, and the overview, documents and chunks of a project ingested
for real (and, in the slow test, run to export on the loopback fake)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.testclient import TestClient
from tests.report.factories import HOSTILE as REPORT_HOSTILE
from tests.report.factories import USAGE, make_project
from tests.test_e2e_datasets import shrink

from doctune.cli import main
from doctune.commands.serve import base_url, is_loopback
from doctune.foundation.runlock import LOCK_NAME, run_lock
from doctune.pipeline import get_stage, run_stage
from doctune.serve.app import create_app
from doctune.serve.security import MAX_BODY
from doctune.testing.fake_openai import FakeOpenAIServer

HOSTILE = "<script>alert('pwned')</script>"


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(main, [*args, "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture
def ingested(example_project: Path) -> Path:
    """The example, plus a document whose text is hostile HTML, ingested by the real stage."""
    (example_project / "documents" / "hostile.md").write_text(
        f"# Hostile\n\nA line with {HOSTILE} in it, about 200 mg ibuprofen.\n", encoding="utf-8"
    )
    run_cli("ingest", str(example_project))
    return example_project


def chunks_of(project: Path, path: str) -> list[dict]:
    lines = (project / "out" / "ingest" / "chunks.jsonl").read_text().splitlines()
    return [c for c in map(json.loads, lines) if c["path"] == path]


def csrf(client: TestClient) -> str:
    app = client.app
    assert isinstance(app, Starlette)
    return app.state.doctune.csrf_token


def stage_states(html: str) -> dict[str, str]:
    rows = re.findall(
        r'<tr data-stage="(\w+)">.*?<span class="state [\w-]+">([\w ]+)</span>', html, re.S
    )
    return dict(rows)


# -- the guard ----------------------------------------------------------------------------------
def test_a_token_app_refuses_every_request_without_the_token(ingested: Path) -> None:
    client = TestClient(create_app(ingested, token="s3cret-token"))
    for path in ("/", "/documents", "/static/style.css", "/report/"):
        assert client.get(path).status_code == 401, path
    assert client.get("/signin?token=wrong").status_code == 401
    bearer = {"Authorization": "Bearer s3cret-token"}
    for response in (client.get("/"), client.get("/static/style.css", headers=bearer)):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200

    signed = client.get("/signin?token=s3cret-token", follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert client.get("/").status_code == 200  # the cookie from the sign-in URL
    assert "s3cret-token" not in client.get("/").text


def test_loopback_binding_needs_no_token_and_any_other_address_does() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    assert not is_loopback("example.org")
    assert base_url("0.0.0.0", 8765) == "http://127.0.0.1:8765"
    assert base_url("::1", 80) == "http://[::1]:80"


def test_path_traversal_gets_404(ingested: Path) -> None:
    report = ingested / "out" / "report"
    report.mkdir(parents=True)
    (report / "index.html").write_text("<p>the report</p>")
    (report / "link.txt").symlink_to(ingested / "doctune.yaml")
    client = TestClient(create_app(ingested))
    assert client.get("/report/").text == "<p>the report</p>"
    for attempt in (
        "/report/%2e%2e/%2e%2e/doctune.yaml",
        "/report/..%2f..%2fdoctune.yaml",
        "/report//etc/passwd",
        "/report/link.txt",  # a link inside the folder to a file outside it
        "/documents/..%2f..%2fdoctune.yaml",
        "/chunks/..%2f..%2fdoctune.yaml",
    ):
        response = client.get(attempt)
        assert response.status_code == 404, attempt
        assert "models:" not in response.text and "root:" not in response.text


def test_a_cross_site_post_is_refused_and_a_post_needs_the_csrf_token(ingested: Path) -> None:
    client = TestClient(create_app(ingested))
    token = csrf(client)
    here = "http://testserver"
    evil = {"origin": "http://evil.example"}
    assert client.post("/", data={"csrf": token}, headers=evil).status_code == 403
    referer = {"referer": "http://evil.example/page"}
    assert client.post("/", data={"csrf": token}, headers=referer).status_code == 403
    assert client.post("/", data={}, headers={"origin": here}).status_code == 403
    assert client.post("/", data={"csrf": "guess"}, headers={"origin": here}).status_code == 403
    # Past the guard, the route answers for itself: the overview takes no POST.
    assert client.post("/", data={"csrf": token}, headers={"origin": here}).status_code == 405
    assert client.post("/", headers={"x-csrf-token": token}).status_code == 405
    huge = {"csrf": token, "text": "x" * (MAX_BODY + 1)}
    assert client.post("/", data=huge, headers={"origin": here}).status_code == 413
    # The token is in every page, for the forms to carry.
    assert token in client.get("/").text


# -- pages --------------------------------------------------------------------------------------
def test_hostile_text_renders_as_text(ingested: Path) -> None:
    client = TestClient(create_app(ingested))
    (chunk,) = chunks_of(ingested, "hostile.md")
    page = client.get(f"/chunks/{chunk['id']}", params={"q": HOSTILE})
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<mark>&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;</mark>" in page.text
    not_there = client.get(f"/chunks/{chunk['id']}", params={"q": "<b>absent</b> passage"})
    assert "not found verbatim" in not_there.text and "<b>absent</b>" not in not_there.text


def test_documents_and_chunks_show_status_pages_and_sections(ingested: Path) -> None:
    (ingested / "documents" / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    run_cli("ingest", str(ingested))
    client = TestClient(create_app(ingested))
    listing = client.get("/documents").text
    for name in ("ibuprofen_manufacture_overview.pdf", "procedure_nickel_route.md", "hostile.md"):
        assert name in listing
    row = re.search(r"<tr>\s*<td>broken\.pdf</td>\s*<td class=\"bad\">error", listing)
    assert row, listing
    pdf_chunks = chunks_of(ingested, "ibuprofen_manufacture_overview.pdf")
    doc = client.get("/documents/ibuprofen_manufacture_overview.pdf").text
    assert doc.count('<a href="/chunks/') == len(pdf_chunks)
    first = pdf_chunks[0]
    shown = client.get(f"/chunks/{first['id']}").text
    assert f"{first['pages'][0]}" in shown and (first["section"] or "") in shown
    passage = " ".join(first["text"].split()[3:9])
    assert "<mark>" in client.get(f"/chunks/{first['id']}", params={"q": passage}).text
    assert client.get("/chunks/no-such-chunk").status_code == 404
    assert client.get("/documents/no-such.pdf").status_code == 404


def test_overview_of_an_ingested_project_and_a_changed_config(ingested: Path) -> None:
    client = TestClient(create_app(ingested))
    page = client.get("/").text
    states = stage_states(page)
    assert states["ingest"] == "up to date"
    assert states["synthesize"] == "never run" and states["report"] == "never run"
    assert "broken" not in page
    config = ingested / "doctune.yaml"
    text = config.read_text()
    assert "chunk_tokens: 384" in text
    config.write_text(text.replace("chunk_tokens: 384", "chunk_tokens: 301"))
    # The app keeps the config it was started with; a new app sees the change as stale.
    assert stage_states(TestClient(create_app(ingested)).get("/").text)["ingest"] == "stale"


def test_a_page_says_when_a_run_changed_the_data_since_it_was_loaded(ingested: Path) -> None:
    client = TestClient(create_app(ingested))
    seen = re.search(r'data-manifest-mtime="([^"]+)"', client.get("/").text)
    assert seen, "pages carry the manifest mtime they were rendered with"
    hidden = 'id="data-changed" hidden'  # the notice, until the page's script shows it
    assert hidden in client.get(f"/?seen={seen.group(1)}").text
    manifest = ingested / "out" / "manifest.json"
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    changed = client.get(f"/?seen={seen.group(1)}").text
    assert "Data changed" in changed and hidden not in changed


@pytest.mark.slow
def test_overview_after_a_run_to_export_on_the_loopback_fake(
    example_project: Path, fake_openai: FakeOpenAIServer
) -> None:
    shrink(example_project)
    run_cli("run", str(example_project), "--until", "export")
    page = TestClient(create_app(example_project)).get("/").text
    states = stage_states(page)
    for stage in ("ingest", "synthesize", "curate", "split", "evalsets", "export"):
        assert states[stage] == "up to date", (stage, states)
    for stage in ("train", "evaluate", "report"):
        assert states[stage] == "never run"
    usage = json.loads((example_project / "out" / "usage.json").read_text())
    calls = sum(row["calls"] for rows in usage.values() for row in rows.values())
    assert calls > 0
    total = re.search(r'<tfoot><tr><th colspan="4">total</th><th class="num">([\d,]+)</th>', page)
    assert total and int(total.group(1).replace(",", "")) == calls
    # Curate drops the fake teacher's repeated questions: listed by recipe and reason.
    assert re.search(r"<tr><td>curate</td><td>pdf_synthetic</td><td>[\d,]+ × duplicate</td>", page)


def test_the_report_is_served_as_written_and_linked_from_the_overview(tmp_path: Path) -> None:
    ctx = make_project(tmp_path)
    client = TestClient(create_app(ctx.project_dir))
    assert client.get("/report/").status_code == 404  # not written yet: says so
    assert "doctune report" in client.get("/report/").text
    asyncio.run(run_stage(ctx, get_stage("report")))
    folder = ctx.out_dir / "report"
    served = client.get("/report/")
    assert served.status_code == 200 and served.content == (folder / "index.html").read_bytes()
    assert REPORT_HOSTILE not in served.text  # the model's answer stays escaped
    assert client.get("/report", follow_redirects=False).headers["location"] == "/report/"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        assert client.get(f"/report/{relative}").content == path.read_bytes(), relative
    overview = client.get("/").text
    assert '<a href="/report/">the report</a>' in overview
    assert stage_states(overview)["report"] == "up to date"
    spent = sum(row["cost_usd"] for rows in USAGE.values() for row in rows.values())
    assert f"{spent:.4f}" in overview


def test_the_overview_reads_while_a_run_holds_the_lock_and_says_so(ingested: Path) -> None:
    client = TestClient(create_app(ingested))
    out = ingested / "out"
    assert "A run is writing" not in client.get("/").text
    with run_lock(out, "doctune run proj --until export"):
        page = client.get("/")
        assert page.status_code == 200
        assert "A run is writing this output folder: pid" in page.text
        assert "doctune run proj --until export" in page.text
        assert stage_states(page.text)["ingest"] == "up to date"
    assert "A run is writing" not in client.get("/").text
    # A holder line left by a killed run names a process that is gone: not a run.
    (out / LOCK_NAME).write_text(json.dumps({"pid": dead_pid(), "command": "doctune run"}))
    assert "A run is writing" not in client.get("/").text


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_failed_model_calls_are_listed_with_the_errors(ingested: Path) -> None:
    usage = {"synthesize": {"openai:gpt-4o-mini": {"calls": 12, "failed_calls": 3}}}
    (ingested / "out" / "usage.json").write_text(json.dumps(usage))
    page = TestClient(create_app(ingested)).get("/").text
    row = re.search(r"<tr><td>synthesize</td><td>openai:gpt-4o-mini</td><td>([^<]+)</td>", page)
    assert row and row.group(1) == "3 calls failed after every retry"


def test_the_overview_lists_evaluate_exclusions_as_the_stage_summary_writes_them(
    ingested: Path,
) -> None:
    manifest_path = ingested / "out" / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["stages"]["evaluate"] = {
        "fingerprint": "x",
        "finished_at": "2026-12-02T00:00:00+00:00",
        "summary": {"answers": 9, "excluded": "judge_failed=3, prompt_exceeds_context=1"},
    }
    manifest_path.write_text(json.dumps(data))
    client = TestClient(create_app(ingested))
    page = client.get("/")
    assert page.status_code == 200
    assert "3 × judge_failed" in page.text and "1 × prompt_exceeds_context" in page.text
    data["stages"]["evaluate"]["summary"]["excluded"] = "none"
    manifest_path.write_text(json.dumps(data))
    assert TestClient(create_app(ingested)).get("/").status_code == 200


def test_the_overview_reuses_the_stage_states_until_a_file_changes(ingested: Path) -> None:
    app = create_app(ingested)
    client = TestClient(app)
    assert stage_states(client.get("/").text)["ingest"] == "up to date"
    assert stage_states(client.get("/").text)["ingest"] == "up to date"
    cache = app.state.overview_states
    assert cache.computed == 1  # the second load hashed nothing
    document = next((ingested / "documents").glob("*.md"))
    document.write_text(document.read_text() + "\nOne more line.\n")
    assert stage_states(client.get("/").text)["ingest"] == "stale"
    assert cache.computed == 2
