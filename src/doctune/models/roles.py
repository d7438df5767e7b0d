"""Which model plays a role (teacher, judge, student): flag > DOCTUNE_<ROLE> > config, then the
offline fallback for an endpoint that has nowhere to go."""

from __future__ import annotations

import os

from doctune.foundation.config import ROLES, ProjectConfig
from doctune.foundation.errors import ConfigError
from doctune.models.spec import capabilities, spec_problem

# Where the openai SDK finds an endpoint when the model's settings name none.
ENDPOINT_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL")


def resolve_role(config: ProjectConfig, role: str, override: str | None = None) -> str:
    """The spec string for a model role.

    A teacher or judge on an endpoint with no API key and no base URL anywhere falls back to
    `models.offline_fallback` so the example runs with no account and no server.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown model role '{role}' (roles: {', '.join(ROLES)})")
    spec = override or os.environ.get(f"DOCTUNE_{role.upper()}") or getattr(config.models, role)
    explicit = bool(override or os.environ.get(f"DOCTUNE_{role.upper()}"))
    if (
        not explicit
        and role != "student"
        and config.models.offline_fallback
        and spec_problem(spec) is None  # a malformed spec is the pre-flight check's to report
        and capabilities(spec).endpoint
        and not _has_endpoint(config, spec)
    ):
        return config.models.offline_fallback
    return spec


def _has_endpoint(config: ProjectConfig, spec: str) -> bool:
    settings = config.models.settings.get(spec)
    if settings and (settings.base_url or settings.api_key):
        return True
    return any(os.environ.get(name) for name in ENDPOINT_ENV)
