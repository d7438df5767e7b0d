"""What the rules read from a reply, and the letters they weigh on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["letter", "none", "cut_off", "ambiguous"]
Role = Literal["commit", "reject", "hypothetical", "mention"]


@dataclass(frozen=True)
class Extracted:
    """The letter (None unless `kind` is "letter"), what kind of reply it was, whether the
    rules are sure, and which rule decided (kept in the answer files for a reader)."""

    letter: str | None
    kind: Kind
    confident: bool
    rule: str


@dataclass(frozen=True)
class Candidate:
    """One option letter (or option text) in a reply and what the reply does with it."""

    letter: str
    start: int
    end: int
    role: Role = "mention"
    strength: int = 0  # 2 a statement, 1 a hedge or a verdict line
    revises: bool = False  # introduced by a correction
    leading: bool = False  # the reply opens with it ("C) ..."): a later statement outranks it
    whole: bool = False  # an option named by its whole text, not only the head of it
