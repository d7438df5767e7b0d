"""Training workers that cannot outlive their run.

A worker left behind by a killed doctune holds GPU memory for minutes and writes into the
experiment folder while the rerun's worker writes there too. So a worker:
- runs in its own session and process group, which doctune ends as a whole on Ctrl-C or any
  other interruption (`end_group`);
- is killed by the kernel when its parent dies, `kill -9` included: on Linux `PR_SET_PDEATHSIG`,
  set in the child before it runs anything (`die_with_parent`, and again by the worker itself for
  the processes `accelerate launch` starts); elsewhere a watchdog thread in the worker ends it
  when its parent pid changes (`watch_parent`);
- gets an environment without API keys or other secrets, which training never needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading

_PR_SET_PDEATHSIG = 1
_KEEP = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})  # a gated base model downloads with it
_SECRET_WORDS = frozenset({"KEY", "SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIALS"})


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl  # noqa: B018 - a libc without prctl fails here
    except (OSError, AttributeError):
        return None
    return libc


# Loaded in the parent: the child between fork and exec should call, not look up.
_LIBC = _libc()
HAS_PDEATHSIG = _LIBC is not None


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux). Note: "parent" is the
    thread that started it, which in doctune waits for the worker until it ends."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def is_secret(name: str) -> bool:
    upper = name.upper()
    if upper in _KEEP:
        return False
    return upper.startswith("OPENAI_") or bool(_SECRET_WORDS & set(upper.split("_")))


def worker_env() -> dict[str, str]:
    """This process's environment without secrets (OPENAI_*, *_API_KEY, *_TOKEN, ...)."""
    env = {k: v for k, v in os.environ.items() if not is_secret(k)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def end_group(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """End a worker started with `start_new_session` and everything it started: SIGTERM to the
    group, SIGKILL to what is still there after `grace_s`."""
    if not hasattr(os, "killpg"):  # pragma: no cover - Windows: no process groups to signal
        proc.kill()
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def watch_parent(poll_s: float = 1.0) -> None:
    """Called first thing in a worker: end this process when its parent goes."""
    parent = os.getppid()
    if HAS_PDEATHSIG:
        die_with_parent()
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
        return

    def watchdog() -> None:  # pragma: no cover - platforms without PR_SET_PDEATHSIG
        while True:
            threading.Event().wait(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watchdog, name="doctune-parent-watchdog", daemon=True).start()
