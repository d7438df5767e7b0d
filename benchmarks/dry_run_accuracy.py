"""How close `--dry-run` comes to the real run, per stage and role, in one run.

    python benchmarks/dry_run_accuracy.py [--corpus example|1mb|both] [--keep DIR]

For each corpus: a fresh copy of the project, the dry run (through the functions the command
uses: the free stages run for real, then every stage's estimate), then the real run through the
CLI; it prints per stage and role the estimated calls, the real calls (usage.json: every request
sent, re-asks included; a fine-tuned model's answers count as the student's) and their ratio, and
for train the estimated against the trained tokens and seconds (the experiments table). Then the
client's seed is changed, which changes every request and so every stage's work, and the same is
done again: the "rerun" rows are a dry run that has this project's last run to go by (keep rate,
topics per document, tokens per record and tokens/s; split's shares only for the records that
carry over, none here, so the configured ones), the first-run rows one that has only the
defaults.

The teacher and judge are the loopback FakeOpenAIServer (a fake of the paid service) and the
student is the tiny random model (`doctune make-tiny-model`), as in tests/test_e2e_full.py. The
example is examples/ibuprofen/doctune.yaml; the 1 MB corpus is generated text (24 documents of
numbered sections drawn from a fixed pool of process words); both with evaluate.max_items 12 and
answers of at most 32 tokens, so the tiny student's answers on the CPU take a minute, not ten.

Measured here (2 cores shared, commit 98e0071: split's shares are the last run's only for the
share of its input that carries over from it, the share of synthesis calls the cache answers,
and the configured ones for the rest; the first-run keep rate of generation/expected.py is a
share of the records plus a bounded number of repeated ones), estimated / real calls, one run:

    stage       role      example first  example rerun  1 MB first       1 MB rerun
    synthesize  teacher   441/441 1.00   441/441 1.00   1591/1591 1.00   1591/1591 1.00
    evalsets    teacher   234/205 1.14   231/234 0.99   811/909 0.89     876/950 0.92
    evaluate    judge     288/276 1.04   284/272 1.04   288/330 0.87     288/324 0.89
    evaluate    student   432/420 1.03   428/416 1.03   432/432 1.00     432/432 1.00
    train       tokens    1.14           0.92           0.85             0.89
    train       seconds   0.07           2.42           0.94             0.59

(at 096e48e, the last run's split shares whatever carried over: reruns evalsets 0.88 and 0.96,
train tokens 0.78 and 0.97; at 1a8d2f0, with the keep rate a constant per recipe: 1 MB first
evalsets 1.29, train tokens 1.27.) Why a first run keeps less of the 1 MB
corpus's pdf_synthetic records (0.24 against the example's 0.33): of its 2,388 drops 2,285 are
exact duplicates and 103 near duplicates, none too short, too long or ungrounded (no judge). They
are pairs the fake teacher built from the prompt's instructions, the same in every prompt, which
curation keeps once however many chunks ask them (32 on the example, 45 here), while the pairs
about a chunk's own sentences (0.20 of all there, 0.23 here) are all kept: the keep rate falls
with the record count toward that share, 0.21 estimated for 3,141 records. The generated corpus
is a fair stand-in for that (its chunks: 6.5 sentences and 240 tokens; the example's 6.0 and
170); what differs is its size. Its text (draws from 34 process words, every sentence alike) is
not realistic prose, and a real teacher would repeat itself more on it; the fake only quotes
sentences, so it is left as it is. The example's rerun train tokens were 0.78 at 096e48e: its 107
distillation records formed 6 groups (largest 34) placed whole by hash (train 57, asked 0.7); the
rerun's new seed redraws every group (train 88 of 123, a run with --keep), so the last draw did
not predict the next, and the configured shares (its expected value) now stand in: 0.92. What is
left is the keep rate (123 of 320 kept, not 107), which neither the last run nor the first-run
model foresees. On the 1 MB corpus the last draw happened to sit nearer the rerun's (0.97 then,
0.89 now). Training time follows the machine's load (the estimate cannot know it): 0.07-2.4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from doctune import pipeline
from doctune.cli import main
from doctune.commands.common import make_context
from doctune.dry_run import estimate, run_free_stages_for_estimate
from doctune.models.experiments import ExperimentTable
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.tiny_model import build_tiny_model

Key = tuple[str, str]
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ibuprofen"
ORDER = pipeline.STAGE_NAMES

WORDS = [
    "isobutylbenzene",
    "bromination",
    "acetylation",
    "Friedel-Crafts",
    "hydrogenation",
    "carbonylation",
    "palladium",
    "nickel",
    "catalyst",
    "reactor",
    "temperature",
    "pressure",
    "solvent",
    "yield",
    "purity",
    "crystallisation",
    "filtration",
    "distillation",
    "impurity",
    "specification",
    "batch",
    "record",
    "validation",
    "cleaning",
    "sampling",
    "assay",
    "dissolution",
    "granulation",
    "compression",
    "coating",
    "tablet",
    "blister",
    "stability",
    "humidity",
]


def corpus_1mb(folder: Path, documents: int = 24, size: int = 1_000_000) -> None:
    """Plain-text documents of numbered sections, `size` characters in all (seeded)."""
    rng = random.Random(7)
    folder.mkdir(parents=True)
    per_doc = size // documents
    for d in range(documents):
        parts: list[str] = [f"# Process report {d}\n"]
        length, section = 0, 0
        while length < per_doc:
            section += 1
            sentences = []
            for _ in range(rng.randint(4, 9)):
                words = rng.sample(WORDS, rng.randint(8, 16))
                number = f"{rng.randint(10, 400)} {rng.choice(['°C', 'bar', 'kg', 'min', '%'])}"
                sentences.append(f"The {' '.join(words)} is held at {number}.")
            text = f"\n## Section {d}.{section}\n\n" + " ".join(sentences) + "\n"
            parts.append(text)
            length += len(text)
        (folder / f"report_{d:02d}.md").write_text("".join(parts))


def make_project(dest: Path, corpus: str) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out*"))
    if corpus == "1mb":
        shutil.rmtree(dest / "documents")
        corpus_1mb(dest / "documents")
    # The tiny student answers on the CPU: fewer, shorter answers keep the run within minutes.
    configure(dest, evaluate={"max_items": 12, "answer_max_tokens": 32})
    return dest


def configure(project: Path, **sections: dict[str, Any]) -> None:
    cfg = yaml.safe_load((project / "doctune.yaml").read_text())
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    (project / "doctune.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def dry_run(project: Path, student: str) -> tuple[dict[Key, int], dict[str, Any]]:
    """Estimated calls per (stage, role), and train's row."""
    ctx = make_context(project, None, {"student": student}, True, True)
    stages = pipeline.plan()
    pipeline.preflight(ctx, stages)
    asyncio.run(pipeline.run_pipeline(ctx, run_free_stages_for_estimate(ctx, stages)))
    calls: dict[Key, int] = defaultdict(int)
    train: dict[str, Any] = {}
    for stage, est in estimate(ctx, stages):
        if est.train_tokens is not None:
            train = {"tokens": est.train_tokens, "seconds": est.train_seconds, "note": est.note}
        else:
            calls[(stage.name, est.role)] += est.calls
    return calls, train


