"""Command-line flags generated from pydantic models, so a setting is written once: its type,
bounds, choices and help come from the config field (or the stage option) that holds it.

Every generated flag defaults to None, "not given": the config's value then stands, and the
stage's model validates what was given exactly as it validates the YAML.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal

import annotated_types
import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _unwrap_optional(annotation: Any) -> Any:
    """`X | None` as X; any other annotation as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """The field's numeric bounds as click range arguments."""
    bounds: dict[str, Any] = {}
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            bounds["min"] = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            bounds.update(min=meta.gt, min_open=True)
        elif isinstance(meta, annotated_types.Le):
            bounds["max"] = meta.le
        elif isinstance(meta, annotated_types.Lt):
            bounds.update(max=meta.lt, max_open=True)
    return bounds


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def click_type(field: FieldInfo) -> click.ParamType:
    """Choices for a Literal, a range for a bounded number, else the plain type."""
    annotation = _unwrap_optional(field.annotation)
    if typing.get_origin(annotation) is Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)])
    bounds = _bounds(field)
    if annotation is int:
        if bounds.pop("min_open", False):  # an integer above n is one of at least n + 1
            bounds["min"] += 1
        if bounds.pop("max_open", False):
            bounds["max"] -= 1
        return click.IntRange(**bounds) if bounds else click.INT
    if annotation is float:
        return click.FloatRange(**bounds) if bounds else click.FLOAT
    if annotation is str or _is_list(annotation):  # a list is given comma-separated
        return click.STRING
    raise TypeError(f"no command-line flag for a field of type {annotation!r}")


def field_flag(name: str, field: FieldInfo, section: str | None = None) -> Decorator:
    """One `--kebab-name` option for the field `name`, its help the field's description (and
    which config key it overrides, for a field of the config's `section`)."""
    flag = "--" + name.replace("_", "-")
    help_text = field.description or ""
    if section:
        help_text += f" (default: {section}.{name} of the config)"
    if _is_list(_unwrap_optional(field.annotation)):
        help_text = f"Comma-separated. {help_text}"
    if _unwrap_optional(field.annotation) is bool:
        if field.default is False:  # off unless given: the flag alone turns it on
            return click.option(flag, name, is_flag=True, default=None, help=help_text)
        # Both spellings, so a flag can turn off what the config turns on.
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
    return click.option(flag, name, type=click_type(field), default=None, help=help_text)


def model_flags(
    model: type[BaseModel],
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
    section: str | None = None,
) -> Decorator:
    """A decorator adding one flag per field of `model` (those in `only`, less `exclude`);
    `section` names where `model` sits in the config, when its flags override config keys."""
    wanted = set(model.model_fields if only is None else only) - set(exclude)
    fields = model.model_fields.items()
    decorators = [field_flag(n, f, section) for n, f in fields if n in wanted]

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


def given(values: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Take the flags of `model`'s fields out of a command's keyword arguments: those given."""
    taken = {name: values.pop(name) for name in model.model_fields if name in values}
    return {name: value for name, value in taken.items() if value is not None}
