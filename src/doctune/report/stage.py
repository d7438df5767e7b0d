"""The report stage: scores (and answers, experiments, dataset statistics, usage) in; index.html,
report.md, results.csv and plots out, all under `out/report/`.

It calls no model. Everything it reads beyond the scores is part of its fingerprint, so a new
training log or a later stage's cost redoes the report, and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doctune.context import USAGE_NAME, RunContext
from doctune.foundation.config import ROLES
from doctune.foundation.evalrecords import ItemResult, SuiteScore
from doctune.foundation.jsonl import atomic_write_text, read_json, read_jsonl
from doctune.foundation.manifest import Artifact, file_sha256
from doctune.foundation.results import StageResult
from doctune.foundation.suites import all_suites
from doctune.models.experiments import ExperimentRow, ExperimentTable
from doctune.report import counts, sections
from doctune.report.logs import LossCurve, find_curves, log_candidates
from doctune.report.plots import Plot, loss_plot, score_plots
from doctune.report.render import ReportData, render_html, render_markdown
from doctune.report.smoke import smoke_reason
from doctune.report.tables import build_results_table, results_csv

STAGE = "report"
PLOT_DIR = "plots"


@dataclass
class ReportInputs:
    """What the report is made of, read from an output folder (or built by hand in a notebook)."""

    scores: list[SuiteScore]
    answers: list[ItemResult] = field(default_factory=list)
    experiments: list[ExperimentRow] = field(default_factory=list)
    curves: list[LossCurve] = field(default_factory=list)
    stats: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    smoke: str = ""  # why this is a smoke run; "" for a real one


def run_specs(
    ctx: RunContext, scores: list[SuiteScore], experiments: list[ExperimentRow]
) -> list[str]:
    """Every model the run used: the roles, the evaluated models, the experiments' students."""
    specs = [ctx.spec(role) for role in ROLES]
    specs += [s.spec for s in scores] + [r.student for r in experiments]
    return list(dict.fromkeys(specs))


def run_smoke_reason(
    ctx: RunContext, scores: list[SuiteScore], experiments: list[ExperimentRow]
) -> str:
    return smoke_reason(
        ctx.config.report.smoke, run_specs(ctx, scores, experiments), ctx.project_dir
    )


def read_inputs(ctx: RunContext) -> ReportInputs:
    scores = [s for a in ctx.inputs("scores") for s in read_jsonl(ctx.path(a), SuiteScore)]
    answers = [r for a in _answer_files(ctx) for r in read_jsonl(ctx.path(a), ItemResult)]
    experiments = sorted(_experiments(ctx).rows.values(), key=lambda r: r.id)
    stats_files = ctx.inputs("stats", stage="export")
    stats = read_json(ctx.path(stats_files[0])) if stats_files else None
    return ReportInputs(
        scores=scores,
        answers=answers,
        experiments=experiments,
        curves=find_curves(ctx.out_dir, ctx.inputs("training_log"), experiments),
        stats=stats if isinstance(stats, dict) else None,
        usage=_usage(ctx.out_dir),
        smoke=run_smoke_reason(ctx, scores, experiments),
    )


def _experiments(ctx: RunContext) -> ExperimentTable:
    return ExperimentTable.from_artifacts(ctx.out_dir, ctx.inputs("experiments", stage="train"))


def _answer_files(ctx: RunContext) -> list[Artifact]:
    # Only the answer files of sampled suites are read (named `<suite>[.<dataset>][.rag].jsonl`
    # by the evaluate stage): an MMLU run holds thousands of answers per model, read for nothing.
    return [
        a
        for a in ctx.inputs("answers")
        if ctx.path(a).is_file() and Path(a.path).name.split(".")[0] in sections.sample_suites()
    ]


def _usage(out_dir: Path) -> dict[str, Any]:
    """usage.json without the report's own entry (it makes no calls; it must not hash itself)."""
    path = out_dir / USAGE_NAME
    data = read_json(path) if path.is_file() else {}
    return {k: v for k, v in data.items() if k != STAGE} if isinstance(data, dict) else {}


def build_report(
    inputs: ReportInputs, folder: Path, *, title: str, project: str, samples: int
) -> ReportData:
    """Tables, plots (written into `folder`/plots) and sections, ready for the templates."""
    table = build_results_table(inputs.scores)
    plot_folder = folder / PLOT_DIR
    plots: list[Plot] = score_plots(table, plot_folder)
    loss = loss_plot(inputs.curves, plot_folder)
    if loss is not None:
        plots.append(loss)
    return ReportData(
        title=title,
        project=project,
        table=table,
        plots=plots,
        samples=sections.sample_groups(inputs.scores, inputs.answers, samples),
        datasets=sections.dataset_rows(inputs.stats),
        token_note=sections.token_note(inputs.stats),
        experiments=sections.experiment_rows(inputs.experiments),
        costs=sections.costs(inputs.usage, inputs.experiments),
        notes=_notes(inputs),
        smoke=inputs.smoke,
    )


