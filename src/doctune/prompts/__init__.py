"""Prompt templates are versioned data: one YAML file each (name, version, system, user as Jinja),
and the hash of the file goes into every record and report made with it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from doctune.models.base import Message

_DIR = Path(__file__).parent
_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    user: str
    hash: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> list[Message]:
        """System and user messages; a missing variable is an error, not an empty string."""
        messages = []
        system = _compiled(self.system).render(**variables).strip()
        if system:
            messages.append(Message(role="system", content=system))
        user = _compiled(self.user).render(**variables).strip()
        messages.append(Message(role="user", content=user))
        return messages


@cache
def _compiled(source: str) -> jinja2.Template:
    # Compiling costs ~1 ms; a stage renders the same template thousands of times.
    return _ENV.from_string(source)


@cache
def load_prompt(name: str) -> PromptTemplate:
    path = _DIR / f"{name}.yaml"
    raw_bytes = path.read_bytes()
    data = yaml.load(raw_bytes, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return PromptTemplate(
        name=data["name"],
        version=str(data["version"]),
        system=data.get("system", ""),
        user=data["user"],
        hash=hashlib.sha256(raw_bytes).hexdigest()[:16],
    )
