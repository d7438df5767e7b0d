"""The Datasets page at 10,000 records: time per page server side, and memory over page loads.

    python benchmarks/serve_datasets.py [--records 10000] [--loads 1000]

Writes a project whose synthesize, curate and split artifacts hold `records` QA records, then
requests pages through Starlette's TestClient (the app in process, no socket). The baseline,
measured in the same run, is one plain read of the dataset files (json.loads of every line):
what a page would cost if it read the files instead of the in-memory index; the benchmark
prints each page's median time and its ratio to that read (target: under 200 ms a page). Memory
is Python's traced allocations after a warm-up and after `loads` more page loads (target: flat).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from starlette.testclient import TestClient

from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import Provenance, QARecord, RejectedRecord
from doctune.serve.app import create_app

RECIPE = "pdf_synthetic"
PAGES = ("/datasets", "/datasets?at=5000", "/datasets?q=hydrogenation+nickel",
         "/datasets?status=pending&verdict=kept&split=train")  # fmt: skip


def make_project(root: Path, n: int) -> Path:
    project = root / "bench"
    project.mkdir()
    (project / "doctune.yaml").write_text("name: bench\n")
    manifest = Manifest(project / "out")
    records = [
        QARecord(
            id=f"r{i:06d}", recipe=RECIPE,
            question=f"Question {i}: at what temperature is step {i % 40} of the route run?",
            answer=f"Step {i % 40} runs at {20 + i % 60} °C" + (" over Raney nickel; hydrogenation." if i % 9 == 0 else "."),
            provenance=Provenance(chunk_ids=[f"c{i % 500}"], sources=["process.pdf"], pages=[i % 80]),
        )
        for i in range(n)
    ]  # fmt: skip
    dropped = records[: n // 50]
    kept = records[n // 50 :]
    written = {
        ("synthesize", "dataset", None): records,
        ("curate", "dataset", None): kept,
        ("curate", "rejected", None): [
            RejectedRecord(id=r.id, stage="curate", reason="duplicate", record=r.model_dump(mode="json"))
            for r in dropped
        ],
        ("split", "dataset", "train"): [r.model_copy(update={"split": "train"}) for r in kept[::2]],
        ("split", "dataset", "test"): [r.model_copy(update={"split": "test"}) for r in kept[1::2]],
    }  # fmt: skip
    by_stage: dict[str, list] = {}
    for (stage, kind, split), items in written.items():
        path = manifest.out_dir / stage / f"{RECIPE}.{kind}.{split or 'all'}.jsonl"
        write_jsonl(path, items)
        labels = {"recipe": RECIPE, **({"split": split} if split else {})}
        by_stage.setdefault(stage, []).append(manifest.artifact(stage, kind, path, **labels))
    for stage, artifacts in by_stage.items():
        manifest.replace_stage(stage, artifacts, "bench")
    return project


def plain_read(project: Path) -> float:
    started = time.perf_counter()
    for path in sorted((project / "out").rglob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                json.loads(line)
    return time.perf_counter() - started


def median_ms(client: TestClient, url: str, repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            sys.exit(f"{url}: HTTP {response.status_code}")
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), args.records)
        baseline_ms = statistics.median(plain_read(project) for _ in range(5)) * 1000
        print(
            f"{args.records:,} records; baseline, one plain read of the files: {baseline_ms:.1f} ms"
        )
        with TestClient(create_app(project)) as client:
            started = time.perf_counter()
            client.get("/datasets")
            print(f"first page (builds the index): {(time.perf_counter() - started) * 1000:.0f} ms")
            for url in PAGES:
                ms = median_ms(client, url)
                print(f"{url}: median {ms:.1f} ms, {ms / baseline_ms:.2f} of the plain read")
            for i in range(200):  # warm-up: the libraries' own caches fill first
                client.get(f"/datasets?at={i * 37 % args.records + 1}")
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for i in range(args.loads):
                client.get(f"/datasets?at={i * 37 % args.records + 1}")
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            print(
                f"traced memory over {args.loads:,} page loads: {before / 1e6:.2f} -> {after / 1e6:.2f} MB"
            )


if __name__ == "__main__":
    main()
