"""Files get the mode the umask gives (0644 under 022), atomic writes included: mkstemp alone
makes 0600, which keeps a report or a manifest from anyone the folder is shared with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from doctune.foundation.jsonl import atomic_write_text, write_json, write_jsonl

WRITE_ALL = """
import sys
from pathlib import Path
from doctune.foundation.jsonl import atomic_write_text, write_json, write_jsonl
from doctune.foundation.manifest import Manifest
out = Path(sys.argv[1])
atomic_write_text(out / "a.txt", "x")
write_json(out / "b.json", {"k": 1})
write_jsonl(out / "c.jsonl", [{"k": 1}])
Manifest(out).save()
"""


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    # The umask is read once per process, so each setting gets a process of its own.
    code = f"import os; os.umask({umask}); exec({WRITE_ALL!r})"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    for name in ("a.txt", "b.json", "c.jsonl", "manifest.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_in_this_process_a_written_file_matches_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    write_json(tmp_path / "j.json", [])
    write_jsonl(tmp_path / "r.jsonl", [])
    want = plain.stat().st_mode & 0o777
    for name in ("atomic.txt", "j.json", "r.jsonl"):
        assert (tmp_path / name).stat().st_mode & 0o777 == want
    assert os.stat(tmp_path / "atomic.txt").st_size == 1
