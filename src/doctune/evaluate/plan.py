"""What an evaluation run will do: which models, suites, items and variants, as plain data.

The stage runs the plan and the dry run prices the same plan, so the two never disagree about
what "evaluate" means for a project.

Which rows exist:
- every model (base students, fine-tuned runs, baselines) answers the quizzes (and MMLU);
- base models and baselines answer the QA suites of every dataset; a fine-tuned model answers
  those of the dataset it was trained on (the table's rows are model x dataset);
- a fine-tuned model whose base model was not selected gets it added: before/after is the
  point of the table, and the base's answers are cached for the next run anyway.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from doctune.context import RunContext
from doctune.evaluate.answer import Asker
from doctune.evaluate.items import qa_datasets
from doctune.evaluate.rag import Retriever, embedding_model_path
from doctune.evaluate.suites import suite_kind
from doctune.foundation.artifacts import load_chunks
from doctune.foundation.config.options import EvaluateOptions
from doctune.foundation.errors import ConfigError
from doctune.foundation.evalrecords import EvalItem, SuiteScore, Variant
from doctune.foundation.jsonl import read_json, write_json
from doctune.foundation.suites import find_suite, known_suites, suite_info
from doctune.models.experiments import ExperimentTable, ModelRef, resolve_models
from doctune.models.grid import students_for

STAGE = "evaluate"
SCORES_NAME = "scores.jsonl"


@dataclass(frozen=True)
class Job:
    """One model on one suite, dataset and variant."""

    model: ModelRef
    suite: str
    dataset: str | None
    variant: Variant
    items: list[EvalItem]


@dataclass
class Plan:
    models: list[ModelRef]
    suites: list[str]
    variants: list[Variant]
    items: dict[str, dict[str | None, list[EvalItem]]]
    notes: list[str] = field(default_factory=list)

    def jobs(self) -> list[Job]:
        out: list[Job] = []
        for model in self.models:
            for suite in self.suites:
                for dataset, items in self.items.get(suite, {}).items():
                    if not _asks(model, suite, dataset):
                        continue
                    plain_only = suite_info(suite).plain_only
                    variants: list[Variant] = ["plain"] if plain_only else self.variants
                    for variant in variants:
                        out.append(Job(model, suite, dataset, variant, items))
        return out

    def items_by_id(self, suite: str) -> dict[str, EvalItem]:
        return {i.id: i for items in self.items.get(suite, {}).values() for i in items}


def _asks(model: ModelRef, suite: str, dataset: str | None) -> bool:
    if suite_info(suite).per_dataset and model.kind == "finetuned" and model.dataset:
        return dataset == model.dataset
    return True


def selected_suites(ctx: RunContext) -> list[str]:
    suites = ctx.stage_options(EvaluateOptions).suites or list(ctx.config.evaluate.suites)
    unknown = [s for s in suites if find_suite(s) is None]
    if unknown:
        known = ", ".join(known_suites())
        raise ConfigError(f"unknown suite(s) {', '.join(unknown)} (suites: {known})")
    return list(dict.fromkeys(suites))


def students(ctx: RunContext) -> list[str]:
    override = ctx.overrides.get("student") or os.environ.get("DOCTUNE_STUDENT") or None
    return students_for(ctx.config.train, ctx.spec("student"), override)


SELECTION_NAME = "selection.json"


def previous_scores(ctx: RunContext, suite: str) -> dict[str, float] | None:
    """Experiment id -> mean score on `suite`, for `select_by: <suite>`: read from a file every
    run adds to (never from scores.jsonl, which holds only the last run's models, so a partial
    run would make the choice fall back to validation loss and flip)."""
    path = ctx.out_dir / STAGE / SELECTION_NAME
    if suite == "validation_loss" or not path.is_file():
        return None
    data = read_json(path)
    return dict(data.get(suite, {})) or None if isinstance(data, dict) else None


def remember_scores(ctx: RunContext, rows: list[SuiteScore]) -> None:
    """Add this run's plain-variant means of fine-tuned models, per suite, to the selection file."""
    path = ctx.out_dir / STAGE / SELECTION_NAME
    data: dict[str, dict[str, float]] = read_json(path) if path.is_file() else {}  # type: ignore[assignment]
    fresh: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row.variant == "plain" and row.experiment and row.mean is not None:
            fresh.setdefault((row.suite, row.experiment), []).append(row.mean)
    for (suite, experiment), means in fresh.items():
        data.setdefault(suite, {})[experiment] = sum(means) / len(means)
    write_json(path, data)


def resolve(ctx: RunContext) -> list[ModelRef]:
    """The models to evaluate, in order: selected ones (bases added), then the baselines."""
    cfg = ctx.config.evaluate
    table = ExperimentTable.from_artifacts(ctx.out_dir, ctx.inputs("experiments", stage="train"))
    names = ctx.stage_options(EvaluateOptions).models or list(cfg.models)
    learners = students(ctx)
    datasets = list(dict.fromkeys([*ctx.config.train.datasets, *qa_datasets(ctx)]))
    scores = previous_scores(ctx, cfg.select_by)
    models = resolve_models(names, table, learners, datasets, scores=scores)
    bases = {m.spec for m in models if m.kind == "base"}
    for model in list(models):
        if model.kind == "finetuned" and model.base and model.base not in bases:
            base = ModelRef(
                label=f"{model.base} (base)", spec=model.base, kind="base", base=model.base
            )
            models.insert(models.index(model), base)
            bases.add(model.base)
    taken = {m.spec for m in models}
    for extra in resolve_models(list(cfg.baselines), table, learners, datasets):
        if extra.spec not in taken:
            models.append(dataclasses.replace(extra, kind="baseline", base=None))
            taken.add(extra.spec)
    return models


def build_plan(ctx: RunContext) -> Plan:
    """Models x suites x items x variants; suites without inputs are noted and left out."""
    cfg = ctx.config.evaluate
    plan = Plan(
        models=resolve(ctx), suites=[], variants=list(dict.fromkeys(cfg.variants)), items={}
    )
    for suite in selected_suites(ctx):
        found = suite_kind(suite).items(ctx)
        if isinstance(found, str):  # why the suite cannot run here (MMLU without a folder)
            plan.notes.append(found)
            continue
        if not any(found.values()):
            source = suite_info(suite).source
            plan.notes.append(f"{suite}: skipped: no {source} to ask (run the earlier stages)")
            continue
        plan.items[suite] = found
        plan.suites.append(suite)
    return plan


def make_asker(ctx: RunContext, plan: Plan) -> Asker:
    cfg = ctx.config.evaluate
    retriever = None
    if "rag" in plan.variants:
        chunks = load_chunks(ctx, needed_for="the rag variant retrieves from them")
        model_path = embedding_model_path(cfg.rag.embedding_model) if cfg.rag.embeddings else None
        retriever = Retriever(chunks, embeddings=cfg.rag.embeddings, model_path=model_path)
        if retriever.hybrid:
            retriever.warm(i.question for s in plan.items.values() for v in s.values() for i in v)
    return Asker(
        system_prompt=ctx.config.export.system_prompt,
        max_tokens=cfg.answer_max_tokens,
        retriever=retriever,
        k=cfg.rag.k,
    )
