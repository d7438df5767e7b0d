"""The suite registry: name -> SuiteKind. Registering a kind also describes it to the config,
the plan and the report (doctune.foundation.suites), so a new suite is its module plus one
`register` line in `doctune.evaluate.suites`."""

from __future__ import annotations

from doctune.evaluate.suites.base import SuiteKind
from doctune.foundation.errors import ConfigError
from doctune.foundation.suites import describe, forget, unknown_suite_message

_KINDS: dict[str, SuiteKind] = {}


def register(kind: SuiteKind) -> None:
    _KINDS[kind.info.name] = kind
    describe(kind.info)


def unregister(name: str) -> None:
    _KINDS.pop(name, None)
    forget(name)


def suite_kind(name: str) -> SuiteKind:
    """The registered suite; a ConfigError naming the known ones for any other name."""
    kind = _KINDS.get(name)
    if kind is None:
        raise ConfigError(unknown_suite_message(name))
    return kind
