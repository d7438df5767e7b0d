"""In-process (`hf:`) models batched against one request at a time, in one run, on a CPU.

    python benchmarks/batched_inference.py [--items 200] [--replies 64] [--batch-size 8]
                                           [--threads 1] [--hidden 256] [--layers 4]

A tiny random Qwen2 model (`doctune.testing.tiny_model`, a little larger than the tests' one:
hidden 256, 4 layers, float32) is built offline in a temporary folder. Two measurements, each
as items per second and the ratio batched / one at a time, with the results checked equal:

- MMLU log-likelihood scoring: `--items` questions (random words, 2-shot, the harness's prompt
  format, so prompts of about 150-400 tokens) written as an MMLU folder and scored by the real
  suite (`MMLUSuite` through `ModelClient`, loglikelihood scoring), once by a backend with
  `batch_size` 1 and once with `--batch-size`. The scores are read back from each run's call
  cache and compared item by item (max |difference| of the log-probs, and the letters chosen).
- Generation: `--replies` chat requests (greedy, 32 new tokens) sent concurrently through
  `ModelClient` to a backend with `--batch-size`, against the same requests awaited one by
  one on a backend with `batch_size` 1; the texts must be equal.

Measured here (2 CPU cores shared with other work, load 2.6-3.4, 1 torch thread, defaults; one run):
    loglik      bs1 10.2 items/s, batched 8.2 items/s: 0.80 x; max |diff| 1.9e-06, letters
                equal; batches {2: 34, 4: 33}
    scorer      bs1 11.3 items/s, bs8 11.8 items/s: 1.04 x (every request at once, no thread
                pool); continuation_logprobs one by one 10.5 items/s
    generation  bs1 10.10 replies/s, batched 30.78 replies/s: 3.05 x; texts equal; batches {8: 8}
(other runs, load ~1.9: loglik 0.93-1.10 x, scorer 1.10 x, generation 2.2-3.6 x). On a CPU a
forward pass over a 200-token prompt already keeps the core busy, so scoring gains nothing from
batching, and through the suite the thread hand-offs cost a little; generation gains because
each decoding step is one token per row.

The client runs each log-likelihood call in a worker thread of asyncio's default pool, which
has (cores + 4) threads, so on this 2-core machine at most 6 requests meet in a batch (the
observed batch sizes are printed); a 16-core machine fills batches of 8 and more. On a GPU the
ratio is expected to be much larger: a CPU is already busy with one sequence, a GPU's forward
pass costs about the same for 1 and 8 rows until it is compute-bound. We have no GPU here.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from doctune.evaluate.mmlu import MMLUSuite, load_items
from doctune.evaluate.mmlu_prompt import item_prompt
from doctune.foundation.config import ModelSettings
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.models.base import Message
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.hf import HFBackend
from doctune.models.loglik import batched_logprobs, continuation_logprobs, plan_windows
from doctune.models.spec import parse_spec
from doctune.testing.tiny_model import build_tiny_model

WORDS = [
    "reactor",
    "temperature",
    "pressure",
    "catalyst",
    "solvent",
    "yield",
    "ratio",
    "conversion",
    "impurity",
    "acylation",
    "hydrogenation",
    "ibuprofen",
    "palladium",
    "nickel",
    "batch",
    "process",
    "step",
    "assay",
    "validation",
    "the",
    "a",
    "of",
    "in",
    "at",
    "with",
    "by",
    "which",
    "what",
    "how",
    "is",
    "are",
    "was",
]


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def write_mmlu(root: Path, items: int, seed: int) -> None:
    """An MMLU folder: one subject, 2 dev examples, `items` test questions of varied length."""
    rng = random.Random(seed)
    for split, count in (("dev", 2), ("test", items)):
        (root / split).mkdir(parents=True)
        rows = []
        for _ in range(count):
            cells = [sentence(rng, 8, 90)] + [sentence(rng, 1, 12) for _ in range(4)]
            rows.append(",".join(f'"{c}"' for c in cells) + f",{rng.choice('ABCD')}")
        (root / split / f"chemistry_{split}.csv").write_text("\n".join(rows) + "\n")


def backend(model_dir: Path, batch_size: int) -> HFBackend:
    settings = ModelSettings(batch_size=batch_size, dtype="float32", device="cpu")
    made = HFBackend(parse_spec(f"hf:{model_dir}"), settings)
    made.load()
    return made


async def score_suite(made: HFBackend, settings: MMLUSettings, cache: Path) -> dict[str, Any]:
    items = load_items(settings)
    client = ModelClient(made, cache=CallCache(cache), stage="evaluate")
    ref = ModelRef(label="tiny", spec=made.spec, kind="base")
    started = time.perf_counter()
    results = await MMLUSuite(settings).evaluate(ref, client, items, "plain")
    seconds = time.perf_counter() - started
    # Read back from the cache: the scores each run computed, without computing again.
    scores = [
        (await client.loglikelihoods(item_prompt(i), [" A", " B", " C", " D"])).logprobs
        for i in items
    ]
    return {
        "rate": len(items) / seconds,
        "letters": [r.extracted for r in results],
        "scores": scores,
        "batches": dict(sorted(made.loglik_batch_sizes.items())),
    }


def scorer_alone(model_dir: Path, settings: MMLUSettings, batch_size: int) -> str:
    """`batched_logprobs` on the same prompts without the client's thread pool: what batching
    itself gives when every request is there at once."""
    made = backend(model_dir, 1)
    contexts = [item_prompt(i) for i in load_items(settings)]
    plans = [
        plan_windows(made.model, made.tokenizer, c, [" A", " B", " C", " D"]) for c in contexts
    ]
    started = time.perf_counter()
    for context in contexts:  # the scorer before batching: every position's logits computed
        continuation_logprobs(made.model, made.tokenizer, context, [" A", " B", " C", " D"])
    before = len(contexts) / (time.perf_counter() - started)
    rates = {}
    for size in (1, batch_size):
        started = time.perf_counter()
        batched_logprobs(made.model, plans, batch_size=size, pad_id=made.pad_id)
        rates[size] = len(plans) / (time.perf_counter() - started)
    return (
        f"scorer      bs1 {rates[1]:.1f} items/s, bs{batch_size} {rates[batch_size]:.1f} items/s: "
        f"{rates[batch_size] / rates[1]:.2f} x (every request at once, no thread pool); "
        f"continuation_logprobs one by one {before:.1f} items/s"
    )


async def generate(made: HFBackend, prompts: list[str], together: bool) -> dict[str, Any]:
    client = ModelClient(made, concurrency=64)

    def call(p: str) -> Any:
        return client.chat([Message(role="user", content=p)], max_tokens=32, temperature=0.0)

    started = time.perf_counter()
    if together:
        replies = await asyncio.gather(*(call(p) for p in prompts))
    else:
        replies = [await call(p) for p in prompts]
    seconds = time.perf_counter() - started
    return {
        "rate": len(prompts) / seconds,
        "texts": [r.text for r in replies],
        "batches": dict(sorted(made.batch_sizes.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--replies", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_tiny_model(
            work / "model", hidden_size=args.hidden, num_layers=args.layers
        )
        write_mmlu(work / "mmlu", args.items, seed=0)
        settings = MMLUSettings(dir=str(work / "mmlu"), few_shot=2, scoring="loglikelihood")
        settings = settings.model_copy(update={"max_questions_per_subject": args.items})
        alone = asyncio.run(score_suite(backend(model_dir, 1), settings, work / "a.sqlite"))
        batched = asyncio.run(
            score_suite(backend(model_dir, args.batch_size), settings, work / "b.sqlite")
        )
        diff = max(
            abs(x - y)
            for a, b in zip(alone["scores"], batched["scores"], strict=True)
            for x, y in zip(a, b, strict=True)
        )
        same_letters = alone["letters"] == batched["letters"]
        print(
            f"loglik      bs1 {alone['rate']:.1f} items/s, batched {batched['rate']:.1f} "
            f"items/s: {batched['rate'] / alone['rate']:.2f} x; max |diff| {diff:.1e}, "
            f"letters {'equal' if same_letters else 'DIFFER'}; batches {batched['batches']}"
        )
        print(scorer_alone(model_dir, settings, args.batch_size))
        rng = random.Random(1)
        prompts = [f"Question {i}: {sentence(rng, 5, 60)}?" for i in range(args.replies)]
        one = asyncio.run(generate(backend(model_dir, 1), prompts, together=False))
        many = asyncio.run(generate(backend(model_dir, args.batch_size), prompts, together=True))
        same = one["texts"] == many["texts"]
        print(
            f"generation  bs1 {one['rate']:.2f} replies/s, batched {many['rate']:.2f} "
            f"replies/s: {many['rate'] / one['rate']:.2f} x; texts "
            f"{'equal' if same else 'DIFFER'}; batches {many['batches']}"
        )
        if diff > 1e-5 or not same_letters or not same:
            raise SystemExit("batched results differ from one at a time")


if __name__ == "__main__":
    main()
