"""The on-disk table behind code versions: a stat per unchanged file, every edit still seen."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from doctune.foundation import codehash

MODULE = "doctune.foundation.stats"


@pytest.fixture
def source_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of doctune's sources (old modification times kept) and an empty cache folder."""
    copy = tmp_path / "src" / "doctune"
    shutil.copytree(codehash.SOURCE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(codehash, "SOURCE_ROOT", copy)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    codehash.clear_cache()
    yield copy
    codehash.clear_cache()


def version() -> str:
    codehash.clear_cache()  # a new run: nothing is remembered but the table on disk
    return codehash.code_version(MODULE)


def module_file(copy: Path) -> Path:
    return copy.joinpath(*MODULE.split(".")[1:]).with_suffix(".py")


def same_size_edit(path: Path) -> None:
    text = path.read_bytes()
    edited = text.replace(b"e", b"E", 1)
    assert edited != text and len(edited) == len(text)
    path.write_bytes(edited)


def test_an_unchanged_tree_is_not_parsed_again(
    source_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = version()
    tables = list((source_copy.parents[1] / "cache" / "doctune").glob("codehash-*.json"))
    assert len(tables) == 1

    def no_parsing(*args: object) -> list[str]:
        raise AssertionError("an unchanged module was parsed again")

    monkeypatch.setattr(codehash, "_import_names", no_parsing)
    assert version() == first


def test_a_same_size_edit_with_a_new_mtime_changes_the_version(source_copy: Path) -> None:
    path = module_file(source_copy)
    before, original = path.stat(), path.read_bytes()
    first = version()
    same_size_edit(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert version() != first
    # The content decides, not the stat: the original bytes give the original version back.
    path.write_bytes(original)
    assert version() == first


def test_a_same_size_edit_within_the_same_tick_is_seen(source_copy: Path) -> None:
    path = module_file(source_copy)
    path.write_bytes(path.read_bytes())  # just written: its stat is too fresh to be trusted
    stamp = path.stat()
    first = version()
    same_size_edit(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert path.stat().st_mtime_ns == stamp.st_mtime_ns and path.stat().st_size == stamp.st_size
    assert version() != first


def test_a_damaged_table_is_rebuilt(source_copy: Path) -> None:
    first = version()
    (table,) = (source_copy.parents[1] / "cache" / "doctune").glob("codehash-*.json")
    table.write_text("{not json")
    assert version() == first
    assert table.read_text().startswith("{")


def test_the_table_holds_no_source_text(source_copy: Path) -> None:
    path = module_file(source_copy)
    marker = "sk-not-a-real-key-but-kept-out-of-the-table"
    path.write_text(path.read_text() + f"\nTOKEN = {marker!r}\n")
    version()
    (table,) = (source_copy.parents[1] / "cache" / "doctune").glob("codehash-*.json")
    assert marker not in table.read_text()
