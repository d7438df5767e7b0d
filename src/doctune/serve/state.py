"""What the app holds for its lifetime: the project, its config, the output folder, and the
manifest, read again whenever its file changes on disk (a run may be writing it)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from doctune.foundation.config import ProjectConfig, load_config
from doctune.foundation.manifest import MANIFEST_NAME, Manifest


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return None


@dataclass
class ServeState:
    """The project the app serves. `manifest()` is the current manifest; `changed_since(t)` says
    whether a run rewrote it after a page read it at `t` (the page then shows "data changed")."""

    project: Path
    config: ProjectConfig
    out: Path
    token: str | None = None
    # Per app run: forms carry it, and a POST without it is refused (a cross-site page cannot read
    # it from ours).
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    _manifest: Manifest | None = field(default=None, repr=False)
    _manifest_mtime: float | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        project: Path,
        config_file: Path | None = None,
        out: Path | None = None,
        token: str | None = None,
    ) -> ServeState:
        project = Path(project).resolve()
        config = load_config(project, path=config_file)
        out_dir = Path(out).resolve() if out else (project / config.out).resolve()
        return cls(project=project, config=config, out=out_dir, token=token)

    @property
    def manifest_path(self) -> Path:
        return self.out / MANIFEST_NAME

    def manifest(self) -> Manifest:
        """The manifest as it is on disk now (re-read only when its mtime moved)."""
        mtime = _mtime(self.manifest_path)
        if self._manifest is None or mtime != self._manifest_mtime:
            # Manifest() reads nothing when the file is absent: an empty manifest, never run.
            self._manifest = Manifest(self.out)
            self._manifest_mtime = mtime
        return self._manifest

    @property
    def manifest_mtime(self) -> float | None:
        """The mtime of the manifest the app last read (pages embed it to detect changes)."""
        self.manifest()
        return self._manifest_mtime

    def changed_since(self, seen: float | None) -> bool:
        return _mtime(self.manifest_path) != seen

    def version(self) -> str:
        """A stamp of the manifest on disk now (mtime and size; "none" before any run). Every
        page carries the stamp it was rendered with and polls `/api/state` for the current one:
        when a run rewrites the manifest, the open page says its data is stale."""
        try:
            stat = self.manifest_path.stat()
        except FileNotFoundError:
            return "none"
        return f"{stat.st_mtime_ns}-{stat.st_size}"
