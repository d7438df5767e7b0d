"""Loading from the Hugging Face hub without hanging on a machine that cannot reach it.

The hub client retries a failed request five times with backoff (~45 s) and has no setting for
it. doctune asks the local cache first, and goes to the network only when the hub answers a
connection attempt; a machine with no route fails at once with a clear message instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
_TRUE = ("1", "true", "yes", "on")


def offline() -> bool:
    return any(
        os.environ.get(n, "").strip().lower() in _TRUE
        for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def is_local(name: str) -> bool:
    """An existing folder, or a name that can only be meant as one (hub ids are `name` or
    `org/name`), so a missing folder is reported as missing, not looked up on the hub."""
    return (
        Path(name).expanduser().exists()
        or name.startswith((".", "/", "~", os.sep))
        or name.count("/") > 1
    )


@cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """One TCP connection to the hub endpoint (HF_ENDPOINT); no DNS answer fails at once."""
    if offline():
        return False
    parsed = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection(
            (parsed.hostname or "huggingface.co", port), timeout=timeout_s
        ):
            return True
    except OSError:
        return False


class HubUnavailable(OSError):
    """Not in the local cache, and the hub cannot be reached (or offline mode is on)."""


def in_local_cache(name: str) -> bool:
    """Whether hub id `name` has a snapshot in the local hub cache, read from the cache's folders
    (huggingface_hub's layout: models--org--name/snapshots/<revision>/), so that a caller learns
    it without importing transformers (seconds) just to be told no."""
    from huggingface_hub.constants import HF_HUB_CACHE

    snapshots = Path(HF_HUB_CACHE) / f"models--{name.replace('/', '--')}" / "snapshots"
    try:
        return any(any(rev.iterdir()) for rev in snapshots.iterdir() if rev.is_dir())
    except OSError:  # no such folder: never downloaded
        return False


def unavailable(name: str) -> HubUnavailable | None:
    """The error loading `name` would end in, when it can be neither found on disk nor fetched;
    None when a loader may be tried."""
    if is_local(name) or in_local_cache(name) or hub_reachable():
        return None
    return HubUnavailable(
        f"'{name}' is not in the local hub cache and the hub cannot be reached"
        + (" (HF_HUB_OFFLINE is set)" if offline() else "")
    )


def load_local_first(name: str, load: Callable[..., T]) -> T:
    """`load(name, local_files_only=True)`, else `load(name)` when the hub can be reached."""
    if is_local(name):
        return load(name)
    try:
        return load(name, local_files_only=True)
    except (OSError, ValueError):
        if not hub_reachable():
            raise HubUnavailable(
                f"'{name}' is not in the local hub cache and the hub cannot be reached"
                + (" (HF_HUB_OFFLINE is set)" if offline() else "")
            ) from None
    return load(name)
