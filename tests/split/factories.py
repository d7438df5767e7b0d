"""Records for the split's tests: questions about chunks (pdf_synthetic-like), records citing
several chunks (distillation-like), and the invariants every split must keep."""

from __future__ import annotations

import random
from typing import Any

from doctune.foundation.records import SPLITS, Provenance, QARecord

VOCAB = [f"{stem}{i}" for stem in ("reactor", "yield", "solvent", "ketone") for i in range(150)]


def qa(rid: str, chunk_ids: list[str], rng: random.Random, question: str | None = None) -> QARecord:
    return QARecord(
        id=rid,
        recipe="pdf_synthetic",
        question=question or " ".join(rng.sample(VOCAB, 10)) + "?",
        answer="The acylation is run at 0-5 °C for 2 h.",
        provenance=Provenance(chunk_ids=chunk_ids),
    )


def clustered(seed: int = 0, clusters: int = 30) -> list[QARecord]:
    """pdf_synthetic-like records (1-3 per chunk) and distillation-like records citing two chunks
    of the same cluster of three: many small components of sizes 1 to ~9."""
    rng = random.Random(seed)
    records = []
    for c in range(clusters):
        ids = [f"c{c}-{k}" for k in range(3)]
        for chunk in ids:
            for _ in range(rng.randint(0, 2)):
                records.append(qa(f"r{len(records):04d}", [chunk], rng))
        if rng.random() < 0.5:
            records.append(qa(f"r{len(records):04d}", rng.sample(ids, 2), rng))
    return records


def ring(n_chunks: int = 40, per_pair: int = 3) -> list[QARecord]:
    """Every record cites two neighbouring chunks of a ring: one giant component."""
    rng = random.Random(1)
    return [
        qa(f"g{i:03d}-{j}", [f"c{i}", f"c{(i + 1) % n_chunks}"], rng)
        for i in range(n_chunks)
        for j in range(per_pair)
    ]


def chunk_sets(splits: dict[str, list[QARecord]]) -> dict[str, set[str]]:
    return {n: {c for r in splits[n] for c in r.provenance.chunk_ids} for n in SPLITS}


def assert_invariants(records: list[QARecord], outcome: Any) -> None:
    chunks = chunk_sets(outcome.splits)
    assert not chunks["train"] & chunks["validation"]
    assert not chunks["train"] & chunks["test"]
    assert not chunks["validation"] & chunks["test"]
    placed = [r.id for n in SPLITS for r in outcome.splits[n]]
    dropped = [r.id for r in outcome.rejected]
    assert sorted(placed + dropped) == sorted(r.id for r in records)  # nothing lost, nothing twice
    assert all(r.split == n for n in SPLITS for r in outcome.splits[n])
    assert outcome.report["leaks_after_removal"] == 0
    assert outcome.report["sizes"] == {n: len(outcome.splits[n]) for n in SPLITS}


def ids(outcome: Any) -> dict[str, list[str]]:
    return {n: [r.id for r in outcome.splits[n]] for n in SPLITS}
