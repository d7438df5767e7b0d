"""What training would take, for `--dry-run`: tokens and time per route, no model calls.

Tokens are the training split's records (the export written, else the split expected after
curation, `doctune.generation.expected`) x tokens per record x epochs, summed over the
experiments of the grid that are not done yet. Tokens per record come from export's stats (the
student's tokenizer, or ~4 characters per token when it was not cached), else the last run's
stats, else the first-run default (`expected.FIRST_RUN_RECORD_TOKENS`); times the ratio of the
tokens the last run's trainer counted to those export counted (the chat template's tokens), where
there was a last run.

Time is tokens / tokens per second, from the last run's training logs of the same student when
there are some (the experiments table: tokens trained over wall time), else, for a local run on a CPU, from the figure measured
on the tiny model by benchmarks/training_throughput.py, scaled by the student's parameter count
when its config.json is at hand. There is no figure for a GPU or a model whose size is unknown.
Hosted fine-tuning is priced at `train.hosted.price_per_mtok_trained` where it is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from doctune.context import RunContext
from doctune.foundation.config.options import TrainOptions
from doctune.foundation.errors import InputError
from doctune.foundation.results import CallEstimate
from doctune.generation import expected
from doctune.models import grid
from doctune.models.experiments import ExperimentTable
from doctune.models.spec import parse_spec
from doctune.models.tokens import estimate_tokens
from doctune.train.stage import config_hash, data_files, distributed_settings, experiments_of

# benchmarks/training_throughput.py on this machine (2 cores, 1 thread, batch 8, no packing):
# the tiny model (doctune make-tiny-model) trains at 5,644 tokens/s; README "Measured here".
CPU_TOKENS_PER_S = 5644.0
CPU_REFERENCE_PARAMS = 583_680  # the tiny model as `_parameters` counts it (552,064 by torch)


def estimate(ctx: RunContext) -> list[CallEstimate]:
    table = ExperimentTable(ctx.out_dir)
    todo = [e for e in experiments_of(ctx) if not _done(ctx, table, e)]
    if not todo:
        return [CallEstimate("student", 0, 0, 0, note="every experiment trained", train_tokens=0)]
    tokens = seconds = 0.0
    timed, sources, cost = True, set(), 0.0
    factor = _template_factor(table, _stats(ctx))
    for exp in todo:
        records, per_record = _records(ctx, exp.dataset)
        per_record = min(per_record * factor, ctx.config.train.max_length)
        n = round(records * per_record * exp.hp.epochs)
        tokens += n
        rate, source = _throughput(ctx, table, exp)
        sources.add(source)
        if rate:
            seconds += n / rate
        else:
            timed = False
        if exp.route == "hosted":
            price = ctx.config.train.hosted.price_per_mtok_trained
            cost += n * (price or 0.0) / 1e6
    note = f"{len(todo)} experiment(s); time from {'; '.join(sorted(sources))}"
    return [
        CallEstimate(
            "student",
            0,
            0,
            0,
            exact=False,
            note=note,
            train_tokens=int(tokens),
            train_seconds=seconds if timed else None,
            cost_usd=cost or None,
        )
    ]


def _done(ctx: RunContext, table: ExperimentTable, exp: grid.Experiment) -> bool:
    """Trained already on the data it will be given: not when export writes new files first,
    nor, for a local run, when its config hash (data, hyperparameters, ...) changed since."""
    row = table.get(exp.id)
    if row is None or row.status != "succeeded" or not row.output:
        return False
    if not expected.written(ctx, "export"):
        return False
    if row.route == "hosted":
        return True
    dist = distributed_settings(
        ctx.config.train.distributed, ctx.stage_options(TrainOptions).distributed
    )
    try:
        files = data_files(ctx, exp.dataset)
    except InputError:
        return False
    config = config_hash(exp, ctx.config.train, dist, files)
    return row.config_hash == config and (table.out_dir / row.output).exists()


def _records(ctx: RunContext, dataset: str) -> tuple[int, float]:
    """Training examples of a dataset and tokens per example."""
    stats = _stats(ctx)
    train = stats.get(dataset, {}).get("splits", {}).get("train", {})
    if expected.written(ctx, "export"):
        found = ctx.manifest.find("openai_jsonl", stage="export", recipe=dataset, split="train")
        if found and train.get("samples"):
            return found[0].records or 0, train["total_tokens"] / train["samples"]
    sizes, _ = expected.split_sizes(ctx, dataset)
    if train.get("samples"):  # the last run's examples of this dataset, on average
        return sizes["train"], train["total_tokens"] / train["samples"]
    system = estimate_tokens(ctx.config.export.system_prompt or "")
    return sizes["train"], expected.FIRST_RUN_RECORD_TOKENS + system


def _template_factor(table: ExperimentTable, stats: dict[str, Any]) -> float:
    """Tokens the trainer counted per token export counted, in the last run: the chat
    template's tokens around each message, which export's counting leaves out (1 without a
    last run)."""
    trained = counted = 0.0
    for row in table.rows.values():
        split = stats.get(row.dataset, {}).get("splits", {}).get("train", {})
        if row.status == "succeeded" and row.route == "local" and row.train_tokens and split:
            trained += row.train_tokens
            counted += split.get("total_tokens", 0) * row.epochs
    return trained / counted if counted else 1.0


def _stats(ctx: RunContext) -> dict[str, Any]:
    """Export's per-recipe statistics of the last run, where the manifest lists them."""
    for artifact in ctx.manifest.find("stats", stage="export"):
        path = ctx.manifest.resolve(artifact)
        if path.is_file():
            data = json.loads(path.read_text())
            return dict(data.get("recipes", {})) if isinstance(data, dict) else {}
    return {}


def _throughput(
    ctx: RunContext, table: ExperimentTable, exp: grid.Experiment
) -> tuple[float | None, str]:
    """Tokens per second for an experiment, and where the figure comes from."""
    if exp.route == "hosted":
        return None, "no time for hosted jobs (the provider's queue decides)"
    # Tokens over wall time, not the trainer's own tokens/s: the run's time also loads the
    # model, evaluates and saves.
    rows = [
        r
        for r in table.rows.values()
        if r.student == exp.student and r.status == "succeeded" and r.train_tokens and r.wall_s
    ]
    if rows:
        rate = sum(r.train_tokens or 0 for r in rows) / sum(r.wall_s or 0.0 for r in rows)
        return rate, "the last run's training logs"
    import torch  # the trainer needs it anyway; only its CUDA check is asked here

    if torch.cuda.is_available():
        return None, "no measured tokens/s for this GPU yet"
    params = _parameters(parse_spec(exp.student).model)
    if params is None:
        return None, "no tokens/s: the student's size is unknown here"
    rate = CPU_TOKENS_PER_S * CPU_REFERENCE_PARAMS / params
    return rate, f"the CPU figure of benchmarks/training_throughput.py ({rate:,.0f} tokens/s)"


def _parameters(model: str) -> int | None:
    """About how many parameters a local model has, from its config.json (none for a hub name
    without a local folder)."""
    config = Path(model) / "config.json"
    if not config.is_file():
        return None
    c = json.loads(config.read_text())
    hidden, layers = c.get("hidden_size"), c.get("num_hidden_layers")
    if not hidden or not layers:
        return None
    inter = c.get("intermediate_size", 4 * hidden)
    vocab = c.get("vocab_size", 0)
    embed = vocab * hidden * (1 if c.get("tie_word_embeddings", True) else 2)
    return layers * (4 * hidden * hidden + 3 * hidden * inter) + embed
