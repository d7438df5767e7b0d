"""Model spec strings: `openai:<model>`, `hf:<hub id or path>[+<adapter dir>]`."""

from __future__ import annotations

from dataclasses import dataclass

from doctune.errors import ConfigError

BACKENDS = ("openai", "hf")


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    adapter: str | None = None

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}" + (f"+{self.adapter}" if self.adapter else "")


def parse_spec(spec: str) -> ModelSpec:
    """Split a spec string; an unknown backend or an empty model is a one-line ConfigError."""
    backend, sep, rest = spec.partition(":")
    if not sep or backend not in BACKENDS or not rest:
        raise ConfigError(
            f"model spec '{spec}': expected one of " + ", ".join(f"'{b}:<model>'" for b in BACKENDS)
        )
    adapter = None
    if backend == "hf" and "+" in rest:
        rest, adapter = rest.split("+", 1)
        if not rest or not adapter:
            raise ConfigError(f"model spec '{spec}': expected 'hf:<base>+<adapter dir>'")
    return ModelSpec(backend=backend, model=rest, adapter=adapter)
