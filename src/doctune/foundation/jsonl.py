"""JSONL files: one validated record per line, written atomically or appended durably."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from doctune.foundation.errors import InputError

M = TypeVar("M", bound=BaseModel)


def _read_umask() -> int:
    """The process umask. Linux shows it in /proc without changing it; elsewhere it is set and
    put back, once, when this module is imported (before any thread of ours writes files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()
FILE_MODE = 0o666 & ~UMASK
"""What `open()` would give a new file: 0644 under umask 022. mkstemp makes 0600 whatever the
umask, which would keep a report, a manifest or an adapter from anyone else sharing them."""


def apply_umask(folder: str | Path) -> None:
    """Give everything under `folder` the mode a plain `open()` or `mkdir` would have: libraries
    that save through private temp files (safetensors, for one) leave their files 0600."""
    dir_mode = 0o777 & ~UMASK
    for path in [Path(folder), *Path(folder).rglob("*")]:
        if path.is_symlink():
            continue
        mode = dir_mode if path.is_dir() else FILE_MODE
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write through a temp file in the same folder and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(record: BaseModel | dict) -> str:
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
    return json.dumps(data, ensure_ascii=False, sort_keys=False)


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict]) -> int:
    """Write all records atomically; returns how many were written."""
    lines = [dumps(r) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl(
    path: str | Path, model: type[M], *, tolerate_torn_tail: bool = False
) -> Iterator[M]:
    """Validate each line against `model`; a bad line is an InputError naming file and line.

    `tolerate_torn_tail` skips an unterminated last line, which is what a kill during an append
    leaves behind in a durable log.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if tolerate_torn_tail and not line.endswith("\n"):
                return
            try:
                yield model.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "record"
                raise InputError(f"{path}:{lineno}: {where}: {first['msg']}") from None


def read_jsonl(path: str | Path, model: type[M], **kwargs: bool) -> list[M]:
    return list(iter_jsonl(path, model, **kwargs))


def read_json(path: str | Path) -> object:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None


def write_json(path: str | Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
