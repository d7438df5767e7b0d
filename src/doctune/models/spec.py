"""Model spec strings: `openai:<model>`, `hf:<hub id or path>[+<adapter dir>]`."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

from doctune.foundation.errors import ConfigError

BACKENDS = ("openai", "hf")


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    adapter: str | None = None

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}" + (f"+{self.adapter}" if self.adapter else "")


def parse_spec(spec: str) -> ModelSpec:
    """Split a spec string; an unknown backend or an empty model is a one-line ConfigError
    naming the closest valid prefix."""
    problem = spec_problem(spec)
    if problem:
        raise ConfigError(f"model spec '{spec}': {problem}")
    backend, _, rest = spec.partition(":")
    adapter = None
    if backend == "hf" and "+" in rest:
        rest, adapter = rest.split("+", 1)
    return ModelSpec(backend=backend, model=rest, adapter=adapter)


def spec_problem(spec: str) -> str | None:
    """What is wrong with a spec string, in a few words; None when it parses."""
    backend, sep, rest = spec.partition(":")
    if not sep:
        return f"no backend prefix (expected {_expected()}; did you mean 'openai:{spec}'?)"
    if backend not in BACKENDS:
        close = difflib.get_close_matches(backend.lower(), BACKENDS, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}:'?" if close else f"expected {_expected()}"
        return f"unknown backend '{backend}' ({hint})"
    if not rest:
        return f"no model after '{backend}:'"
    if backend == "hf" and "+" in rest:
        base, _, adapter = rest.partition("+")
        if not base or not adapter:
            return "expected 'hf:<base>+<adapter dir>'"
    return None


def _expected() -> str:
    return " or ".join(f"'{b}:<model>'" for b in BACKENDS)


def looks_like_path(target: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else is meant as a local folder."""
    return target.startswith((".", "/", "~", os.sep)) or target.count("/") > 1
