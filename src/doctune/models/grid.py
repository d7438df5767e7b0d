"""Experiments from one config: students x datasets x (a grid product or an explicit list).

The talk ran six experiments over epochs, batch size and learning rate (Exp1..Exp6); either form
expresses them. An experiment's id names its folder and can be used wherever a model spec is.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import Literal

from doctune.foundation.config import Hyperparameters, TrainConfig
from doctune.foundation.errors import ConfigError
from doctune.models.spec import capabilities, parse_spec

Route = Literal["local", "hosted"]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Experiment:
    name: str
    student: str
    dataset: str
    route: Route
    hp: Hyperparameters

    @property
    def id(self) -> str:
        """Unique and filesystem-safe: `<student slug>--<dataset>--<name>`."""
        return f"{student_slug(self.student)}--{self.dataset}--{self.name}"


def student_slug(spec: str) -> str:
    """A short readable name for a model spec: its last path component, plus a hash when the
    spec is a local path (two folders named `model` must not collide)."""
    parsed = parse_spec(spec)
    tail = _UNSAFE.sub("-", parsed.model.rstrip("/").rsplit("/", 1)[-1]) or "model"
    if parsed.model.startswith(("/", ".", "~")):
        tail += "-" + hashlib.sha256(parsed.model.encode()).hexdigest()[:6]
    return tail


def default_name(hp: Hyperparameters) -> str:
    name = f"e{hp.epochs:g}-b{hp.batch_size}-lr{hp.learning_rate:g}"
    if hp.gradient_accumulation_steps != 1:
        name += f"-ga{hp.gradient_accumulation_steps}"
    if hp.learning_rate_multiplier is not None:
        name += f"-lrm{hp.learning_rate_multiplier:g}"
    return name


def hyperparameter_sets(cfg: TrainConfig) -> list[Hyperparameters]:
    """The explicit list when given, else the full product of the grid, in a stable order."""
    if cfg.experiments:
        runs = list(cfg.experiments)
    else:
        g = cfg.grid
        runs = [
            Hyperparameters(
                epochs=e, batch_size=b, learning_rate=lr, gradient_accumulation_steps=ga
            )
            for e, b, lr, ga in itertools.product(
                g.epochs, g.batch_size, g.learning_rate, g.gradient_accumulation_steps
            )
        ]
    named = [hp if hp.name else hp.model_copy(update={"name": default_name(hp)}) for hp in runs]
    seen: set[str] = set()
    for hp in named:
        assert hp.name is not None
        if _UNSAFE.search(hp.name):
            raise ConfigError(
                f"train.experiments: name '{hp.name}' may only hold letters, digits, '.', '_' and '-'"
            )
        if hp.name in seen:
            raise ConfigError(f"train.experiments: two experiments are named '{hp.name}'")
        seen.add(hp.name)
    return named


def students_for(cfg: TrainConfig, default_student: str, override: str | None = None) -> list[str]:
    """The students: `--student`/DOCTUNE_STUDENT when given, else train.students, else
    models.student. Train and evaluate both ask here, so they always agree."""
    if override:
        return [override]
    return list(cfg.students) or [default_student]


def expand(cfg: TrainConfig, default_student: str, override: str | None = None) -> list[Experiment]:
    """Every experiment of the config: students x datasets x hyperparameter sets.

    With a student given on the command line, an experiment's own `students` filter is set
    aside: trying the talk's grid on another model is what that flag is for.
    """
    students = students_for(cfg, default_student, override)
    out = []
    for student in students:
        route: Route = capabilities(student).fine_tuning
        for dataset in cfg.datasets:
            for hp in hyperparameter_sets(cfg):
                if (not override and hp.students and student not in hp.students) or (
                    hp.datasets and dataset not in hp.datasets
                ):
                    continue  # the talk ran different experiments per student and dataset
                out.append(
                    Experiment(
                        name=hp.name or default_name(hp),
                        student=student,
                        dataset=dataset,
                        route=route,
                        hp=hp,
                    )
                )
    _check_hosted(out)
    return out


def _check_hosted(experiments: list[Experiment]) -> None:
    """Two hosted experiments that would send the same job: OpenAI takes a learning-rate
    multiplier, not a rate, so a grid over `learning_rate` alone would pay twice for one job."""
    seen: dict[tuple[object, ...], Experiment] = {}
    for exp in experiments:
        if exp.route != "hosted":
            continue
        hp = exp.hp
        key = (
            exp.student,
            exp.dataset,
            hp.epochs,
            hp.batch_size,
            hp.gradient_accumulation_steps,
            hp.learning_rate_multiplier,
        )
        if key in seen:
            raise ConfigError(
                f"train: experiments '{seen[key].name}' and '{exp.name}' would be the same hosted "
                f"job for {exp.student} on {exp.dataset} (a hosted job takes "
                "learning_rate_multiplier, not learning_rate): set learning_rate_multiplier on them"
            )
        seen[key] = exp


def select(experiments: list[Experiment], name: str | None) -> list[Experiment]:
    """`--experiment NAME`: by name or id; an unknown one lists what exists."""
    if not name:
        return experiments
    chosen = [e for e in experiments if name in (e.name, e.id)]
    if not chosen:
        known = ", ".join(sorted({e.name for e in experiments}))
        raise ConfigError(f"no experiment named '{name}' (experiments: {known})")
    return chosen
