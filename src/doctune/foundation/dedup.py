"""Exact and near-duplicate questions.

Exact duplicates share their normalised question and answer. Near-duplicates are questions whose
word 3-gram shingle sets have a Jaccard similarity at or above a threshold. MinHash LSH only
proposes candidates; every candidate is verified with the exact Jaccard, so the threshold means
what it says (no pair below it is ever called a duplicate). The LSH bands are chosen for recall
at the threshold (see `lsh_params`), so pairs just above it are not missed either.

`find_near_duplicates` (one set of questions against another) is what the split's leak check uses.

The MinHash signatures are computed here with numpy (datasketch's package import alone pulls in
scipy and took 0.5 s of every rerun) and can be kept between runs in a `SignatureStore`, keyed by
the hash of a question's shingle set: a rerun computes signatures for new questions only.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from doctune.foundation.records import QARecord, RejectedRecord

SHINGLE_WORDS = 3
NUM_PERM = 128
# A pair at the threshold may be missed by the LSH with at most this probability. datasketch's own
# choice of bands balances misses against false candidates and misses ~1 % of pairs at the
# threshold; false candidates cost one exact set comparison each, so recall wins.
MAX_MISS_PROBABILITY = 1e-6
_MINHASH_SEED = 1
_PRIME = (1 << 61) - 1
# One (a, b) pair per permutation, h -> ((a h + b) mod p) mod 2**32; a, b < 2**32 and a 32-bit h
# keep a h + b below 2**64, so uint64 arithmetic is exact.
_RNG = np.random.default_rng(_MINHASH_SEED)
_A = _RNG.integers(1, 1 << 32, size=NUM_PERM, dtype=np.uint64)
_B = _RNG.integers(0, 1 << 32, size=NUM_PERM, dtype=np.uint64)

# Words keep inner decimal points and commas so "0.21 mol" is one word "0.21", not "0" and "21".
_WORD = re.compile(r"\w+(?:[.,]\w+)*")
_TOKEN = re.compile(r"\w+(?:[.,]\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Lower-cased words of `text`, Unicode-normalised (NFKC), punctuation dropped."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, n: int = SHINGLE_WORDS) -> frozenset[str]:
    """Word n-grams of `text`; a text shorter than n words is one shingle of all its words."""
    tokens = words(text)
    if not tokens:
        return frozenset()
    if len(tokens) < n:
        return frozenset({" ".join(tokens)})
    return frozenset(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) with the fewest false candidates whose chance of missing a pair of Jaccard
    `threshold` is below MAX_MISS_PROBABILITY. A pair becomes a candidate when all rows of some
    band agree, which for MinHash happens with probability 1 - (1 - J**rows)**bands."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if (1 - threshold**rows) ** bands <= MAX_MISS_PROBABILITY:
            return bands, rows
    return num_perm, 1


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def exact_key(question: str, answer: str) -> str:
    """What two records share when they are the same record: case, spacing and final
    punctuation do not count; other punctuation does ("1:1.05" is not "1.1.05")."""

    def norm(text: str) -> str:
        tokens = _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())
        while tokens and tokens[-1] in {".", "?", "!"}:
            tokens.pop()
        return " ".join(tokens)

    return f"{norm(question)}\x1f{norm(answer)}"


@dataclass(frozen=True)
class NearDuplicate:
    """`id` is a near-duplicate of `match_id` (its most similar match) at `similarity`."""

    id: str
    match_id: str
    similarity: float


def signature_key(items: frozenset[str]) -> str:
    """What a signature is stored under: the hash of the shingle set, not the record id, so an
    edited question gets a new signature and a renamed record keeps its old one."""
    return hashlib.sha256("\x1f".join(sorted(items)).encode()).hexdigest()[:32]


def minhash(items: frozenset[str], num_perm: int = NUM_PERM) -> np.ndarray:
    """The MinHash signature (uint32, one value per permutation) of a non-empty shingle set."""
    hashes = np.fromiter(
        (int.from_bytes(hashlib.sha1(s.encode()).digest()[:4], "little") for s in items),
        dtype=np.uint64,
        count=len(items),
    )
    mixed = (hashes[:, None] * _A[None, :num_perm] + _B[None, :num_perm]) % _PRIME
    return (mixed & 0xFFFFFFFF).min(axis=0).astype(np.uint32)


class SignatureStore:
    """MinHash signatures by `signature_key`, loaded from and saved to one .npz file (a cache:
    a missing or unreadable file only means the signatures are computed again)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._found: dict[str, np.ndarray] = {}
        self.used: set[str] = set()
        self.computed = 0
        if path is not None and path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    keys, values = data["keys"], data["signatures"]
                self._found = {str(k): values[i] for i, k in enumerate(keys)}
            except (OSError, ValueError, KeyError):
                self._found = {}

    def get(self, items: frozenset[str]) -> np.ndarray:
        key = signature_key(items)
        self.used.add(key)
        if key not in self._found:
            self._found[key] = minhash(items)
            self.computed += 1
        return self._found[key]

    def save(self) -> None:
        """Write the signatures used since loading (the ones no record needs any more go)."""
        if self.path is None:
            return
        keys = sorted(self.used)
        values = np.stack([self._found[k] for k in keys]) if keys else np.zeros((0, NUM_PERM))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial.npz")
        np.savez(partial, keys=np.array(keys, dtype="U32"), signatures=values.astype(np.uint32))
        os.replace(partial, self.path)


