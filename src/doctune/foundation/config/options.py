"""The options a stage takes from its command beyond the config: typed, like the config itself.

A stage reads its own with `ctx.stage_options(TrainOptions)`; run from `doctune run` or a
notebook without any, it gets the defaults (nothing selected, nothing overridden).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doctune.foundation.config.train import DistributedConfig


class StageOptions(BaseModel):
    """Base of every stage's options: unknown ones are an error, and they do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _names(value: Any) -> Any:
    """ "a,b" or ["a", "b"] as a list of names; blanks dropped."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else list(value)
    return [p.strip() for p in parts if isinstance(p, str) and p.strip()]


class TrainOptions(StageOptions):
    experiment: str | None = Field(None, description="Train only this experiment (name or id).")
    cancel: bool = Field(False, description="Cancel the hosted jobs of the experiments.")
    retry: bool = Field(False, description="New hosted jobs for failed or cancelled ones.")
    distributed: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields of train.distributed given on the command line; they win over the "
        "config's.",
    )

    @field_validator("distributed")
    @classmethod
    def _known_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(DistributedConfig.model_fields))
        if unknown:
            raise ValueError(f"not fields of train.distributed: {', '.join(unknown)}")
        return {k: v for k, v in value.items() if v is not None}


class EvaluateOptions(StageOptions):
    models: list[str] = Field(
        default_factory=list,
        description="'base', 'best', experiment names or ids, model specs "
        "(default: evaluate.models of the config).",
    )
    suites: list[str] = Field(
        default_factory=list, description="Suites to run (default: evaluate.suites of the config)."
    )

    @field_validator("models", "suites", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _names(value)


class ExportOptions(StageOptions):
    formats: list[str] = Field(
        default_factory=list,
        description="Formats to write besides export.formats of the config.",
    )
