"""What can be checked before the first model call is checked then, not when a stage reaches it.

A misspelt judge found at curate has already paid for the teacher's calls of synthesize. So
before any stage runs: every model spec the config, the flags and the `DOCTUNE_*` variables name
parses and names a known backend; the roles the planned stages use have their local model
folders on disk and well-formed endpoint URLs. Each problem is one ConfigError (exit 2) naming
where the spec came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from doctune.context import RunContext
from doctune.export.registry import resolve_formats
from doctune.foundation.config import ROLES, ProjectConfig, model_settings
from doctune.foundation.errors import ConfigError
from doctune.models.spec import ModelSpec, capabilities, looks_like_path, parse_spec, spec_problem

# Which model roles each stage calls, besides the roles of its Stage entry: train fine-tunes the
# students; evaluate asks the students, the baselines and a second judge too.
_USES = {
    "synthesize": ("teacher",),
    "evalsets": ("teacher",),
    "curate": ("judge",),
    "train": ("students",),
    "evaluate": ("judge", "second_judge", "students", "baselines"),
}


def role_origin(ctx: RunContext, role: str) -> str:
    """Where a role's spec comes from, as the user would look for it."""
    if ctx.overrides.get(role):
        return f"--{role}"
    if os.environ.get(f"DOCTUNE_{role.upper()}"):
        return f"DOCTUNE_{role.upper()}"
    configured = getattr(ctx.config.models, role)
    if ctx.spec(role) != configured and ctx.config.models.offline_fallback:
        return "models.offline_fallback"
    return f"models.{role}"


def named_specs(ctx: RunContext) -> list[tuple[str, str, str]]:
    """(group, where, spec) for every spec anything names; group says which stages use it."""
    cfg = ctx.config
    found: list[tuple[str, str, str]] = []
    for role in ROLES:
        found.append((role, role_origin(ctx, role), ctx.spec(role)))
    if cfg.models.offline_fallback:
        found.append(("fallback", "models.offline_fallback", cfg.models.offline_fallback))
    found += [("students", f"train.students[{i}]", s) for i, s in enumerate(cfg.train.students)]
    if cfg.evaluate.second_judge:
        found.append(("second_judge", "evaluate.second_judge", cfg.evaluate.second_judge))
    # Experiment names, 'base' and 'best' are resolved later; a spec has a backend prefix.
    for key in ("baselines", "models"):
        for i, name in enumerate(getattr(cfg.evaluate, key)):
            if ":" in name:
                found.append(("baselines", f"evaluate.{key}[{i}]", name))
    found += [("settings", f"models.settings['{s}']", s) for s in cfg.models.settings]
    return found


def check(ctx: RunContext, stage_names: Iterable[str]) -> None:
    """Refuse the run before any stage starts when a spec, folder, URL or format is wrong."""
    stage_names = list(stage_names)
    if "export" in stage_names:
        _check_formats(ctx)
    specs = named_specs(ctx)
    parsed: list[tuple[str, str, str, ModelSpec]] = []
    for group, where, spec in specs:
        problem = spec_problem(spec)
        if problem:
            raise ConfigError(f"{where}: '{spec}': {problem}")
        parsed.append((group, where, spec, parse_spec(spec)))
    # The fallback is checked as the role it stands in for, where it does.
    used = {g for name in stage_names for g in _USES.get(name, ())}
    if "students" in used:
        used.add("student")
    for group, where, spec, model in parsed:
        if group not in used:
            continue
        if capabilities(model).local:
            _check_local(where, spec, model, ctx.out_dir)
        elif capabilities(model).endpoint:
            _check_endpoint(ctx.config, where, spec)


def _check_formats(ctx: RunContext) -> None:
    try:
        resolve_formats(ctx.config.export.formats)
    except ConfigError as exc:
        raise ConfigError(f"export.formats: {exc}") from None


def _check_local(where: str, spec: str, model: ModelSpec, out_dir: Path) -> None:
    def missing(target: str) -> bool:
        folder = Path(target).expanduser().resolve()
        # A folder in the output folder may be what this run is about to write (an adapter).
        return not folder.is_dir() and not folder.is_relative_to(out_dir)

    if looks_like_path(model.model) and missing(model.model):
        raise ConfigError(f"{where}: '{spec}': no local model folder '{model.model}'")
    if model.adapter and missing(model.adapter):
        raise ConfigError(f"{where}: '{spec}': no adapter folder '{model.adapter}'")


def _check_endpoint(config: ProjectConfig, where: str, spec: str) -> None:
    settings = model_settings(config, spec)
    if settings.base_url:
        url, origin = settings.base_url, f"models.settings['{spec}'].base_url"
    else:
        url, origin = os.environ.get("OPENAI_BASE_URL", ""), "OPENAI_BASE_URL"
    if not url:
        return  # the SDK's default endpoint
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not repeated: a URL can carry a token in its query or user part.
        raise ConfigError(
            f"{where}: '{spec}': {origin} is not a well-formed URL "
            "(expected http:// or https://, a host, optionally a port and a path)"
        )
