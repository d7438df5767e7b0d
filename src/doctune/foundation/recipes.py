"""The names of the dataset recipes, for the config to check before any stage runs.

What a recipe does lives in `doctune.generation.recipes` (the registry the stages ask); the config
sits below every stage and cannot import it, so the names it accepts are kept here. Registering a
recipe there names it here too (`describe`), and a test checks the built-in names agree.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator

BUILTIN_RECIPES: tuple[str, ...] = ("pdf_synthetic", "knowledge_distillation")

_NAMES: dict[str, None] = dict.fromkeys(BUILTIN_RECIPES)


def describe(name: str) -> None:
    """Make a recipe name known to the config."""
    _NAMES[name] = None


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


def _validate(name: str) -> str:
    # pydantic turns a ValueError (not a ConfigError) into a located validation error.
    if name not in _NAMES:
        raise ValueError(unknown_recipe_message(name))
    return name


# A recipe name in the config: any registered recipe, checked when the config is read.
RecipeName = Annotated[str, AfterValidator(_validate)]
