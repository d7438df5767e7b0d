"""What one hosted fine-tuning job is asked to do, checked before anything touches the network:
the experiment's exported chat JSONL (cookbook checks: a file that fails is never uploaded) and
the job parameters the API can express."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doctune.context import RunContext
from doctune.foundation.errors import ConfigError, InputError
from doctune.foundation.manifest import count_lines, file_sha256, fingerprint
from doctune.foundation.openai_checks import validate_openai_jsonl
from doctune.models.grid import Experiment
from doctune.models.tokens import get_token_counter


@dataclass(frozen=True)
class HostedRequest:
    """What one job is asked to do; its fingerprint changes exactly when a new job is needed."""

    model: str
    training: Path
    validation: Path | None
    hyperparameters: dict[str, Any]
    suffix: str
    seed: int
    fingerprint: str  # of all the above, files by content (the row's config_hash)


def prepare_request(ctx: RunContext, exp: Experiment) -> HostedRequest:
    """The experiment's files, checked with the cookbook's rules, and its job parameters.

    No network: a file that fails raises InputError naming its path and line before anything is
    uploaded. An empty validation split is left out (the API refuses an empty file)."""
    if exp.route != "hosted":
        raise ConfigError(f"experiment {exp.name}: {exp.student} is not a hosted (openai:) model")
    training = _export_file(ctx, exp, "train")
    assert training is not None
    validation = None
    if ctx.config.train.hosted.upload_validation:
        validation = _export_file(ctx, exp, "validation")
        if validation is not None and count_lines(validation) == 0:
            ctx.log(f"{exp.name}: the validation split is empty; the job gets no validation_file")
            validation = None
    counter = get_token_counter(ctx.config.export.tokenizer)
    for path in (training, validation):
        if path is None:
            continue
        report = validate_openai_jsonl(path, ctx.config.export.max_tokens_per_example, counter)
        report.raise_for_errors()
        if path == training and report.warnings.get("few_examples"):
            ctx.log(
                f"[yellow]{exp.name}[/]: {path.name} has {report.examples} examples; OpenAI "
                "refuses fewer than 10"
            )
    params: dict[str, Any] = {
        "model": exp.student.split(":", 1)[1],
        "hyperparameters": hosted_hyperparameters(exp),
        "suffix": ctx.config.train.hosted.suffix,
        "seed": ctx.config.train.seed,
    }
    digest = fingerprint(
        **params,
        training=file_sha256(training),
        validation=file_sha256(validation) if validation else None,
    )
    return HostedRequest(training=training, validation=validation, fingerprint=digest, **params)


def hosted_hyperparameters(exp: Experiment) -> dict[str, Any]:
    """`method.supervised.hyperparameters` of the job: the API takes whole epochs and a learning
    rate multiplier, not a learning rate, and has no gradient accumulation."""
    hp = exp.hp
    if not float(hp.epochs).is_integer():
        raise ConfigError(
            f"experiment {exp.name}: hosted jobs take whole epochs, got {hp.epochs:g}"
        )
    if hp.gradient_accumulation_steps != 1:
        raise ConfigError(
            f"experiment {exp.name}: hosted jobs have no gradient accumulation "
            f"(gradient_accumulation_steps={hp.gradient_accumulation_steps})"
        )
    multiplier = hp.learning_rate_multiplier
    return {
        "n_epochs": int(hp.epochs),
        "batch_size": hp.batch_size,
        "learning_rate_multiplier": multiplier if multiplier is not None else "auto",
    }


def _export_file(ctx: RunContext, exp: Experiment, split: str) -> Path | None:
    found = ctx.inputs("openai_jsonl", stage="export", recipe=exp.dataset, split=split)
    if found:
        return ctx.path(found[0])
    if split == "train":
        raise InputError(
            f"{ctx.manifest.path}: no OpenAI JSONL export of {exp.dataset}/train for experiment "
            f"{exp.name} (run `doctune export` with the openai format)"
        )
    return None
