"""`doctune serve` as a user starts it, in a subprocess: on loopback it is open; on 0.0.0.0 it
prints a sign-in URL once, refuses requests without the token, and never logs the token."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from doctune.cli import main

DOCTUNE = [sys.executable, "-c", "from doctune.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(project: Path, *args: str) -> Iterator[tuple[int, str, subprocess.Popen[str]]]:
    """The command running; yields its port, the first line it printed, and the process."""
    port = free_port()
    command = [*DOCTUNE, "serve", str(project), "--port", str(port), "--no-browser", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        # uvicorn says on stderr when it accepts connections: wait for that line, not a delay.
        for line in proc.stderr:
            if "Uvicorn running on" in line:
                break
        else:
            pytest.fail(f"doctune serve exited: {first}")
        yield port, first, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response


def test_on_loopback_the_overview_is_open(example_project: Path) -> None:
    with serving(example_project) as (port, first, _):
        assert first.strip() == f"doctune serve: http://127.0.0.1:{port}/  (Ctrl+C to stop)"
        assert get(port, "/").status == 200


def test_on_another_address_every_request_needs_the_printed_token(example_project: Path) -> None:
    with serving(example_project, "--host", "0.0.0.0") as (port, first, proc):
        found = re.search(rf"http://127\.0\.0\.1:{port}/signin\?token=([\w-]+)", first)
        assert found, first
        token = found.group(1)
        assert len(token) >= 40
        assert get(port, "/").status == 401
        assert get(port, "/static/style.css").status == 401
        assert get(port, "/", {"Authorization": f"Bearer {token}"}).status == 200
        signed = get(port, f"/signin?token={token}")
        assert signed.status == 303
        cookie = signed.getheader("set-cookie", "").split(";")[0]
        assert get(port, "/documents", {"Cookie": cookie}).status == 200
        proc.terminate()
        rest_out, rest_err = proc.communicate(timeout=30)
    assert token not in rest_out + rest_err  # shown once, never in the server's log


def test_a_bad_config_is_one_line_naming_the_file_and_exit_2(example_project: Path) -> None:
    config = example_project / "doctune.yaml"
    config.write_text("ingest:\n  chunk_tokns: 300\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", str(example_project), "--no-browser"])
    assert result.exit_code == 2
    assert str(config) in result.output and "chunk_tokns" in result.output
    assert "Traceback" not in result.output
