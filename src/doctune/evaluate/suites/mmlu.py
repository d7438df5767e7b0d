"""MMLU (forgetting): lm-evaluation-harness's prompts and scoring, from a local MMLU folder; the
suite is skipped, with a line saying so, when none is configured."""

from __future__ import annotations

from doctune.context import RunContext
from doctune.evaluate import mmlu
from doctune.evaluate.base import Suite
from doctune.evaluate.suites.base import Items, SuiteEnv, SuiteKind
from doctune.foundation.suites import SuiteInfo


class MMLUKind(SuiteKind):
    def __init__(self, info: SuiteInfo) -> None:
        self.info = info

    def items(self, ctx: RunContext) -> Items | str:
        settings = ctx.config.evaluate.mmlu
        reason = mmlu.skip_reason(settings)
        if reason is not None:
            return reason
        found = mmlu.load_items(settings)
        return {None: found} if found else {}

    def runner(self, env: SuiteEnv) -> Suite:
        return mmlu.MMLUSuite(env.ctx.config.evaluate.mmlu, reader=env.reader)
