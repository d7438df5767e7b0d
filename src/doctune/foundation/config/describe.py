"""Every config field as a user reads it: dotted path, type, default and description, for
`doctune config [SECTION]` (and for the test that no field goes without a description)."""

from __future__ import annotations

import difflib
import enum
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from doctune.foundation.errors import ConfigError


@dataclass(frozen=True)
class FieldDoc:
    path: str  # "train.distributed.num_processes"; "[]" for a list's items, "<key>" a dict's
    type: str
    default: str
    description: str


def type_name(annotation: Any) -> str:
    """`int`, `str | None`, `'lora' | 'qlora'`, `list[float]`, `dict[str, ModelSettings]`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:  # a validated type reads as the type it validates
        return type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(map(type_name, args))}]"
    if annotation is type(None):
        return "None"
    if annotation is SecretStr:
        return "secret str"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(field: FieldInfo) -> str:
    """ " > 0", " >= 0, < 1": the field's bounds, as the type column shows them."""
    marks = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "max_length": "length <="}
    found = [
        f"{sign} {getattr(meta, key)}"
        for meta in field.metadata
        for key, sign in marks.items()
        if getattr(meta, key, None) is not None
    ]
    return f" ({', '.join(found)})" if found else ""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, enum.Enum):
        value = value.value
    return repr(value)


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """Config models a field holds: itself, a list's items ("[]"), a dict's values ("<key>")."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return [found for a in args for found in _models_in(a)]
    if origin is list and args:
        return [("[]" + suffix, m) for suffix, m in _models_in(args[0])]
    if origin is dict and len(args) == 2:
        return [(".<key>" + suffix, m) for suffix, m in _models_in(args[1])]
    return []


def fields_of(model: type[BaseModel], prefix: str = "") -> list[FieldDoc]:
    """Every field of `model` and of the sections it holds, depth first, in declaration order."""
    docs: list[FieldDoc] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        kind = type_name(field.annotation) + _constraints(field)
        docs.append(FieldDoc(path, kind, _default(field), field.description or ""))
        for suffix, inner in _models_in(field.annotation):
            docs.extend(fields_of(inner, f"{path}{suffix}."))
    return docs


def describe(model: type[BaseModel], section: str | None = None) -> list[FieldDoc]:
    """The fields under `section` ("train", "train.distributed"), or all of them."""
    docs = fields_of(model)
    if not section:
        return docs
    wanted = section.strip(".")
    chosen = [d for d in docs if d.path == wanted or d.path.startswith(wanted + ".")]
    if not chosen:
        close = difflib.get_close_matches(wanted, [d.path for d in docs], n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        known = ", ".join(dict.fromkeys(d.path.split(".")[0] for d in docs))
        raise ConfigError(f"unknown config section '{section}' ({hint}sections: {known})")
    return chosen
