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
    include = [_glob(p) for p in cfg.include]
    exclude = [_glob(p) for p in cfg.exclude]
    found: list[tuple[str, Path]] = []
    problems: list[tuple[str, str]] = []
    top = str(documents_dir)
    chain = {top: {os.path.realpath(top)}}  # walked folder -> real paths of it and its parents
    for root, dirs, files in os.walk(top, followlinks=True):
        base = Path(root)
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
            path = base / name
            rel = path.relative_to(documents_dir).as_posix()
            # Hidden files and Office lock files ("~$report.docx") are not documents.
            if name.startswith((".", "~$")):
                continue
            wanted = any(_matches(g, rel) for g in include) and not any(
                _matches(g, rel) for g in exclude
            )
            if path.is_file():
                if wanted:
                    found.append((rel, path))
            elif path.is_symlink():
                problems.append((rel, _dead_link(path)))
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


def _matches(glob: tuple[re.Pattern[str], bool], rel: str) -> bool:
    regex, anchored = glob
    return bool(regex.match(rel if anchored else rel.rsplit("/", 1)[-1]))
