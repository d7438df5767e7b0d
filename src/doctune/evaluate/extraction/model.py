"""The judge model as a second reader of multiple-choice replies (`evaluate.extraction:
rules+model`).

The rules decide what they can settle (`Extracted.confident`); the rest goes to the judge model
through `ModelClient.structured`, with a schema whose only field is `choice`: one of the item's
letters or "none". Calls are cached like any other, so a rerun asks nothing. A call that fails
leaves the rules' reading in place (and the item is not audited): a reader's failure must not
turn into an answer.

To say how far the rules can be trusted, a seeded sample of the replies they did settle
(`evaluate.extraction_audit` per row) is read by the model too; the row reports how many
replies each path decided and how often the two agreed on the sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from doctune.evaluate.extraction.result import Extracted
from doctune.evaluate.extraction.rules import read_choice
from doctune.foundation.aio import gather_all
from doctune.foundation.evalrecords import EvalItem, ItemResult
from doctune.models.client import CallFailed, ModelClient
from doctune.prompts import PromptTemplate, load_prompt

PROMPT = "choice_extraction"
Mode = Literal["rules", "rules+model"]
# {"choice": "C"} and a little slack for servers that pad structured replies.
REPLY_TOKENS = 64
# Long replies are cut in the middle: the question's context opens them, the answer ends them.
_HEAD_CHARS, _TAIL_CHARS = 1500, 4500


def prompt() -> PromptTemplate:
    return load_prompt(PROMPT)


@lru_cache(maxsize=16)
def choice_schema(letters: str) -> type[BaseModel]:
    """The reply's schema for this letter set: `{"choice": "A".."D" | "none"}`."""
    allowed = Literal[tuple([*letters, "none"])]  # type: ignore[valid-type]
    return create_model(
        "ChoiceExtraction",
        __config__=ConfigDict(extra="forbid"),
        choice=(allowed, Field(description="The letter of the option the reply chose, or none.")),
    )


@dataclass(frozen=True)
class Reading:
    """How one reply was read: the letter, which path decided (the ItemResult's `extraction`)
    and what the rules said."""

    letter: str | None
    extraction: Literal["rules", "model", "cut_off"]
    rules: Extracted


def _clipped(reply: str) -> str:
    if len(reply) <= _HEAD_CHARS + _TAIL_CHARS:
        return reply
    return f"{reply[:_HEAD_CHARS]}\n[...]\n{reply[-_TAIL_CHARS:]}"


class ChoiceReader:
    """Reads replies by the rules, and by the judge model where `mode` says so."""

    def __init__(
        self, judge: ModelClient | None, mode: Mode = "rules+model", audit: int = 0, seed: int = 0
    ) -> None:
        self.judge = judge if mode == "rules+model" else None
        self.audit = audit if self.judge is not None else 0
        self.seed = seed

    async def read(self, item: EvalItem, reply: str, finish_reason: str | None) -> Reading:
        options = item.options or {}
        letters = "".join(sorted(options)) or "ABCD"
        rules = read_choice(reply, letters, options, finish_reason)
        if rules.kind == "cut_off":
            return Reading(None, "cut_off", rules)
        if rules.confident or self.judge is None:
            return Reading(rules.letter, "rules", rules)
        by_model = await self.ask(item, reply)
        if by_model is None:  # the call failed: the rules' reading stands
            return Reading(rules.letter, "rules", rules)
        return Reading(None if by_model == "none" else by_model, "model", rules)

    async def ask(self, item: EvalItem, reply: str) -> str | None:
        """The judge model's choice ("A".., or "none"), or None when its call failed."""
        assert self.judge is not None
        options = item.options or {}
        schema = choice_schema("".join(sorted(options)) or "ABCD")
        messages = prompt().render(
            question=item.question,
            options=sorted(options.items()),
            reply=_clipped(reply).strip() or "(empty reply)",
        )
        outcome: Any = await self.judge.isolated(
            self.judge.structured(messages, schema, temperature=0.0, max_tokens=REPLY_TOKENS)
        )
        if isinstance(outcome, CallFailed) or outcome.value is None:
            return None
        return str(outcome.value.choice)

    def audit_sample(self, results: list[ItemResult]) -> list[ItemResult]:
        """The seeded sample of rule-settled replies to read again (by item id, so the same
        items are audited for every model and on every rerun)."""
        settled = [r for r in results if r.extraction == "rules" and r.excluded is None]

        def rank(r: ItemResult) -> str:
            return hashlib.sha256(f"{self.seed}:{r.item_id}".encode()).hexdigest()

        return sorted(settled, key=rank)[: self.audit]

    async def audited(
        self, results: list[ItemResult], items: dict[str, EvalItem]
    ) -> list[ItemResult]:
        """`results` with `audit_choice` set on the audit sample (the model's own reading)."""
        if not self.audit:
            return results
        sample = self.audit_sample(results)
        choices = await gather_all(self.ask(items[r.item_id], r.answer) for r in sample)
        out = {r.item_id: r for r in results}
        for result, choice in zip(sample, choices, strict=True):
            if choice is not None:
                out[result.item_id] = result.model_copy(update={"audit_choice": choice})
        return [out[r.item_id] for r in results]
