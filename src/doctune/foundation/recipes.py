"""The dataset recipes as the config and the record readers see them: a name and the schema of
its records.

What a recipe does lives in `doctune.generation.recipes` (the registry synthesize asks); the
config and the stages that only read records sit below it or beside it, so the names and record
schemas are kept here. Registering a recipe there describes it here too (`describe`), and a test
checks the built-in names agree.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator

from doctune.foundation.errors import ConfigError
from doctune.foundation.records import QARecord

BUILTIN_RECIPES: tuple[str, ...] = ("pdf_synthetic", "knowledge_distillation")

_NAMES: dict[str, type[QARecord]] = dict.fromkeys(BUILTIN_RECIPES, QARecord)


def describe(name: str, record_type: type[QARecord] = QARecord) -> None:
    """Make a recipe known to the config and to the stages that read its records."""
    _NAMES[name] = record_type


def forget(name: str) -> None:
    """Remove a recipe name (a test's toy recipe, after the test)."""
    _NAMES.pop(name, None)


def known_recipes() -> list[str]:
    return list(_NAMES)


def unknown_recipe_message(name: str, known: Sequence[str] | None = None) -> str:
    """ "unknown recipe 'pdf' (known: ...); did you mean 'pdf_synthetic'?" """
    known = known_recipes() if known is None else list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown recipe '{name}' (known: {', '.join(known)}){hint}"


def record_type(name: str) -> type[QARecord]:
    """The schema of a recipe's records; a ConfigError naming the known recipes otherwise."""
    found = _NAMES.get(name)
    if found is None:
        raise ConfigError(unknown_recipe_message(name))
    return found


def _validate(name: str) -> str:
    # pydantic turns a ValueError (not a ConfigError) into a located validation error.
    if name not in _NAMES:
        raise ValueError(unknown_recipe_message(name))
    return name


# A recipe name in the config: any registered recipe, checked when the config is read.
RecipeName = Annotated[str, AfterValidator(_validate)]
