"""Exact and near-duplicate removal; the LSH finds candidates, the exact Jaccard decides."""

from __future__ import annotations

import random

import pytest

from doctune.foundation.dedup import (
    MAX_MISS_PROBABILITY,
    NUM_PERM,
    SignatureStore,
    deduplicate,
    exact_key,
    find_near_duplicates,
    jaccard,
    lsh_params,
    shingles,
)

from .factories import record

BASE = (
    "In the Boots process for ibuprofen, at what temperature is isobutylbenzene acylated with "
    "acetic anhydride and aluminium chloride?"
)
NEAR = BASE.replace("aluminium chloride?", "aluminium trichloride?")
ANSWER = "The Friedel-Crafts acylation is carried out at 0–5 °C with 1.1 equivalents of AlCl3."


def test_shingles_are_word_trigrams_of_the_normalised_text() -> None:
    assert shingles("What is the Yield?") == {"what is the", "is the yield"}
    assert shingles("Yield of 0.21 mol") == {"yield of 0.21", "of 0.21 mol"}
    assert shingles("Yield?") == {"yield"}  # shorter than three words: one shingle
    assert shingles("?!") == frozenset()


def test_exact_key_ignores_case_spacing_and_final_punctuation_only() -> None:
    assert exact_key("What is the yield?", "It is 85 %.") == exact_key(
        "what  is the YIELD", "It is 85 %"
    )
    assert exact_key("Ratio?", "1:1.05") != exact_key("Ratio?", "1.1.05")


def test_exact_duplicates_keep_the_first() -> None:
    first = record("a", BASE, ANSWER, ["c-boots"])
    again = record("b", BASE.upper().replace(" ", "  "), ANSWER + " ", ["c-boots"])
    kept, rejected = deduplicate([first, again], threshold=0.85)
    assert [r.id for r in kept] == ["a"]
    assert [(r.id, r.reason) for r in rejected] == [("b", "duplicate")]
    assert "a" in rejected[0].detail
    assert rejected[0].record["question"] == again.question


def test_near_duplicate_is_dropped_with_the_kept_id_and_similarity() -> None:
    similarity = jaccard(shingles(BASE), shingles(NEAR))
    assert similarity == pytest.approx(15 / 17)
    kept, rejected = deduplicate(
        [record("a", BASE, ANSWER, ["c-boots"]), record("b", NEAR, ANSWER, ["c-boots"])], 0.85
    )
    assert [r.id for r in kept] == ["a"]
    (drop,) = rejected
    assert drop.reason == "near_duplicate"
    assert "a" in drop.detail and f"{similarity:.3f}" in drop.detail


def test_threshold_means_exactly_what_it_says() -> None:
    pair = [record("a", BASE, ANSWER, ["c-boots"]), record("b", NEAR, "Other answer.", ["c-x"])]
    similarity = jaccard(shingles(BASE), shingles(NEAR))
    at = deduplicate(pair, threshold=similarity)[0]
    above = deduplicate(pair, threshold=similarity + 1e-9)[0]
    assert [r.id for r in at] == ["a"]
    assert [r.id for r in above] == ["a", "b"]


def test_a_chain_is_compared_with_kept_records_only() -> None:
    words = [f"w{i}" for i in range(40)]
    a = " ".join(words[:20])
    b = " ".join(words[2:22])  # J(a, b) = 16/20 = 0.8
    c = " ".join(words[4:24])  # J(b, c) = 0.8, J(a, c) = 14/22
    records = [record(x, q, ANSWER, ["c"]) for x, q in (("a", a), ("b", b), ("c", c))]
    kept, rejected = deduplicate(records, threshold=0.8)
    assert [r.id for r in kept] == ["a", "c"]
    assert [r.id for r in rejected] == ["b"]


def test_lsh_bands_keep_misses_at_the_threshold_negligible() -> None:
    for threshold in (0.5, 0.7, 0.8, 0.85, 0.9, 0.95):
        bands, rows = lsh_params(threshold)
        assert bands * rows <= NUM_PERM
        assert (1 - threshold**rows) ** bands <= MAX_MISS_PROBABILITY


def _pair_with_jaccard_at_least(rng: random.Random, vocab: list[str], threshold: float) -> tuple:
    base = rng.sample(vocab, 30)
    other = list(base)
    # Change one word at a time until just above the threshold would be crossed.
    while True:
        trial = list(other)
        trial[rng.randrange(len(trial))] = rng.choice(vocab)
        if jaccard(shingles(" ".join(base)), shingles(" ".join(trial))) < threshold:
            return " ".join(base), " ".join(other)
        other = trial


def test_every_pair_above_the_threshold_is_found_and_none_below() -> None:
    rng = random.Random(7)
    vocab = [f"term{i}" for i in range(3000)]
    threshold = 0.8
    pairs = [_pair_with_jaccard_at_least(rng, vocab, threshold) for _ in range(150)]
    corpus = [(f"t{i}", a) for i, (a, _) in enumerate(pairs)]
    queries = [(f"q{i}", b) for i, (_, b) in enumerate(pairs)]
    queries += [(f"u{i}", " ".join(rng.sample(vocab, 30))) for i in range(150)]  # unrelated
    found = {m.id: m for m in find_near_duplicates(queries, corpus, threshold)}
    assert set(found) == {f"q{i}" for i in range(150)}
    for i, (a, b) in enumerate(pairs):
        match = found[f"q{i}"]
        assert match.match_id == f"t{i}"
        assert match.similarity == jaccard(shingles(a), shingles(b)) >= threshold


def test_find_near_duplicates_returns_the_most_similar_match() -> None:
    words = [f"w{i}" for i in range(30)]
    query = " ".join(words[:20])
    close = " ".join([*words[:19], "x"])
    closer = " ".join(words[:20]) + "?"
    found = find_near_duplicates([("q", query)], [("close", close), ("closer", closer)], 0.8)
    assert [(m.id, m.match_id, m.similarity) for m in found] == [("q", "closer", 1.0)]
    assert find_near_duplicates([("q", query)], [], 0.8) == []


def test_kept_signatures_are_reused_and_give_the_same_verdicts(tmp_path) -> None:
    rng = random.Random(11)
    vocab = [f"term{i}" for i in range(400)]
    records = [
        record(f"r{i:03d}", " ".join(rng.sample(vocab, 12)), ANSWER, ["c"]) for i in range(60)
    ]
    records += [record("near", NEAR, ANSWER, ["c"]), record("base", BASE, ANSWER, ["c"])]
    path = tmp_path / "minhash.npz"
    first = SignatureStore(path)
    kept, rejected = deduplicate(records, 0.85, signatures=first)
    first.save()
    assert first.computed == 62 and [r.id for r in rejected] == [
        "base"
    ]  # the first of the two is kept
    again = SignatureStore(path)
    assert (kept, rejected) == deduplicate(records, 0.85, signatures=again)
    assert again.computed == 0  # every question's signature came from the file
    edited = [
        *records[1:],
        record("new", "Which solvent is used for the bromination?", ANSWER, ["c"]),
    ]
    third = SignatureStore(path)
    deduplicate(edited, 0.85, signatures=third)
    assert third.computed == 1
    path.write_bytes(b"not a numpy file")  # a damaged cache only costs the computation
    assert deduplicate(records, 0.85, signatures=SignatureStore(path)) == (kept, rejected)
