"""What the overview shows, read from the output folder without the run lock: each stage's state
(the pipeline's own up-to-date test), its summary and cost, and the last run's problems."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from doctune import pipeline
from doctune.context import USAGE_NAME, RunContext
from doctune.foundation.errors import DoctuneError
from doctune.foundation.jsonl import read_json, read_jsonl
from doctune.foundation.records import RejectedRecord
from doctune.foundation.runlock import LOCK_NAME, describe_holder
from doctune.serve.state import ServeState

UP_TO_DATE, STALE, NEVER_RUN, UNKNOWN = "up to date", "stale", "never run", "unknown"


@dataclass
class StageRow:
    name: str
    state: str
    finished_at: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    note: str | None = None

    @property
    def summary_items(self) -> list[tuple[str, Any]]:
        """The summary's plain values, the zeros left out (most counters are zero on most runs)."""
        return [
            (key, value)
            for key, value in self.summary.items()
            if isinstance(value, str | int | float) and value not in (0, "")
        ]


@dataclass
class Problem:
    stage: str
    what: str
    reason: str


def _context(state: ServeState) -> RunContext:
    # A context only to compute fingerprints: nothing is run, no lock taken, no progress shown.
    return RunContext(
        state.project,
        state.config,
        out_dir=state.out,
        console=Console(stderr=True, quiet=True),
        show_progress=False,
    )


@dataclass
class StateCache:
    """The stages' states as last computed, and the stamp of what they were computed from.

    Telling a stage up to date hashes its inputs and outputs (every document, every dataset):
    seconds on a large project, for every load of the overview. The stamp is the names, sizes
    and mtimes of every file in the project and output folders (the manifest, the documents,
    the reviews, the artifacts), a stat each; the states are computed again when it changes,
    and at least every MAX_AGE_S (a stage also depends on files outside the project, such as a
    base model's local weights). `computed` counts the computations."""

    MAX_AGE_S = 60.0

    key: Any = None
    at: float = 0.0
    states: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    computed: int = 0

    def get(self, state: ServeState) -> dict[str, tuple[str, str | None]]:
        key = _stamp(state)
        if key != self.key or time.monotonic() - self.at > self.MAX_AGE_S:
            self.states = _states(state)
            self.key, self.at = key, time.monotonic()
            self.computed += 1
        return self.states