class NearDuplicateIndex:
    """Questions added by id; `query` returns the verified matches of a new question."""

    def __init__(
        self,
        threshold: float,
        *,
        num_perm: int = NUM_PERM,
        signatures: SignatureStore | None = None,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if num_perm != NUM_PERM:
            raise ValueError(f"num_perm must be {NUM_PERM}, got {num_perm}")
        self.threshold = threshold
        self.num_perm = num_perm
        bands, rows = lsh_params(threshold, num_perm)
        self._bands = [(b * rows, (b + 1) * rows) for b in range(bands)]
        self._buckets: list[dict[bytes, list[int]]] = [defaultdict(list) for _ in self._bands]
        self._signatures = signatures if signatures is not None else SignatureStore()
        self._ids: list[str] = []
        self._shingles: list[frozenset[str]] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, id: str, text: str) -> None:
        items = shingles(text)
        position = len(self._ids)
        self._ids.append(id)
        self._shingles.append(items)
        if items:  # an empty question has nothing to be similar by
            signature = self._signatures.get(items)
            for (lo, hi), buckets in zip(self._bands, self._buckets, strict=True):
                buckets[signature[lo:hi].tobytes()].append(position)

    def query(self, text: str) -> list[tuple[str, float]]:
        """(id, exact Jaccard) of indexed questions at or above the threshold, most similar first,
        ties in the order they were added."""
        items = shingles(text)
        if not items or not self._ids:
            return []
        signature = self._signatures.get(items)
        candidates: set[int] = set()
        for (lo, hi), buckets in zip(self._bands, self._buckets, strict=True):
            candidates.update(buckets.get(signature[lo:hi].tobytes(), ()))
        found = []
        for position in candidates:
            similarity = jaccard(items, self._shingles[position])
            if similarity >= self.threshold:
                found.append((position, similarity))
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return [(self._ids[p], s) for p, s in found]


def find_near_duplicates(
    queries: Iterable[tuple[str, str]],
    corpus: Iterable[tuple[str, str]],
    threshold: float,
    *,
    signatures: SignatureStore | None = None,
) -> list[NearDuplicate]:
    """For each (id, question) of `queries`, its most similar (id, question) of `corpus` with an
    exact word 3-gram Jaccard >= threshold. Queries with no such match are not listed; the result
    keeps the order of `queries`."""
    index = NearDuplicateIndex(threshold, signatures=signatures)
    for id_, text in corpus:
        index.add(id_, text)
    out = []
    for id_, text in queries:
        matches = index.query(text)
        if matches:
            match_id, similarity = matches[0]
            out.append(NearDuplicate(id_, match_id, similarity))
    return out


def reject(record: QARecord, reason: str, detail: str, stage: str = "curate") -> RejectedRecord:
    return RejectedRecord(
        id=record.id,
        stage=stage,
        reason=reason,
        detail=detail,
        record=record.model_dump(mode="json"),
    )


def deduplicate(
    records: Sequence[QARecord], threshold: float, *, signatures: SignatureStore | None = None
) -> tuple[list[QARecord], list[RejectedRecord]]:
    """Drop exact duplicates, then near-duplicate questions, keeping the first of each in the
    order given. A record is compared with the records kept so far only, so a chain
    a ~ b ~ c with a !~ c keeps a and c. `signatures`: kept from an earlier run, if any."""
    kept: list[QARecord] = []
    rejected: list[RejectedRecord] = []
    first_by_key: dict[str, str] = {}
    index = NearDuplicateIndex(threshold, signatures=signatures)
    for record in records:
        key = exact_key(record.question, record.answer)
        if key in first_by_key:
            rejected.append(
                reject(record, "duplicate", f"same question and answer as {first_by_key[key]}")
            )
            continue
        first_by_key[key] = record.id
        matches = index.query(record.question)
        if matches:
            match_id, similarity = matches[0]
            rejected.append(
                reject(
                    record,
                    "near_duplicate",
                    f"question similar to {match_id} (Jaccard {similarity:.3f})",
                )
            )
            continue
        index.add(record.id, record.question)
        kept.append(record)
    return kept, rejected
