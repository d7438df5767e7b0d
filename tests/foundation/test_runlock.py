"""One run per output folder: the lock refuses a second run at once (exit 5, naming the first),
`--wait` waits, a killed holder leaves no stale lock, and read-only commands take no lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.foundation.errors import RunLockedError
from doctune.foundation.runlock import LOCK_NAME, run_lock
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import default_responder

MD = "# Procedure\n\n" + "\n\n".join(
    f"Step {i}: add {i + 1}.0 g of reagent at {20 + i} °C and stir for {i + 1} h. Then sample."
    for i in range(12)
)
HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from doctune.foundation.runlock import run_lock\n"
    "with run_lock(Path(sys.argv[1]), 'doctune run held-by-test'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)


def small_project(root: Path) -> Path:
    (root / "documents").mkdir(parents=True)
    (root / "documents" / "procedure.md").write_text(MD, encoding="utf-8")
    config = {
        "name": "lock-test",
        "models": {"teacher": "openai:fake-model", "judge": "openai:fake-model"},
        "ingest": {"chunk_tokens": 120, "overlap_tokens": 24},
        "synthesize": {"recipes": ["pdf_synthetic"], "pdf_synthetic": {"questions_per_chunk": 2}},
    }
    (root / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def holder_process(out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_folder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    proc = holder_process(tmp_path)
    try:
        with pytest.raises(RunLockedError) as err, run_lock(tmp_path, "doctune run second"):
            pass
        message = str(err.value)
        assert f"pid {proc.pid} (doctune run held-by-test, started " in message
        assert "--wait" in message and "\n" not in message
        assert RunLockedError.exit_code == 5
    finally:
        proc.kill()
        proc.wait()
    # Killed with SIGKILL, it released nothing itself: the OS did, so no stale lock remains.
    with run_lock(tmp_path, "doctune run third") as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert (tmp_path / LOCK_NAME).read_text() == ""  # a finished run is nobody's holder


def test_wait_waits_for_the_holder(tmp_path: Path) -> None:
    proc = holder_process(tmp_path)
    said: list[str] = []
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        proc.terminate()

    threading.Timer(0.5, stop).start()
    with run_lock(tmp_path, "doctune run waiting", wait=True, log=said.append):
        # The lock came only once the holder was told to go. (Its exit status may lag behind the
        # lock's release by a moment: the OS drops the lock as it closes the files, before the
        # process can be reaped, so poll() would race.)
        assert stopped.is_set()
        assert proc.wait(timeout=30) is not None
    assert said and f"waiting for pid {proc.pid}" in said[0]
    proc.wait()


def test_lock_file_gets_the_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with run_lock(tmp_path, "doctune run"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / LOCK_NAME).stat().st_mode & 0o777 == 0o644


class GatedServer:
    """The fake endpoint, holding every reply until the test opens the gate: the first run stays
    in the middle of synthesis (lock held, calls in flight) for as long as the test needs."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.server = FakeOpenAIServer(responder=self.reply)

    def reply(self, body: dict[str, Any]) -> str:
        assert self.gate.wait(120), "the test never opened the gate"
        return default_responder(body)


@pytest.mark.slow
def test_two_runs_on_one_folder_the_second_refuses_and_every_call_is_paid_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = small_project(tmp_path / "p")
    gated = GatedServer()
    with gated.server as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        args = ["run", str(project), "--until", "synthesize", "--no-progress"]
        first = subprocess.Popen(
            [sys.executable, "-m", "doctune.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while server.counts["requests"] == 0:  # the first run is now paying, lock held
                assert first.poll() is None, first.communicate()[0]
                assert time.monotonic() < deadline, "the first run made no call within 120 s"
                time.sleep(0.05)
            monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
            second = CliRunner().invoke(main, args)
            assert second.exit_code == 5, second.output
            assert f"pid {first.pid} (doctune run {project}" in second.output
            assert first.poll() is None  # refused at once, while the first still runs
        finally:
            gated.gate.set()
            output = first.communicate(timeout=300)[0]
        assert first.returncode == 0, output
        paid = server.completions
        bodies = Counter(json.dumps(b, sort_keys=True) for b in server.bodies)
        assert paid > 0 and max(bodies.values()) == 1, "a call was paid twice"
        third = CliRunner().invoke(main, args)
        assert third.exit_code == 0, third.output
        assert server.completions == paid  # finished work is found, not redone


def test_read_only_commands_take_no_lock(tmp_path: Path) -> None:
    project = small_project(tmp_path / "p")
    out = project / "out"
    out.mkdir()
    proc = holder_process(out)
    try:
        listed = CliRunner().invoke(main, ["experiments", str(project)])
        assert listed.exit_code == 0 and "no experiments recorded" in listed.output
        ingest = CliRunner().invoke(main, ["ingest", str(project), "--no-progress"])
        assert ingest.exit_code == 5, ingest.output
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_the_report_of_a_finished_run_reads_during_another_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doctune import pipeline

    project = small_project(tmp_path / "p")
    out = project / "out"
    out.mkdir()
    # Standing in for a finished run's report (a real one needs the whole pipeline): the stage's
    # own up-to-date check is what decides, and it is asked for exactly the report stage.
    asked: list[str] = []
    monkeypatch.setattr(
        pipeline, "is_up_to_date", lambda ctx, stage: asked.append(stage.name) or True
    )
    proc = holder_process(out)
    try:
        result = CliRunner().invoke(main, ["report", str(project), "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "report: up to date" in result.output and asked == ["report"]
        forced = CliRunner().invoke(main, ["report", str(project), "--force", "--no-progress"])
        assert forced.exit_code == 5  # rewriting it is writing: that waits for the lock
    finally:
        proc.kill()
        proc.wait()


def test_a_command_with_wait_runs_once_the_holder_is_done(tmp_path: Path) -> None:
    project = small_project(tmp_path / "p")
    (project / "out").mkdir()
    proc = holder_process(project / "out")
    threading.Timer(0.5, proc.terminate).start()
    result = CliRunner().invoke(main, ["ingest", str(project), "--wait", "--no-progress"])
    proc.wait()
    assert result.exit_code == 0, result.output
    assert f"waiting for pid {proc.pid} (doctune run held-by-test" in result.output
    assert "ingest: " in result.output and (project / "out" / "ingest" / "chunks.jsonl").is_file()