def _notes(inputs: ReportInputs) -> list[str]:
    """What is missing from the report and why, so an empty section is never a mystery."""
    notes = []
    suites = {s.suite for s in inputs.scores}
    notes += [s.absent_note for s in all_suites() if s.absent_note and s.name not in suites]
    if not inputs.answers:
        notes.append("No per-item answers were found: no sample answers.")
    trained = [r for r in inputs.experiments if r.status == "succeeded"]
    if trained and not inputs.curves:
        notes.append("No training logs were found under out/train/: no loss curves.")
    if not any(s.kind == "finetuned" for s in inputs.scores):
        notes.append("No fine-tuned model was evaluated: there is no before/after to compare.")
    excluded = sum(s.excluded for s in inputs.scores)
    if excluded:
        kinds: dict[str, int] = {}
        for s in inputs.scores:
            for kind, k in s.exclusions.items():
                kinds[kind] = kinds.get(kind, 0) + k
        why = ", ".join(f"{k} {counts.exclusion_label(kind)}" for kind, k in kinds.items())
        notes.append(
            f"{excluded} items were not measured and are left out of the means"
            + (f" ({why})" if why else "")
            + "; each cell says how many and why."
        )
    return notes


def default_title(name: str, smoke: bool) -> str:
    """A smoke run's title makes no claim its noise could not back."""
    if smoke:
        return f"{name}: smoke run (the pipeline end to end; scores are noise)"
    return f"{name}: did fine-tuning teach the model?"


def write_report(data: ReportData, folder: Path, scores: list[SuiteScore]) -> dict[str, Path]:
    """index.html, report.md and results.csv in `folder`; returns them by name."""
    files = {
        "html": folder / "index.html",
        "markdown": folder / "report.md",
        "csv": folder / "results.csv",
    }
    atomic_write_text(files["html"], render_html(data))
    atomic_write_text(files["markdown"], render_markdown(data, plot_dir=PLOT_DIR))
    atomic_write_text(files["csv"], results_csv(scores, smoke=bool(data.smoke)))
    return files


async def run(ctx: RunContext) -> StageResult:
    inputs = read_inputs(ctx)
    folder = ctx.stage_dir(STAGE)
    # Plots of models or datasets no longer evaluated must not linger beside the new ones.
    shutil.rmtree(folder / PLOT_DIR, ignore_errors=True)
    cfg = ctx.config.report
    data = build_report(
        inputs,
        folder,
        title=cfg.title or default_title(ctx.config.name, bool(inputs.smoke)),
        project=ctx.config.name,
        samples=cfg.samples,
    )
    files = write_report(data, folder, inputs.scores)
    artifacts = [
        ctx.manifest.artifact(STAGE, "report", path, name=name, format=path.suffix.lstrip("."))
        for name, path in files.items()
    ]
    artifacts += [
        ctx.manifest.artifact(STAGE, "report", p.path, name=p.name, format="png")
        for p in data.plots
    ]
    summary = {
        "rows": len(data.table.rows),
        "scores": len(inputs.scores),
        "plots": len(data.plots),
        "samples": sum(len(g.samples) for g in data.samples),
        "total_cost_usd": round(data.costs.total.cost_usd, 4),
        "html": str(files["html"]),
    }
    return StageResult(artifacts=artifacts, summary=summary)


def fingerprint(ctx: RunContext) -> str:
    """Hash of what the report reads beyond its declared inputs (they are in the stage's
    fingerprint): the logs of experiments without a training_log artifact, usage.json (without
    the report's own entry), the project name, which models are tiny random ones."""
    digest = hashlib.sha256(ctx.config.name.encode())
    table = _experiments(ctx)
    for row_id in sorted(table.rows):
        for path in log_candidates(ctx.out_dir / "train" / row_id):
            digest.update(f"{path.name}:{file_sha256(path)}".encode())
    digest.update(json.dumps(_usage(ctx.out_dir), sort_keys=True).encode())
    # Which models are tiny random ones is read from their folders, not from any input above.
    scores = [s for a in ctx.inputs("scores") for s in read_jsonl(ctx.path(a), SuiteScore)]
    digest.update(run_smoke_reason(ctx, scores, list(table.rows.values())).encode())
    return digest.hexdigest()[:16]
