"""The suite interface: a suite turns a model into per-item results (one method); the stage runs
every suite for every model and variant and aggregates with uncertainty."""

from __future__ import annotations

from typing import Protocol

from doctune.foundation.evalrecords import EvalItem, ItemResult, Variant
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef


class Suite(Protocol):
    """A suite turns a model into per-item results."""

    name: str

    async def evaluate(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]: ...
