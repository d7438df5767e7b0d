"""One run per output folder: an OS-level lock on `<out>/.doctune.lock`.

Two runs writing one folder pay for the same calls twice, train into the same experiment folder
and leave a manifest that matches neither. The lock is `flock` on an open file (`msvcrt.locking`
on Windows), so the operating system drops it when its holder exits, however it exits: a killed
run never leaves a stale lock behind. The holder writes who it is (pid, command, start time) into
the file, so a refused run can name it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from doctune.foundation.errors import RunLockedError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fh: IO[str], wait: bool) -> bool:
        mode = msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK
        fh.seek(0)
        try:
            msvcrt.locking(fh.fileno(), mode, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fh: IO[str], wait: bool) -> bool:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fh.fileno(), flags)
        except BlockingIOError:
            return False
        return True


LOCK_NAME = ".doctune.lock"


def describe_holder(path: Path) -> str:
    """'pid 123 (doctune run proj, started 2026-12-02T04:50:00+00:00)', from the lock file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        # The holder has the lock but has not written its name yet (or is an older doctune).
        return "another doctune process"
    command = str(info.get("command", "doctune"))[:200]
    return f"pid {info['pid']} ({command}, started {info.get('started', '?')})"


@contextmanager
def run_lock(
    out_dir: Path,
    command: str,
    *,
    wait: bool = False,
    log: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the output folder's lock for the block. Held elsewhere: RunLockedError at once (exit
    code 5) naming the holder, or with `wait`, wait until the holder is done."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_NAME
    # Opened without truncating: the holder's name stays readable until the lock is ours.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    with os.fdopen(fd, "r+", encoding="utf-8") as fh:
        if not _try_lock(fh, wait=False):
            holder = describe_holder(path)
            if not wait:
                raise RunLockedError(
                    f"{out_dir}: another run is writing this output folder: {holder}; wait for "
                    "it, or rerun with --wait"
                )
            if log is not None:
                log(f"waiting for {holder} to finish with {out_dir}")
            _try_lock(fh, wait=True)
        _write_holder(fh, command)
        try:
            yield path
        finally:
            # Cleared before the lock goes, so nobody reads a finished run as the holder; the
            # file itself stays (deleting it would let two runs lock two different files).
            fh.seek(0)
            fh.truncate()
            fh.flush()


def _write_holder(fh: IO[str], command: str) -> None:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "command": command, "started": started}))
    fh.flush()
