"""Which files under documents/ are documents: include/exclude globs, hidden files skipped,
linked folders followed, and every link that leads nowhere (a loop, a broken link) reported with
its reason instead of vanishing from the run."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from doctune.foundation.config import IngestConfig
from doctune.foundation.errors import InputError


def list_documents(documents_dir: Path, cfg: IngestConfig) -> list[tuple[str, Path]]:
    """(path relative to documents/, absolute path) of every document, sorted by relative path."""
    return scan_documents(documents_dir, cfg)[0]


def scan_documents(
    documents_dir: Path, cfg: IngestConfig
) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """The documents (as `list_documents`), and (relative path, reason) for each link that leads
    nowhere: a symlink loop or a broken link, reported rather than skipped without a word.

    Linked folders are followed (a documents/ made of links to shared folders is common); a link
    back into a folder already on the way down is a loop and is not entered."""
    if not documents_dir.is_dir():
        raise InputError(f"{documents_dir}: documents folder not found")
    include, exclude = _any_of(cfg.include), _any_of(cfg.exclude)
    found: list[tuple[str, Path]] = []
    problems: list[tuple[str, str]] = []
    top = str(documents_dir)
    chain = {top: {os.path.realpath(top)}}  # walked folder -> real paths of it and its parents
    cut = len(top) if top.endswith(os.sep) else len(top) + 1  # os.walk's roots: top/a/b
    for root, dirs, files in os.walk(top, followlinks=True):
        base = Path(root)
        # The folder relative to documents/ as a prefix, from the string: what
        # Path.relative_to() gives, without building two paths for every file.
        prefix = "" if root == top else root[cut:].replace(os.sep, "/") + "/"
        dirs.sort()
        for name in list(dirs):
            real = os.path.realpath(base / name)
            rel = (base / name).relative_to(documents_dir).as_posix()
            if name.startswith("."):
                dirs.remove(name)
            elif real in chain[root]:
                dirs.remove(name)
                problems.append((rel, "symlink loop (links back to a folder above it), skipped"))
            else:
                chain[os.path.join(root, name)] = chain[root] | {real}
        for name in files:
            # Hidden files and Office lock files ("~$report.docx") are not documents.
            if name.startswith((".", "~$")):
                continue
            rel, full = prefix + name, os.path.join(root, name)
            wanted = _matches(include, rel, name) and not _matches(exclude, rel, name)
            if os.path.isfile(full):
                if wanted:
                    found.append((rel, base / name))
            elif os.path.islink(full):
                problems.append((rel, _dead_link(base / name)))
    if not found:
        looked = ", ".join(cfg.include) or "nothing"
        extra = "".join(f"; {rel}: {why}" for rel, why in problems)
        raise InputError(f"{documents_dir}: no documents (looked for {looked}){extra}")
    return sorted(found), sorted(problems)


def _dead_link(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop, skipped"
    return f"broken symlink (to {os.readlink(path)}), skipped"


def _glob(pattern: str) -> tuple[re.Pattern[str], bool]:
    """A glob as a regex: `**/` spans folders, `*` and `?` stay within one; a pattern without a
    slash matches the file name at any depth (as in .gitignore)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            char = pattern[i]
            out += {"*": "[^/]*", "?": "[^/]"}.get(char) or re.escape(char)
            i += 1
    return re.compile(out + r"\Z", re.IGNORECASE), "/" in pattern


def _any_of(patterns: list[str]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """The globs as two regexes, one alternation each: those with a slash (matched against the
    relative path) and those without (against the file name). A regex matches where any of its
    alternatives does, as testing the globs one by one would."""
    globs = [_glob(p) for p in patterns]

    def joined(anchored: bool) -> re.Pattern[str] | None:
        parts = [regex.pattern for regex, slash in globs if slash == anchored]
        return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None

    return joined(True), joined(False)


def _matches(
    globs: tuple[re.Pattern[str] | None, re.Pattern[str] | None], rel: str, name: str
) -> bool:
    on_path, on_name = globs
    return bool(on_path and on_path.match(rel)) or bool(on_name and on_name.match(name))
