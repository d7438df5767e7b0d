"""The suite interface: what a kind of suite must say so the stage can plan, run, price and
label it without knowing its name.

A `SuiteKind` describes itself (`info`: column, metric, rows and variants, as data the report
reads too), finds its items in the artifacts, and builds the runner that turns a model into
per-item results. `messages` and `template` are optional: a suite that asks through the shared
`Asker` returns them so the dry run can price its calls and every row names its prompt.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from doctune.context import RunContext
from doctune.evaluate.answer import Asker
from doctune.evaluate.base import Suite
from doctune.evaluate.extraction.model import ChoiceReader
from doctune.evaluate.judge import Judge
from doctune.foundation.evalrecords import EvalItem, Variant
from doctune.foundation.suites import SuiteInfo
from doctune.models.base import Message
from doctune.prompts import PromptTemplate

# Items per QA dataset (None for suites without datasets), or why there are none to ask.
Items = dict[str | None, list[EvalItem]]


@dataclass
class SuiteEnv:
    """What a runner may use, made only when a suite asks for it: judges and a letter reader
    each make a model client, which for a local judge means loading it."""

    ctx: RunContext
    asker: Asker
    on_item: Callable[[], None]
    stage: str = "evaluate"

    @cached_property
    def judges(self) -> list[Judge]:
        judges = [Judge(self.ctx.client("judge", self.stage))]
        second = self.ctx.config.evaluate.second_judge
        if second:
            judges.append(Judge(self.ctx.client_for_spec(second, self.stage)))
        return judges

    @cached_property
    def reader(self) -> ChoiceReader:
        """How multiple-choice replies are read: with `rules+model`, the judge model decides the
        replies the rules cannot settle and reads a sample of the others (the agreement line)."""
        cfg = self.ctx.config.evaluate
        judge = self.ctx.client("judge", self.stage) if cfg.extraction == "rules+model" else None
        return ChoiceReader(judge, cfg.extraction, cfg.extraction_audit, cfg.seed)


class SuiteKind(abc.ABC):
    """One suite: its description, its items, its runner."""

    info: SuiteInfo

    @abc.abstractmethod
    def items(self, ctx: RunContext) -> Items | str:
        """The items per dataset, or one line saying why the suite is skipped."""

    @abc.abstractmethod
    def runner(self, env: SuiteEnv) -> Suite:
        """The object that answers and scores this suite's items for one model."""

    def messages(self, asker: Asker, item: EvalItem, variant: Variant) -> list[Message] | None:
        """The answering prompt of an item, for the dry run; None: priced apart (MMLU)."""
        return None

    def template(self) -> PromptTemplate | None:
        """The template items are asked with (named on every score row); None: in code."""
        return None
