"""Training throughput on the tiny model, with and without packing, and peak memory.

    python benchmarks/training_throughput.py [--examples 256] [--batch-size 8] [--max-length 512]
                                             [--threads 1] [--repeats 1]

A fixed synthetic dataset (seeded: questions of 8-20 words, answers of 2-60 words, so lengths
vary as in real QA data) trains the tiny random Qwen2 model (`doctune make-tiny-model`) for one
epoch through the real code path, `doctune.train.local.train` (TRL SFTTrainer + PEFT LoRA,
assistant-only loss). Each configuration runs in its own process, so each peak memory (resident
set size on a CPU, allocated CUDA memory on a GPU) is its own. Throughput counts non-padding
tokens per second of training; the ratio packing / no packing is the point: padding is work
that trains nothing, and packing (TRL's best-fit decreasing, padding-free) removes it.

TRL's packing is padding-free: a batch of packed rows becomes one sequence of batch x max_length
tokens with a block-diagonal mask. Flash-attention's variable-length kernels (GPU) skip the masked
blocks; PyTorch's SDPA on a CPU computes them, so attention work grows with the batch. A third
run, packing at batch size 1, shows that cost apart from the padding saved.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

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
    "carbonylation",
    "ibuprofen",
    "isobutylbenzene",
    "palladium",
    "nickel",
    "batch",
    "process",
    "step",
    "specification",
    "assay",
    "validation",
    "the",
    "a",
    "of",
    "in",
    "at",
    "with",
    "by",
    "for",
    "from",
    "to",
    "and",
    "is",
    "are",
    "was",
    "heat",
    "stir",
]


def write_dataset(path: Path, examples: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for _ in range(examples):
            question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) + "?"
            answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 60))) + "."
            messages = [
                {"role": "system", "content": "You are an expert assistant."},
                {"role": "user", "content": question.capitalize()},
                {"role": "assistant", "content": answer.capitalize()},
            ]
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path


def run_one(args: argparse.Namespace) -> None:
    """One configuration in this process; prints its result as one JSON line."""
    import torch

    from doctune.foundation.config import Hyperparameters, TrainConfig
    from doctune.train.local import TrainJob, train

    torch.set_num_threads(args.threads)
    job = TrainJob(
        experiment=f"packing={args.packing}",
        model=args.model,
        train_file=args.data,
        output_dir=args.out,
        hp=Hyperparameters(epochs=1, batch_size=args.batch_size, learning_rate=1e-4),
        train=TrainConfig(
            packing=args.packing, max_length=args.max_length, save_steps=1_000_000, seed=0
        ),
        show_progress=False,
    )
    result = train(job)
    print(json.dumps({"packing": args.packing, **result.model_dump()}))


def measure(
    model: Path, data: Path, work: Path, packing: bool, batch: int, args: argparse.Namespace
) -> dict:
    cmd = [
        sys.executable, __file__, "--one", "--model", str(model), "--data", str(data),
        "--out", str(work / f"packing-{packing}-{batch}"), "--batch-size", str(batch),
        "--max-length", str(args.max_length), "--threads", str(args.threads),
    ] + (["--packing"] if packing else [])  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        sys.exit(f"run failed (packing={packing}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration (best kept)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--packing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args)
        return

    from doctune.testing.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="doctune-bench-") as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "tiny-model")
        data = write_dataset(work / "train.jsonl", args.examples)
        configs = [("no packing", False, args.batch_size), ("packing", True, args.batch_size)]
        if args.batch_size > 1:
            configs.append(("packing b1", True, 1))
        results = {}
        for label, packing, batch in configs:
            runs = [measure(model, data, work, packing, batch, args) for _ in range(args.repeats)]
            results[label] = max(runs, key=lambda r: r["tokens_per_s"])
    print(
        f"tiny Qwen2 model, {args.examples} examples, batch {args.batch_size}, "
        f"max length {args.max_length}, {args.threads} thread(s), 1 epoch, LoRA r16"
    )
    print(f"{'':12}{'steps':>7}{'tokens':>9}{'wall s':>9}{'tokens/s':>11}{'peak MB':>10}")
    for label, r in results.items():
        print(
            f"{label:12}{r['steps']:>7}{r['train_tokens']:>9}{r['wall_s']:>9.2f}"
            f"{r['tokens_per_s']:>11.0f}{r['peak_memory_mb']:>10.0f}"
        )
    base = results["no packing"]["tokens_per_s"]
    print(f"ratio packing / no packing (tokens/s): {results['packing']['tokens_per_s'] / base:.2f}")
    if "packing b1" in results:
        ratio = results["packing b1"]["tokens_per_s"] / base
        print(f"ratio packing at batch 1 / no packing (tokens/s): {ratio:.2f}")


if __name__ == "__main__":
    main()
