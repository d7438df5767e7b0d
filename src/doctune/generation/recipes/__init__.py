"""The recipe registry: name -> Recipe. A new recipe is one module with a `Recipe` subclass and
one `register` line below; synthesize runs it, the dry run prices it, curate and evalsets plan
with it, and the config accepts its name."""

from __future__ import annotations

from doctune.foundation import recipes as names
from doctune.foundation.errors import ConfigError
from doctune.generation.recipes.base import IsCached, Recipe
from doctune.generation.recipes.knowledge_distillation import KnowledgeDistillation
from doctune.generation.recipes.pdf_synthetic import PdfSynthetic

__all__ = ["IsCached", "Recipe", "get_recipe", "register", "registered", "unregister"]

_REGISTRY: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add a recipe (its name becomes valid in the config); a name taken twice is a bug."""
    if recipe.name in _REGISTRY:
        raise ValueError(f"recipe '{recipe.name}' is registered twice")
    _REGISTRY[recipe.name] = recipe
    names.describe(recipe.name, recipe.record_type)
    return recipe


def unregister(name: str) -> None:
    """Remove a recipe (a test's toy recipe, after the test)."""
    _REGISTRY.pop(name, None)
    names.forget(name)


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; a ConfigError naming the known ones otherwise."""
    recipe = _REGISTRY.get(name)
    if recipe is None:
        raise ConfigError(names.unknown_recipe_message(name, registered()))
    return recipe


def registered() -> list[str]:
    return list(_REGISTRY)


register(PdfSynthetic())
register(KnowledgeDistillation())
