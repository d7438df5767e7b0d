"""The `mmlu` suite: catastrophic forgetting on MMLU subjects read from a local folder.

The folder has the original layout, `<dir>/{dev,val,test}/<subject>_{dev,val,test}.csv`, no
header, columns question, A, B, C, D, answer letter. MMLU's text is not ours to ship and nothing
is downloaded: the folder comes from `evaluate.mmlu.dir` or `$MMLU_DIR`, and without either the
suite is skipped with one line saying so (`skip_reason`).

Prompts are lm-evaluation-harness's MMLU default (doctune.evaluate.mmlu_prompt), so the numbers can
be set beside published ones. Two scorings:
- generate (any chat model): the prompt as one user message, the letter read from the reply;
- loglikelihood (`hf:` models): " A".." D" scored after the prompt without a chat template, the
  argmax chosen, exactly as the harness does for a base model (see `doctune.models.loglik`);
  every item is sent at once, longest first, and the backend scores them in padded batches
  (the same sums within 1e-5 as one at a time).
"""

from __future__ import annotations

import asyncio
import csv
import os
from pathlib import Path
from typing import Any, Literal

from doctune.evaluate.answer import AnswerFailed, answer_failed, fit_to, not_sent, user_prompt
from doctune.evaluate.extraction.model import ChoiceReader
from doctune.evaluate.mmlu_prompt import (
    LETTERS,
    MMLUQuestion,
    build_prompt,
    description,
    format_question,
    format_shot,
    item_prompt,
    prompt_layout,
)
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.evalrecords import EvalItem, ItemResult, Variant
from doctune.models.client import CallFailed, ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.loglik import argmax_first
from doctune.models.spec import capabilities
from doctune.models.usage import cost_of

SPLITS = ("dev", "val", "test")
Scoring = Literal["generate", "loglikelihood"]
# Where a generated answer ends. lm-evaluation-harness's generative MMLU stops at "</s>" and at
# the first newline (its flan variants add "Q:" and "<|im_end|>"); here the reply is read as free
# text, so it may give a one-line reason, and it stops where the prompt's pattern would go on: the
# few-shot delimiter (a blank line, then the next question), a "Question:" in the pattern's
# style, and the end-of-turn markers. Four is the most OpenAI's API accepts.
GENERATE_STOP = ("</s>", "<|im_end|>", "\n\n", "Question:")
# Scored after the prompt; the leading space keeps each letter one token, as in the harness.
CONTINUATIONS = [f" {letter}" for letter in LETTERS]
# Log-likelihood calls awaiting the backend at once: more than any batch, fewer than a subject.
LOGLIK_IN_FLIGHT = 64
_COLUMNS = "question, A, B, C, D, answer"


# -- where the data is ------------------------------------------------------------------------
def mmlu_dir(settings: MMLUSettings) -> Path | None:
    """The configured MMLU folder: `evaluate.mmlu.dir`, else `$MMLU_DIR`, else None (skip)."""
    value = settings.dir or os.environ.get("MMLU_DIR")
    return Path(value).expanduser() if value else None


def skip_reason(settings: MMLUSettings) -> str | None:
    """One line explaining why the suite is skipped, or None when it runs."""
    if mmlu_dir(settings) is not None:
        return None
    return (
        "mmlu: skipped, no MMLU folder: set MMLU_DIR or evaluate.mmlu.dir to a copy in the "
        "original layout ({dev,val,test}/<subject>_<split>.csv); doctune ships and downloads none"
    )


def split_path(root: Path, split: str, subject: str) -> Path:
    return root / split / f"{subject}_{split}.csv"


def find_subjects(root: Path) -> list[str]:
    """Every subject with a test file, sorted."""
    test_dir = root / "test"
    if not test_dir.is_dir():
        raise InputError(f"{test_dir}: MMLU test folder not found")
    return sorted(p.name[: -len("_test.csv")] for p in test_dir.glob("*_test.csv"))


