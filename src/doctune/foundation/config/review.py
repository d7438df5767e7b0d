"""The review section: how human reviews of records are applied by the pipeline."""

from __future__ import annotations

from pydantic import Field

from doctune.foundation.config.base import Section


class ReviewConfig(Section):
    require_approval: bool = Field(
        False,
        description="Export only records a reviewer approved or edited; the others are dropped "
        "by split with the reason not_approved.",
    )
    user: str | None = Field(
        None, description="Name written into the audit trail of a review; default: the OS user."
    )
