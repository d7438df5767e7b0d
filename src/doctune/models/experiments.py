"""The experiments table: one row per run, whatever its route, and the model specs it yields.

`out/train/experiments.jsonl` (validated rows, rewritten atomically on every change) with a CSV
mirror for spreadsheets. An experiment's result is usable wherever a model spec is: by its name or
id, as `hf:<base>+<adapter dir>` for local runs, as `openai:<fine-tuned id>` for hosted ones.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from doctune.foundation.errors import ConfigError
from doctune.foundation.jsonl import atomic_write_text, read_jsonl, write_jsonl
from doctune.foundation.manifest import Artifact
from doctune.models.grid import Experiment, Route, student_slug
from doctune.models.spec import parse_spec

Status = Literal["pending", "running", "succeeded", "failed", "cancelled"]
TABLE_DIR = "train"
TABLE_NAME = "experiments.jsonl"


class ExperimentRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    student: str
    dataset: str
    route: Route
    method: str
    epochs: float
    batch_size: int
    learning_rate: float
    gradient_accumulation_steps: int = 1
    learning_rate_multiplier: float | None = None
    config_hash: str = ""
    status: Status = "pending"
    train_loss: float | None = None
    validation_loss: float | None = None
    steps: int | None = None
    wall_s: float | None = None
    train_tokens: int | None = None
    tokens_per_s: float | None = None
    peak_memory_mb: float | None = None
    cost_usd: float | None = None
    output: str | None = None  # adapter folder (relative to out/) or hosted model id
    merged: str | None = None  # merged model folder (relative to out/), when saved
    job_id: str | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @classmethod
    def for_experiment(cls, exp: Experiment, method: str, config_hash: str) -> ExperimentRow:
        hp = exp.hp
        return cls(
            id=exp.id,
            name=exp.name,
            student=exp.student,
            dataset=exp.dataset,
            route=exp.route,
            method=method if exp.route == "local" else "hosted",
            epochs=hp.epochs,
            batch_size=hp.batch_size,
            learning_rate=hp.learning_rate,
            gradient_accumulation_steps=hp.gradient_accumulation_steps,
            learning_rate_multiplier=hp.learning_rate_multiplier,
            config_hash=config_hash,
        )


class ExperimentTable:
    def __init__(self, out_dir: str | Path, *, read: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / TABLE_DIR / TABLE_NAME
        self.rows: dict[str, ExperimentRow] = {}
        if read and self.path.is_file():
            self.rows = {r.id: r for r in read_jsonl(self.path, ExperimentRow)}

    @classmethod
    def from_artifacts(cls, out_dir: str | Path, found: list[Artifact]) -> ExperimentTable:
        """The table a stage read as its `experiments` input; empty when nothing was trained."""
        table = cls(out_dir, read=False)
        if found:
            table.path = table.out_dir / found[0].path
            table.rows = {r.id: r for r in read_jsonl(table.path, ExperimentRow)}
        return table

    def get(self, experiment_id: str) -> ExperimentRow | None:
        return self.rows.get(experiment_id)

    def upsert(self, row: ExperimentRow) -> None:
        """Record a row and save at once: a killed run keeps every finished experiment."""
        self.rows[row.id] = row
        self.save()

    def save(self) -> None:
        rows = sorted(self.rows.values(), key=lambda r: r.id)
        write_jsonl(self.path, rows)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(ExperimentRow.model_fields))
        writer.writeheader()
        for row in rows:
            writer.writerow(row.model_dump(mode="json"))
        atomic_write_text(self.path.with_suffix(".csv"), buffer.getvalue())

    def succeeded(self) -> list[ExperimentRow]:
        return sorted(
            (r for r in self.rows.values() if r.status == "succeeded"), key=lambda r: r.id
        )

    def best(
        self, student: str, dataset: str, scores: dict[str, float] | None = None
    ) -> ExperimentRow | None:
        """The best succeeded run of a student on a dataset: the highest score when `scores`
        (experiment id -> score) covers the candidates, else the lowest validation loss."""
        candidates = [r for r in self.succeeded() if r.student == student and r.dataset == dataset]
        if not candidates:
            return None
        if scores and all(r.id in scores for r in candidates):
            return max(candidates, key=lambda r: (scores[r.id], r.id))
        with_loss = [r for r in candidates if r.validation_loss is not None]
        if with_loss:
            return min(with_loss, key=lambda r: (r.validation_loss, r.id))
        return candidates[0]

    def spec(self, row: ExperimentRow) -> str:
        """The model spec of a succeeded run."""
        if row.status != "succeeded" or not row.output:
            raise ConfigError(
                f"experiment '{row.name}' has no trained model (status: {row.status})"
            )
        if row.route == "hosted":
            return f"openai:{row.output}"
        if row.merged:
            return f"hf:{(self.out_dir / row.merged).resolve()}"
        base = parse_spec(row.student).model
        return f"hf:{base}+{(self.out_dir / row.output).resolve()}"

    def find(self, name: str) -> list[ExperimentRow]:
        return [r for r in self.rows.values() if name in (r.name, r.id)]


@dataclass(frozen=True)
class ModelRef:
    """A model to evaluate, with what it is: a base student, a fine-tuned run, or a baseline."""

    label: str
    spec: str
    kind: Literal["base", "finetuned", "baseline"]
    base: str | None = None  # the student spec a fine-tuned model started from
    dataset: str | None = None
    experiment: str | None = None


def resolve_models(
    names: list[str],
    table: ExperimentTable,
    students: list[str],
    datasets: list[str],
    *,
    scores: dict[str, float] | None = None,
) -> list[ModelRef]:
    """Expand `base`, `best`, experiment names/ids and plain specs, in order, without repeats."""
    refs: list[ModelRef] = []
    for name in names:
        if name == "base":
            refs += [ModelRef(label=f"{s} (base)", spec=s, kind="base", base=s) for s in students]
        elif name == "best":
            for student in students:
                for dataset in datasets:
                    row = table.best(student, dataset, scores)
                    if row is not None:
                        refs.append(_finetuned(row, table))
        elif found := table.find(name):
            refs += [_finetuned(row, table) for row in found]
        elif ":" in name:
            parse_spec(name)  # a clear error for a malformed spec
            refs.append(ModelRef(label=name, spec=name, kind="baseline"))
        else:
            raise ConfigError(f"'{name}' is neither an experiment, 'base', 'best' nor a model spec")
    unique: dict[str, ModelRef] = {}
    for ref in refs:
        unique.setdefault(ref.spec, ref)
    return _distinct_labels(list(unique.values()))


def _distinct_labels(refs: list[ModelRef]) -> list[ModelRef]:
    """Labels key results, answer folders and report rows, so two models must never share one:
    the same experiment name on two students gets the student's name in front."""
    counts: dict[str, int] = {}
    for ref in refs:
        counts[ref.label] = counts.get(ref.label, 0) + 1
    out = []
    for ref in refs:
        if counts[ref.label] > 1 and ref.kind == "finetuned" and ref.base:
            ref = dataclasses.replace(ref, label=f"{student_slug(ref.base)} {ref.label}")
        out.append(ref)
    labels = [r.label for r in out]
    clash = sorted({x for x in labels if labels.count(x) > 1})
    if clash:
        raise ConfigError(f"evaluate.models: two models would share the label '{clash[0]}'")
    return out


def _finetuned(row: ExperimentRow, table: ExperimentTable) -> ModelRef:
    return ModelRef(
        label=f"{row.name} ({row.dataset})",
        spec=table.spec(row),
        kind="finetuned",
        base=row.student,
        dataset=row.dataset,
        experiment=row.id,
    )