# -- reading ----------------------------------------------------------------------------------
def read_split(path: Path) -> list[MMLUQuestion]:
    """Rows of one MMLU CSV. Quoted fields may hold commas, quotes and newlines (the csv module
    reads them); answers are stripped and upper-cased ("c " is "C"); anything else malformed is
    an InputError naming the file and line."""
    if not path.is_file():
        raise InputError(f"{path}: MMLU file not found")
    rows: list[MMLUQuestion] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InputError(f"{path}:{start}: malformed CSV ({exc})") from None
            line, start = start, reader.line_num + 1
            if not row:  # a blank line between records
                continue
            rows.append(_question(row, path, line))
    return rows


def _question(row: list[str], path: Path, line: int) -> MMLUQuestion:
    if len(row) != 6:
        raise InputError(f"{path}:{line}: expected 6 columns ({_COLUMNS}), found {len(row)}")
    answer = row[5].strip().upper()
    if answer not in LETTERS or len(answer) != 1:
        raise InputError(f"{path}:{line}: answer must be one of A, B, C, D, found {row[5]!r}")
    return MMLUQuestion(
        question=row[0],
        choices=(row[1], row[2], row[3], row[4]),
        answer=answer,
        source=str(path),
        line=line,
    )


# -- items ------------------------------------------------------------------------------------
def load_items(settings: MMLUSettings) -> list[EvalItem]:
    """The suite's items: per subject, the first `max_questions_per_subject` test questions,
    each with the first `few_shot` dev questions as examples (the harness's first_n sampler)."""
    root = mmlu_dir(settings)
    if root is None:
        raise ConfigError(skip_reason(settings) or "mmlu: no MMLU folder")
    if not root.is_dir():
        raise InputError(f"{root}: MMLU folder not found")
    subjects = settings.subjects or find_subjects(root)
    if not subjects:
        raise InputError(f"{root / 'test'}: no <subject>_test.csv files")
    items: list[EvalItem] = []
    for subject in subjects:
        questions = read_split(split_path(root, "test", subject))
        shots = _shots(root, subject, settings.few_shot)
        for index, question in enumerate(questions[: settings.max_questions_per_subject]):
            items.append(
                EvalItem(
                    id=f"mmlu/{subject}/{index}",
                    suite="mmlu",
                    question=question.question.strip(),
                    options=dict(zip(LETTERS, question.choices, strict=True)),
                    answer=question.answer,
                    meta={
                        "subject": subject,
                        "prompt": build_prompt(subject, question, shots),
                        "few_shot": len(shots),
                        # The parts, so a prompt too long for a model can drop examples.
                        "description": description(subject),
                        "shots": [format_shot(s) for s in shots],
                        "question_text": format_question(question),
                        "source": f"{question.source}:{question.line}",
                    },
                )
            )
    return items


def _shots(root: Path, subject: str, k: int) -> list[MMLUQuestion]:
    if k == 0:
        return []
    path = split_path(root, "dev", subject)
    dev = read_split(path)
    if len(dev) < k:
        raise InputError(f"{path}: {len(dev)} examples, evaluate.mmlu.few_shot asks for {k}")
    return dev[:k]


