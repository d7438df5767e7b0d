"""Model spec strings, `<prefix>:<model>[+<adapter>]`, and the registry of backends by prefix.

Every backend registers a `BackendType` (its prefix, its capabilities and how to build it;
`doctune.models.backends` holds the built-in ones, one line each). Code outside `doctune.models`
asks a spec's `capabilities` instead of testing its prefix.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from doctune.foundation.config import ClientConfig, ModelSettings
from doctune.foundation.errors import ConfigError
from doctune.models.base import ChatBackend


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    adapter: str | None = None

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}" + (f"+{self.adapter}" if self.adapter else "")


@dataclass(frozen=True)
class Capabilities:
    """What a kind of backend can do, known from the spec alone, before anything loads.

    - local: the weights are files read in this process: the model's own tokenizer counts
      tokens, `+<adapter>` works, folders are checked before the run, the report looks for the
      tiny-model marker, the spec is short-named by its folder;
    - endpoint: an HTTP endpoint (base_url, api_key, the offline fallback when none is set);
    - loglikelihood: scores continuations after a context (MMLU the harness's way);
    - fine_tuning: how a student of this kind is trained: in this process or by the provider;
    - structured: the `structured_output` modes it serves.
    """

    local: bool = False
    endpoint: bool = False
    loglikelihood: bool = False
    fine_tuning: Literal["local", "hosted"] = "local"
    structured: tuple[str, ...] = ("instructions",)


Builder = Callable[[ModelSpec, ModelSettings, ClientConfig], ChatBackend]


@dataclass(frozen=True)
class BackendType:
    prefix: str
    capabilities: Capabilities
    build: Builder


_BACKENDS: dict[str, BackendType] = {}


def register_backend(kind: BackendType) -> None:
    _BACKENDS[kind.prefix] = kind


def unregister_backend(prefix: str) -> None:
    _BACKENDS.pop(prefix, None)


def known_backends() -> list[str]:
    return list(_BACKENDS)


def backend_type(prefix: str) -> BackendType:
    """The registered backend; a ConfigError naming the known prefixes for any other."""
    kind = _BACKENDS.get(prefix)
    if kind is None:
        raise ConfigError(f"unknown backend '{prefix}' (known: {', '.join(_BACKENDS)})")
    return kind


def capabilities(spec: str | ModelSpec) -> Capabilities:
    """What the backend of a spec can do (a ConfigError for a malformed spec)."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    return backend_type(parsed.backend).capabilities


def build_backend(spec: str, settings: ModelSettings, client: ClientConfig) -> ChatBackend:
    parsed = parse_spec(spec)
    return backend_type(parsed.backend).build(parsed, settings, client)


def parse_spec(spec: str) -> ModelSpec:
    """Split a spec string; an unknown backend or an empty model is a one-line ConfigError
    naming the closest valid prefix."""
    problem = spec_problem(spec)
    if problem:
        raise ConfigError(f"model spec '{spec}': {problem}")
    backend, _, rest = spec.partition(":")
    adapter = None
    if _BACKENDS[backend].capabilities.local and "+" in rest:
        rest, adapter = rest.split("+", 1)
    return ModelSpec(backend=backend, model=rest, adapter=adapter)


def spec_problem(spec: str) -> str | None:
    """What is wrong with a spec string, in a few words; None when it parses."""
    backend, sep, rest = spec.partition(":")
    if not sep:
        return f"no backend prefix (expected {_expected()}; did you mean 'openai:{spec}'?)"
    if backend not in _BACKENDS:
        close = difflib.get_close_matches(backend.lower(), list(_BACKENDS), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}:'?" if close else f"expected {_expected()}"
        return f"unknown backend '{backend}' ({hint})"
    if not rest:
        return f"no model after '{backend}:'"
    if _BACKENDS[backend].capabilities.local and "+" in rest:
        base, _, adapter = rest.partition("+")
        if not base or not adapter:
            return f"expected '{backend}:<base>+<adapter dir>'"
    return None


def _expected() -> str:
    return " or ".join(f"'{b}:<model>'" for b in _BACKENDS)


def looks_like_path(target: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else is meant as a local folder."""
    return target.startswith((".", "/", "~", os.sep)) or target.count("/") > 1