def _stamp(state: ServeState) -> tuple[tuple[str, int, int], ...]:
    roots = [state.project] + ([] if state.out.is_relative_to(state.project) else [state.out])
    found: list[tuple[str, int, int]] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in _NOT_INPUTS]
            for name in files:
                try:
                    stat = os.stat(os.path.join(folder, name))
                except FileNotFoundError:
                    continue  # removed while walking (a run replacing it): the next stamp sees it
                found.append((os.path.join(folder, name), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


# Folders no stage reads: version control and Python's byte-code.
_NOT_INPUTS = frozenset({".git", "__pycache__", ".venv"})


def _states(state: ServeState) -> dict[str, tuple[str, str | None]]:
    manifest = state.manifest()
    ctx = _context(state)
    ctx.manifest = manifest
    return {
        stage.name: _state(ctx, stage)
        for stage in pipeline.STAGES
        if manifest.stage_state(stage.name) is not None
    }


def stage_rows(state: ServeState, cache: StateCache | None = None) -> list[StageRow]:
    manifest = state.manifest()
    states = (cache or StateCache()).get(state)
    usage = _usage(state.out)
    rows = []
    for stage in pipeline.STAGES:
        recorded = manifest.stage_state(stage.name)
        row = StageRow(stage.name, NEVER_RUN)
        if recorded is not None:
            row.finished_at = recorded.finished_at
            row.summary = recorded.summary
            row.state, row.note = states.get(stage.name, (UNKNOWN, "the run changed it; reload"))
        row.records = sum(a.records or 0 for a in manifest.find_stage(stage.name))
        for spent in usage.get(stage.name, {}).values():
            row.calls += int(spent.get("calls", 0))
            row.cost_usd += float(spent.get("cost_usd", 0.0))
        rows.append(row)
    return rows


def _state(ctx: RunContext, stage: pipeline.Stage) -> tuple[str, str | None]:
    try:
        fresh = pipeline.is_up_to_date(ctx, stage)
    except (DoctuneError, OSError) as exc:
        # A config or model folder that no longer resolves: the state cannot be told, say why.
        return UNKNOWN, str(exc)
    return (UP_TO_DATE, None) if fresh else (STALE, None)


def _usage(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    path = out / USAGE_NAME
    try:
        data = read_json(path) if path.is_file() else {}
    except (DoctuneError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def running(out: Path) -> str | None:
    """Who is writing the output folder now, from the run lock's holder line, read without taking
    the lock (the app never does). A holder whose process is gone (killed) is not a run."""
    path = out / LOCK_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    if sys.platform != "win32":  # signal 0 probes a POSIX pid; on Windows it would be Ctrl+C
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
    return describe_holder(path)


def problems(state: ServeState) -> list[Problem]:
    """The last run's errors: files ingest skipped or failed, model calls that failed, and what
    each stage excluded, by reason."""
    manifest = state.manifest()
    found = _ingest_problems(state) + _failed_calls(state.out)
    for artifact in manifest.find("rejected"):
        reasons = _rejected_reasons(manifest.resolve(artifact))
        for reason, n in sorted(reasons.items()):
            what = artifact.recipe or artifact.path
            found.append(Problem(artifact.stage, what, f"{n:,} × {reason}"))
    evaluated = manifest.stage_state("evaluate")
    excluded = counts_of(evaluated.summary.get("excluded") if evaluated else None)
    for reason, n in sorted(excluded.items()):
        found.append(Problem("evaluate", "answers", f"{n:,} × {reason}"))
    return found


def counts_of(value: Any) -> dict[str, int]:
    """Counts by kind from a stage summary, which prints them as "judge_failed=3, other=1" (or
    "none") so the console line stays readable; a mapping is taken as it is."""
    if isinstance(value, dict):
        return {str(k): int(v) for k, v in value.items()}
    out: dict[str, int] = {}
    for part in str(value or "").split(","):
        kind, sep, number = part.strip().partition("=")
        if sep and number.strip().isdigit():
            out[kind.strip()] = int(number)
    return out


def _ingest_problems(state: ServeState) -> list[Problem]:
    manifest = state.manifest()
    found = []
    for artifact in manifest.find("stats", stage="ingest"):
        report = _read(manifest.resolve(artifact))
        for item in report.get("files", []) if isinstance(report, dict) else []:
            if item.get("status") != "ok" or item.get("reason"):
                why = str(item.get("reason") or item.get("status"))
                found.append(Problem("ingest", str(item.get("path")), why))
    return found


FAILURE_COUNTERS = {
    "failed_calls": "calls failed after every retry",
    "failed_structured": "replies still invalid after their re-asks",
}


def _failed_calls(out: Path) -> list[Problem]:
    found = []
    for stage, models in _usage(out).items():
        for spec, row in models.items() if isinstance(models, dict) else ():
            for key, label in FAILURE_COUNTERS.items():
                if isinstance(row, dict) and row.get(key):
                    found.append(Problem(stage, spec, f"{row[key]:,} {label}"))
    return found


# rejected JSONL by path: its mtime and its reasons counted (parsed once per version of the file).
_rejected: dict[Path, tuple[float, Counter[str]]] = {}


def _rejected_reasons(path: Path) -> Counter[str]:
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return Counter()
    cached = _rejected.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, Counter(r.reason for r in read_jsonl(path, RejectedRecord)))
        _rejected[path] = cached
    return cached[1]


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except (DoctuneError, OSError):
        return {}