# -- scoring ----------------------------------------------------------------------------------
class MMLUSuite:
    """Accuracy on MMLU questions; see the module docstring for the two scorings.

    Retrieval does not apply: MMLU measures what the model kept of general knowledge, and
    passages from the domain documents would only blur that. A `rag` variant is answered like
    `plain` and labelled as asked; the stage is expected to run this suite plain only.
    """

    name = "mmlu"

    def __init__(
        self, settings: MMLUSettings, *, max_tokens: int = 64, reader: ChoiceReader | None = None
    ) -> None:
        self.settings = settings
        # Enough for "The answer is C." and a short reason; the letter is read from free text.
        self.max_tokens = max_tokens
        self.reader = reader or ChoiceReader(None, "rules")

    def scoring_for(self, spec: str) -> Scoring:
        if self.settings.scoring == "auto":
            return "loglikelihood" if capabilities(spec).loglikelihood else "generate"
        return self.settings.scoring

    async def evaluate(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]:
        if self.scoring_for(model.spec) == "loglikelihood":
            return await self._by_loglikelihood(model, client, items, variant)
        out = list(
            await asyncio.gather(*(self._generate(model, client, i, variant) for i in items))
        )
        client.raise_if_down()  # every call failed: the endpoint's error, not a table of exclusions
        return await self.reader.audited(out, {i.id: i for i in items})

    async def _generate(
        self, model: ModelRef, client: ModelClient, item: EvalItem, variant: Variant
    ) -> ItemResult:
        asked = fit_to(client, prompt_layout(item), self.max_tokens)
        if asked.excluded is not None:
            return not_sent(self.name, item, model, variant, asked)
        prompt = user_prompt(asked.messages)
        outcome = await client.isolated(
            client.chat(
                asked.messages, temperature=0.0, max_tokens=asked.max_tokens, stop=GENERATE_STOP
            )
        )
        if isinstance(outcome, CallFailed):
            failed = AnswerFailed(asked, outcome.reason)
            return answer_failed(self.name, item, model, variant, failed)
        response = outcome
        reading = await self.reader.read(item, response.text, response.finish_reason)
        letter = reading.letter
        # A reply with no readable letter is wrong, not excluded: a model that no longer answers
        # the format has forgotten something too, and excluding it would flatter the score.
        return _result(
            model,
            item,
            variant,
            prompt,
            answer=response.text,
            letter=letter,
            extraction=reading.extraction,
            cut_off=response.finish_reason == "length",
            fitting=asked.fitting,
            latency_s=response.latency_s,
            prompt_tokens=response.usage.prompt_tokens,
            completion_tokens=response.usage.completion_tokens,
            cost_usd=cost_of(client.settings, response),
        )

    async def _by_loglikelihood(
        self, model: ModelRef, client: ModelClient, items: list[EvalItem], variant: Variant
    ) -> list[ItemResult]:
        if not capabilities(model.spec).loglikelihood:
            raise ConfigError(
                "evaluate.mmlu.scoring: loglikelihood needs an in-process hf: model (a backend "
                f"that scores continuations); {model.spec} is not one (use scoring: generate)"
            )
        # Every item in flight at once, longest prompt first: the backend pads concurrent
        # requests into batches (doctune.models.hf_loglik), and similar lengths waste little on
        # padding. The client runs each call in a worker thread, so the thread pool bounds how
        # many meet in one batch; the semaphore only keeps the queue of pending tasks short.
        gate = asyncio.Semaphore(LOGLIK_IN_FLIGHT)

        async def score(item: EvalItem) -> ItemResult:
            async with gate:
                scored = await client.loglikelihoods(item_prompt(item), CONTINUATIONS)
            letter = LETTERS[argmax_first(scored.logprobs)]
            return _result(
                model,
                item,
                variant,
                item_prompt(item),
                answer=letter,
                letter=letter,
                fitting=[f"cut {scored.cut} tokens from the left"] if scored.cut else [],
                latency_s=scored.latency_s,
                prompt_tokens=scored.prompt_tokens,
            )

        order = sorted(range(len(items)), key=lambda i: -len(item_prompt(items[i])))
        scored = await asyncio.gather(*(score(items[i]) for i in order))
        results: list[ItemResult | None] = [None] * len(items)
        for i, result in zip(order, scored, strict=True):
            results[i] = result
        return [r for r in results if r is not None]


def _result(
    model: ModelRef,
    item: EvalItem,
    variant: Variant,
    prompt: str,
    *,
    answer: str,
    letter: str | None,
    **usage: Any,
) -> ItemResult:
    correct = letter is not None and letter == item.answer
    reference = item.answer
    if item.answer and item.options:
        reference = f"{item.answer}. {item.options.get(item.answer, '')}"
    return ItemResult(
        item_id=item.id,
        suite="mmlu",
        variant=variant,
        model=model.label,
        spec=model.spec,
        question=item.question,
        prompt=prompt,
        reference=reference,
        answer=answer,
        scores={"correct": 1.0 if correct else 0.0},
        extracted=letter,
        **usage,
    )
