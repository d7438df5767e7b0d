"""What a stage hands back to the pipeline: its artifacts and summary, or, for --dry-run, what it
expects to spend. Stages build these and the pipeline reads them, so they sit below both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from doctune.foundation.errors import DoctuneError
from doctune.foundation.manifest import Artifact


@dataclass
class StageResult:
    artifacts: list[Artifact]
    summary: dict[str, Any] = field(default_factory=dict)


class StageFailed(DoctuneError):
    """A stage that failed after finishing part of its work (some experiments trained): the
    pipeline records `partial` in the manifest, with the stage left out of date, and re-raises."""

    def __init__(self, message: str, partial: StageResult) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class CallEstimate:
    """What a stage expects to spend, for --dry-run. `exact` is False for an extrapolation.
    Training (no calls) fills `train_tokens` (tokens seen, over every epoch and experiment) and
    `train_seconds` (None when no throughput figure is known)."""

    role: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    exact: bool = True
    note: str = ""
    train_tokens: int | None = None
    train_seconds: float | None = None
    cost_usd: float | None = None  # a price known apart from per-token call prices (hosted jobs)
    cached_calls: int = 0  # calls the call cache will answer (not counted in `calls`)
