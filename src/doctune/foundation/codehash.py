"""A stage's code version: the hash of every doctune module it imports, plus the data files
(prompt and report templates) of every package among them.

The imports are read from the source with `ast`, not from `sys.modules`, so the version is the
same whatever ran before in the process, and an import inside a function (a route loaded only
when it is used) counts as well. A hand-written list drifts from the imports; this cannot.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

#: The `doctune` package folder whose sources are hashed (tests point it at an edited copy).
SOURCE_ROOT = Path(__file__).resolve().parent.parent
ROOT_PACKAGE = "doctune"


def code_version(*modules: str) -> str:
    """Hash of the named modules and of every doctune module they import, transitively."""
    return _code_version(SOURCE_ROOT, tuple(sorted(set(modules))))


def clear_cache() -> None:
    """Forget the versions computed so far (they are cached for the life of the process)."""
    _code_version.cache_clear()
    _imports.cache_clear()


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
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


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
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if _module_file(root, m) is not None)


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


def _data_files(package_dir: Path) -> list[Path]:
    """A package's templates and other data: every file but Python sources, caches and the
    contents of its sub-packages (they are hashed when imported)."""
    out = []
    for path in package_dir.rglob("*"):
        rel = path.relative_to(package_dir)
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in rel.parts:
            continue
        if any(
            (package_dir / Path(*rel.parts[:i]) / "__init__.py").is_file()
            for i in range(1, len(rel.parts))
        ):
            continue
        out.append(path)
    return out
