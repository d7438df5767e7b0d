"""How close `--dry-run` comes to the real run, per stage and role, in one run.

    python benchmarks/dry_run_accuracy.py [--corpus example|1mb|both] [--keep DIR]

For each corpus: a fresh copy of the project, the dry run (through the functions the command
uses: the free stages run for real, then every stage's estimate), then the real run through the
CLI; it prints per stage and role the estimated calls, the real calls (usage.json: every request
sent, re-asks included; a fine-tuned model's answers count as the student's) and their ratio, and
for train the estimated against the trained tokens and seconds (the experiments table). Then the
client's seed is changed, which changes every request and so every stage's work, and the same is
done again: the "rerun" rows are a dry run that has this project's last run to go by (keep rate,
split shares, topics per document, tokens per record and tokens/s), the first-run rows one that
has only the defaults.

The teacher and judge are the loopback FakeOpenAIServer (a fake of the paid service) and the
student is the tiny random model (`doctune make-tiny-model`), as in tests/test_e2e_full.py. The
example is examples/ibuprofen/doctune.yaml; the 1 MB corpus is generated text (24 documents of
numbered sections drawn from a fixed pool of process words); both with evaluate.max_items 12 and
answers of at most 32 tokens, so the tiny student's answers on the CPU take a minute, not ten.

Measured here (2 cores shared with a CI run, commit 1a8d2f0: split places groups it
cannot cut well whole, so the example's distillation records are no longer 1/1/62 with 56 dropped;
the first-run defaults of generation/expected.py are calibrated on the example, so its first run is
no test of them; the 1 MB corpus is), estimated / real calls, one run:

    stage       role      example first  example rerun  1 MB first       1 MB rerun
    synthesize  teacher   441/441 1.00   441/441 1.00   1591/1591 1.00   1591/1591 1.00
    evalsets    teacher   261/233 1.12   233/257 0.91   1118/869 1.29    869/923 0.94
    evaluate    judge     284/276 1.03   276/272 1.01   288/330 0.87     288/324 0.89
    evaluate    student   428/420 1.02   420/416 1.01   432/432 1.00     432/432 1.00
    train       tokens    1.04           0.82           1.27             0.95
    train       seconds   0.14           0.53           0.33             1.66

(at 83743e0, before split's change: example first evalsets 1.03, evaluate 1.26-1.45, train
tokens 2.01; 1 MB first evalsets 1.23, train tokens 1.40; before 83743e0: example first
synthesize 1.36, evalsets 1.72, train tokens 10.2; 1 MB first evalsets 1.86, train tokens 5.43.)
Within 20 % everywhere but the 1 MB corpus's first run, where evalsets (1.29) and train tokens
(1.27) follow curation's keep rate: the fake teacher's pairs on that corpus repeat more (0.24 of
pdf_synthetic's records kept against the example's 0.33), which no estimate made before the
teacher has answered can know; after one run the project's own rate is used (0.94, 0.95).
Training time follows the machine's load (the estimate cannot know it): 0.14-1.66.
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
    asyncio.run(pipeline.run_pipeline(ctx, pipeline.run_free_stages_for_estimate(ctx, stages)))
    calls: dict[Key, int] = defaultdict(int)
    train: dict[str, Any] = {}
    for stage, est in pipeline.estimate(ctx, stages):
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