def real_run(project: Path, student: str) -> float:
    args = ["run", str(project), "--student", student, "--no-progress"]
    start = time.perf_counter()
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    if result.exit_code != 0:
        sys.exit(f"real run failed:\n{result.output[-3000:]}")
    return time.perf_counter() - start


def real_calls(project: Path, student: str) -> dict[Key, int]:
    """Requests sent per (stage, role), from usage.json; a fine-tuned model's are the student's."""
    ctx = make_context(project, None, {"student": student}, False, True)
    roles = {ctx.spec("teacher"): "teacher", ctx.spec("judge"): "judge"}
    usage = json.loads((ctx.out_dir / "usage.json").read_text())
    out: dict[Key, int] = defaultdict(int)
    for stage, rows in usage.items():
        for spec, row in rows.items():
            out[(stage, roles.get(spec, "student"))] += int(row["calls"])
    return out


def measure(project: Path, student: str, label: str) -> list[str]:
    start = time.perf_counter()
    estimated, train = dry_run(project, student)
    dry_s = time.perf_counter() - start
    run_s = real_run(project, student)
    real = real_calls(project, student)
    lines = [f"{label}: dry run {dry_s:.1f} s, real run {run_s:.1f} s"]
    lines.append(f"  {'stage':<11} {'role':<8} {'estimated':>10} {'real':>8} {'ratio':>6}")
    for key in sorted(set(estimated) | set(real), key=lambda k: (ORDER.index(k[0]), k[1])):
        est, got = estimated.get(key, 0), real.get(key, 0)
        ratio = f"{est / got:.2f}" if got else ("-" if not est else "inf")
        lines.append(f"  {key[0]:<11} {key[1]:<8} {est:>10} {got:>8} {ratio:>6}")
    lines.extend(_train_lines(project, train))
    return lines


def _train_lines(project: Path, train: dict[str, Any]) -> list[str]:
    if not train:
        return ["  train: not estimated"]
    rows = [r for r in ExperimentTable(project / "out").rows.values() if r.status == "succeeded"]
    tokens = sum(r.train_tokens or 0 for r in rows)
    seconds = sum(r.wall_s or 0.0 for r in rows)
    est_s = train["seconds"] or 0.0
    return [
        f"  {'train':<11} {'tokens':<8} {train['tokens']:>10} {tokens:>8} "
        f"{(train['tokens'] / tokens if tokens else 0):>6.2f}",
        f"  {'train':<11} {'seconds':<8} {est_s:>10.1f} {seconds:>8.1f} "
        f"{(est_s / seconds if seconds else 0):>6.2f}  ({train['note']})",
    ]


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("example", "1mb", "both"), default="both")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    corpora = ("example", "1mb") if args.corpus == "both" else (args.corpus,)
    os.environ.setdefault("OPENAI_API_KEY", "sk-fake")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        work = Path(args.keep or tmp)
        student = f"hf:{build_tiny_model(work / 'tiny')}"
        for corpus in corpora:
            project = make_project(work / corpus, corpus)
            print("\n".join(measure(project, student, f"{corpus}, first run")), flush=True)
            # Every request changes with the seed: the same work again, priced from this run.
            configure(project, client={"seed": 1234})
            print("\n".join(measure(project, student, f"{corpus}, rerun")), flush=True)


if __name__ == "__main__":
    main_cli()
