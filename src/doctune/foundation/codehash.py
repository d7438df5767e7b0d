"""A stage's code version: the hash of every doctune module it imports, plus the data files
(prompt and report templates) of every package among them.

The imports are read from the source with `ast`, not from `sys.modules`, so the version is the
same whatever ran before in the process, and an import inside a function (a route loaded only
when it is used) counts as well. A hand-written list drifts from the imports; this cannot.

Parsing every module costs 0.2-0.5 s, so each file's SHA-256 and import names are kept on disk
(`cache_dir()`), keyed by its (mtime_ns, size): an unchanged tree costs a stat per file. A file
whose stat differs is read and hashed again, and parsed only if its content changed. A stat
taken within RACY_NS of the file's last change is not trusted next time (the content is checked
again), since a second edit in the same clock tick, of the same size, would keep both. The table
holds paths, stats, hashes and module names only.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
import time
from functools import cache
from pathlib import Path

#: The `doctune` package folder whose sources are hashed (tests point it at an edited copy).
SOURCE_ROOT = Path(__file__).resolve().parent.parent
ROOT_PACKAGE = "doctune"
#: A stat this close to the file's modification time may miss a same-size edit in the same tick.
RACY_NS = 3_000_000_000
_TABLE_VERSION = 1


def cache_dir() -> Path:
    """Where the per-file table is kept: $XDG_CACHE_HOME/doctune, else ~/.cache/doctune."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "doctune"


def code_version(*modules: str) -> str:
    """Hash of the named modules and of every doctune module they import, transitively."""
    return _code_version(SOURCE_ROOT, tuple(sorted(set(modules))))


def clear_cache() -> None:
    """Forget the versions computed so far (they are cached for the life of the process)."""
    _code_version.cache_clear()
    _imports.cache_clear()
    _table.cache_clear()
    _data_files.cache_clear()
    _module_file.cache_clear()


def imported_modules(*modules: str, root: Path | None = None) -> set[str]:
    """The named modules and everything they import from doctune (parent packages included:
    importing `a.b` runs `a/__init__.py`)."""
    base = root or SOURCE_ROOT
    seen: set[str] = set()
    todo = [m for m in modules if _module_file(base, m) is not None]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_parents(name))
        todo.extend(_imports(base, name))
    return seen


@cache
def _code_version(root: Path, modules: tuple[str, ...]) -> str:
    # Modules outside doctune (a test's toy stage) have no source here; a doctune name that
    # does not resolve is a typo in the stage table, not something a user can cause.
    missing = [m for m in modules if m.startswith(f"{ROOT_PACKAGE}.") and not _module_file(root, m)]
    if missing:
        raise ValueError(f"no doctune module {', '.join(missing)} under {root}")
    digest = hashlib.sha256()
    files: set[Path] = set()
    for name in imported_modules(*modules, root=root):
        path = _module_file(root, name)
        assert path is not None
        files.add(path)
        if path.name == "__init__.py":
            files.update(_data_files(path.parent))
    table = _table(root)
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(table.sha256(path).encode())
    table.save()
    return digest.hexdigest()[:16]


@cache
def _module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != ROOT_PACKAGE:
        return None
    target = root.joinpath(*parts[1:])
    if (target / "__init__.py").is_file():
        return target / "__init__.py"
    if len(parts) > 1 and target.with_suffix(".py").is_file():
        return target.with_suffix(".py")
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def _imports(root: Path, name: str) -> frozenset[str]:
    """The doctune modules one module's source imports (names that are attributes, such as
    `from doctune.models import ModelClient`, resolve to their package)."""
    path = _module_file(root, name)
    assert path is not None
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    # The names as written are kept (not only those that resolve): whether a name is a module
    # depends on the other files, which may change while this one does not.
    found = _table(root).imports(path, package)
    return frozenset(m for m in found if _module_file(root, m) is not None)


def _import_names(source: bytes, filename: str, package: str) -> list[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return sorted(found)


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


@cache
def _data_files(package_dir: Path) -> list[Path]:
    """A package's templates and other data: every file but Python sources, caches and the
    contents of its sub-packages (they are hashed when imported)."""
    out = []
    for folder, subfolders, names in os.walk(package_dir):
        here = Path(folder)
        # Pruned in place: os.walk then never enters a sub-package or a bytecode cache.
        subfolders[:] = [
            d for d in subfolders if d != "__pycache__" and not (here / d / "__init__.py").is_file()
        ]
        out.extend(here / n for n in names if Path(n).suffix not in (".py", ".pyc"))
    return [p for p in out if p.is_file()]


class _FileTable:
    """relative path -> [mtime_ns or None, size, sha256, import names or None] for one source
    root, loaded once per process and written back (atomically) when something changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        key = hashlib.sha256(str(root).encode()).hexdigest()[:16]
        self.path = cache_dir() / f"codehash-{key}.json"
        self.rows: dict[str, list] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") == _TABLE_VERSION and isinstance(data.get("files"), dict):
                self.rows = data["files"]
        except (OSError, ValueError, AttributeError):
            pass  # no table yet, or an unreadable one: everything is hashed again

    def sha256(self, path: Path) -> str:
        return self._row(path, None)[2]

    def imports(self, path: Path, package: str) -> list[str]:
        return self._row(path, package)[3]

    def _row(self, path: Path, package: str | None) -> list:
        rel = path.relative_to(self.root).as_posix()
        st = path.stat()
        row = self.rows.get(rel)
        if (
            row
            and row[0] == st.st_mtime_ns
            and row[1] == st.st_size
            and (package is None or row[3] is not None)
        ):
            return row
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        names = row[3] if row and row[2] == sha else None
        if names is None and package is not None:
            names = _import_names(data, str(path), package)
        # A stat from the same moment as the edit is not trusted next time (see RACY_NS).
        racy = time.time_ns() - st.st_mtime_ns < RACY_NS
        row = [None if racy else st.st_mtime_ns, st.st_size, sha, names]
        self.rows[rel] = row
        self.dirty = True
        return row

    def save(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        body = json.dumps({"version": _TABLE_VERSION, "files": self.rows}, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".codehash-", suffix=".tmp")
        except OSError:
            return  # a read-only home: the next run hashes again, nothing else changes
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
            os.replace(tmp, self.path)  # concurrent runs: the last whole table wins
        except OSError:
            Path(tmp).unlink(missing_ok=True)


@cache
def _table(root: Path) -> _FileTable:
    return _FileTable(root)
