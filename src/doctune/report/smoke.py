"""Is this a smoke run? Then the report says so before anything else.

A run is a smoke run when the config says so (`report.smoke: true`) or when any model it used
(a role's model, an evaluated model, an experiment's student, the base of an adapter) is a tiny
random model built by `doctune make-tiny-model`: its scores are noise, and a table of them must
not read as an answer to "did fine-tuning teach the model?". Such models are recognised by the
key `build_tiny_model` writes into their config.json (kept by save_pretrained, so a merged
model of a tiny base carries it too) or by the build marker beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from doctune.foundation.errors import ConfigError
from doctune.models.spec import capabilities, parse_spec
from doctune.models.tiny import MARKER, TINY_RANDOM_KEY

BANNER = "SMOKE RUN: tiny random model, scores are noise"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def is_tiny_random(folder: Path) -> bool:
    """A model folder written by `make-tiny-model` (or saved from one)."""
    if not folder.is_dir():
        return False
    return (folder / MARKER).is_file() or _read_json(folder / "config.json").get(
        TINY_RANDOM_KEY
    ) is True


def model_folders(spec: str, root: Path | None = None) -> list[Path]:
    """The local folders behind an `hf:` spec: the model, the adapter and the adapter's base
    (from adapter_config.json). Hub ids and `openai:` specs have none."""
    try:
        parsed = parse_spec(spec)
    except ConfigError:
        return []
    if not capabilities(parsed).local:
        return []
    names = [parsed.model] + ([parsed.adapter] if parsed.adapter else [])
    folders = [f for f in (_local(n, root) for n in names) if f is not None]
    for folder in list(folders):
        base = _read_json(folder / "adapter_config.json").get("base_model_name_or_path")
        if isinstance(base, str) and (found := _local(base, root)) is not None:
            folders.append(found)
    return folders


def _local(name: str, root: Path | None) -> Path | None:
    path = Path(name).expanduser()
    for candidate in (path, (root / path) if root and not path.is_absolute() else None):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def tiny_specs(specs: Iterable[str], root: Path | None = None) -> list[str]:
    """The specs, without repeats, that use a tiny random model somewhere."""
    found: list[str] = []
    for spec in dict.fromkeys(s for s in specs if s):
        if any(is_tiny_random(f) for f in model_folders(spec, root)):
            found.append(spec)
    return found


def smoke_reason(configured: bool, specs: Iterable[str], root: Path | None = None) -> str:
    """Why this run is a smoke run, in one line; "" when it is not one."""
    tiny = tiny_specs(specs, root)
    parts = []
    if configured:
        parts.append("the config marks it as a smoke run (report.smoke)")
    if tiny:
        shown = ", ".join(tiny[:3]) + (f" and {len(tiny) - 3} more" if len(tiny) > 3 else "")
        parts.append(f"it uses a tiny random model built by make-tiny-model ({shown})")
    return "; ".join(parts)
