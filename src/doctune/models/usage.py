"""Token, call and cost accounting per model and stage: what `usage.json` and the report show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from doctune.foundation.config import ModelSettings
from doctune.models.base import ChatResponse


@dataclass
class UsageRow:
    """Calls and tokens of one model in one stage. `cost_usd` is what the records used cost when
    they were made (cached calls included); `new_cost_usd` is what this run paid."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    new_cost_usd: float = 0.0
    invalid_replies: int = 0
    failed_structured: int = 0
    failed_calls: int = 0
    unfitted: int = 0  # structured requests not sent: too long for the model's context

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class UsageLedger:
    rows: dict[tuple[str, str], UsageRow] = field(default_factory=dict)

    def row(self, spec: str, stage: str) -> UsageRow:
        return self.rows.setdefault((spec, stage), UsageRow())

    def by_stage(self) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (spec, stage), row in sorted(self.rows.items()):
            out.setdefault(stage, {})[spec] = row.as_dict()
        return out

    def totals(self, stage: str | None = None) -> UsageRow:
        total = UsageRow()
        for (_, row_stage), row in self.rows.items():
            if stage is None or row_stage == stage:
                for key, value in row.__dict__.items():
                    setattr(total, key, getattr(total, key) + value)
        return total


def cost_of(settings: ModelSettings, response: ChatResponse) -> float:
    return (
        response.usage.prompt_tokens * settings.price_input_per_mtok
        + response.usage.completion_tokens * settings.price_output_per_mtok
    ) / 1e6
