"""What a stage gets to work with: the config, the output folder and its manifest, model clients
for the roles, progress bars and the usage ledger. A notebook builds one and calls stages directly."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from doctune.foundation.config import ProjectConfig, load_config, model_settings
from doctune.foundation.config.options import StageOptions
from doctune.foundation.display import printable
from doctune.foundation.jsonl import read_json, write_json
from doctune.foundation.manifest import Artifact, Manifest, Read
from doctune.models import GenerationParams, ModelClient, UsageLedger, load_backend
from doctune.models.cache import CallCache
from doctune.models.roles import resolve_role

USAGE_NAME = "usage.json"
OptionsT = TypeVar("OptionsT", bound=StageOptions)


@dataclass
class Tick:
    """A progress handle a stage advances; a no-op when progress is off."""

    _progress: Progress | None
    _task: Any

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def total(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)


class RunContext:
    def __init__(
        self,
        project_dir: str | Path,
        config: ProjectConfig | None = None,
        *,
        out_dir: str | Path | None = None,
        overrides: dict[str, str | None] | None = None,
        dry_run: bool = False,
        console: Console | None = None,
        show_progress: bool = True,
        options: StageOptions | None = None,
    ) -> None:
        self.project_dir = Path(project_dir).resolve()
        self.config = config if config is not None else load_config(self.project_dir)
        self.out_dir = Path(out_dir).resolve() if out_dir else self.project_dir / self.config.out
        self.documents_dir = self.project_dir / self.config.documents
        self.overrides = {k: v for k, v in (overrides or {}).items() if v}
        self.dry_run = dry_run
        # One stage's command-line options (train's --experiment, evaluate's --models); the
        # config stays the single source of everything else.
        self.options = options
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress and not os.environ.get("DOCTUNE_NO_PROGRESS")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest(self.out_dir)
        self.ledger = UsageLedger()
        self._cache: CallCache | None = None
        self._clients: dict[str, ModelClient] = {}
        self._reading: tuple[str, tuple[Read, ...]] | None = None

    def stage_options(self, kind: type[OptionsT]) -> OptionsT:
        """The options given for the stage that reads `kind`; its defaults when none were."""
        return self.options if isinstance(self.options, kind) else kind()

    def reload_manifest(self) -> None:
        """Read the manifest again (another run may have written it since this one started)."""
        self.manifest = Manifest(self.out_dir)

    # -- models -------------------------------------------------------------------------------
    def spec(self, role: str) -> str:
        return resolve_role(self.config, role, self.overrides.get(role))

    @property
    def cache(self) -> CallCache | None:
        if not self.config.client.cache:
            return None
        if self._cache is None:
            configured = self.config.client.cache_path
            # Relative to the project, like every other path in the config (not to the cwd: a
            # run started elsewhere would find an empty cache and pay for every call again).
            path = (
                self.project_dir / configured
                if configured
                else self.out_dir / "cache" / "calls.sqlite"
            )
            self._cache = CallCache(path)
        return self._cache

    def client(self, role: str, stage: str) -> ModelClient:
        """The client for a role's model, booking usage under `stage`. Built once per spec."""
        return self.client_for_spec(self.spec(role), stage)

    def client_for_spec(self, spec: str, stage: str) -> ModelClient:
        if spec not in self._clients:
            settings = model_settings(self.config, spec)
            cfg = self.config.client
            self._clients[spec] = ModelClient(
                load_backend(spec, settings, cfg),
                settings=settings,
                cache=self.cache,
                ledger=self.ledger,
                concurrency=cfg.concurrency,
                structured_retries=cfg.structured_retries,
                defaults=GenerationParams(
                    temperature=cfg.temperature, max_tokens=settings.max_new_tokens, seed=cfg.seed
                ),
            )
        return self._clients[spec].for_stage(stage)

    async def release(self, spec: str) -> None:
        """Close one model's backend (an in-process model frees its memory, a GPU's too); the
        usage it booked stays in the ledger, and a later call for the spec builds it again."""
        client = self._clients.pop(spec, None)
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    # -- files --------------------------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        path = self.out_dir / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def reading(self, stage: str, reads: tuple[Read, ...]) -> Iterator[None]:
        """While a stage runs (or its fingerprint is taken), `inputs` answers only what it
        declared: a read left out of the declaration would be left out of its fingerprint."""
        previous, self._reading = self._reading, (stage, reads)
        try:
            yield
        finally:
            self._reading = previous

    def inputs(self, kind: str, stage: str | None = None, **filters: str | None) -> list[Artifact]:
        found = self.manifest.find(kind, stage=stage, **filters)
        if self._reading is None:  # a command or a notebook outside any stage
            return found
        running, reads = self._reading
        declared = {r.stage for r in reads if r.kind == kind}
        if not declared or (stage is not None and stage not in declared):
            # A programming error: the stage table must declare every read.
            raise RuntimeError(
                f"stage '{running}' reads {kind} of {stage or 'any stage'} without declaring it"
            )
        return [a for a in found if a.stage in declared]

    def path(self, artifact: Artifact) -> Path:
        return self.manifest.resolve(artifact)

    def save_usage(self, stage: str) -> None:
        """Replace the stage's rows in usage.json with this run's ledger for that stage."""
        path = self.out_dir / USAGE_NAME
        data: dict[str, Any] = read_json(path) if path.is_file() else {}  # type: ignore[assignment]
        rows = self.ledger.by_stage().get(stage)
        if rows:
            data[stage] = rows
        else:
            data.pop(stage, None)
        write_json(path, data)

    # -- feedback -----------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """One line of Rich markup. Control characters in it (a file name's newline or ESC
        sequence) print as escapes, so no message can forge a line or drive the terminal."""
        self.console.print(printable(message), highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Tick]:
        if not self.show_progress:
            yield Tick(None, None)
            return
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        ) as progress:
            task = progress.add_task(description, total=total)
            yield Tick(progress, task)
