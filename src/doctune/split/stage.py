"""The split stage: train / validation / test per recipe, grouped by source chunk.

A model tested on a question whose source chunk it was trained on is tested on memory, not on
generalisation; so no chunk id may feed two splits. Records can cite several chunks
(distillation answers use up to three), so records sharing any chunk form one group (connected
components, union-find) and whole groups are assigned to splits, seeded. The sizes of
validation and test are hit exactly where the group sizes allow (a subset-sum over the shuffled
groups); counts are then exact, surplus records are dropped with a reason.

If the groups are too coarse to fill validation and test (retrieval over a small corpus links
nearly every chunk into one component), chunks are partitioned instead: each record goes to the
split that owns all its chunks, and records whose chunks straddle two splits are dropped.

Last, validation and test questions that are near-duplicates of a train question (leaks) are
removed, and the check is run again to show none remain.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from doctune.context import RunContext
from doctune.foundation.config import SplitSizes
from doctune.foundation.dedup import find_near_duplicates, reject
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl, write_json, write_jsonl
from doctune.foundation.recipes import record_type
from doctune.foundation.records import SPLITS, QARecord, RejectedRecord
from doctune.foundation.results import StageResult
from doctune.split import reviews as review_mod

STAGE = "split"
_FILL_FIRST = ("test", "validation")  # the small splits are filled first, train takes the rest
_FRESH_CANDIDATES = 8  # chunks from outside the frontier considered per step of a chunk partition


def record_keys(record: QARecord) -> list[str]:
    """What a record must not share across splits: its chunks (or itself, if it cites none)."""
    return list(dict.fromkeys(record.provenance.chunk_ids)) or [f"record:{record.id}"]


def group_records(records: Sequence[QARecord]) -> list[list[QARecord]]:
    """Connected components of records over shared chunk ids, in a deterministic order."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]  # path halving keeps the trees flat
            key = parent[key]
        return key

    for record in records:
        keys = record_keys(record)
        for key in keys[1:]:
            a, b = find(keys[0]), find(key)
            if a != b:
                parent[max(a, b)] = min(a, b)
        find(keys[0])
    groups: dict[str, list[QARecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.id):
        groups[find(record_keys(record)[0])].append(record)
    return [groups[root] for root in sorted(groups)]


def targets(sizes: SplitSizes, available: int, recipe: str) -> dict[str, int]:
    """Records wanted per split: counts as given, or ratios rounded to sum to `available`."""
    if sizes.is_count:
        asked = [int(v) for v in sizes.values]
        if sum(asked) > available:
            raise InputError(
                f"split sizes for '{recipe}' ask for {'/'.join(map(str, asked))} = {sum(asked)} "
                f"records (train/validation/test) but only {available} are available after "
                f"curation; lower the counts in split.sizes.{recipe} or give ratios "
                "(e.g. train: 0.8, validation: 0.1, test: 0.1)"
            )
        return dict(zip(SPLITS, asked, strict=True))
    exact = [available * v for v in sizes.values]
    counts = [math.floor(x) for x in exact]
    # Largest remainder: the records left by rounding down go to the largest fractions.
    by_fraction = sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_fraction[: available - sum(counts)]:
        counts[i] += 1
    return dict(zip(SPLITS, counts, strict=True))


def tolerance(target: int) -> int:
    """How far from its target a split may end up before the chunk partition is tried."""
    return max(1, math.ceil(0.1 * target))


def pick_groups(sizes: Sequence[int], target: int, *, exact_counts: bool) -> list[int]:
    """Indexes of groups whose sizes sum to `target`, or as close as the sizes allow.

    A subset-sum over bitsets (bit s of reach[i] set: the first i groups can sum to s). With
    exact counts, a sum just above the target is preferred to one below, because surplus records
    can be dropped to make the count exact; with ratios the nearest sum wins, ties below.
    """
    cap = target + tolerance(target)
    mask = (1 << (cap + 1)) - 1
    reach = [1]
    for size in sizes:
        reach.append((reach[-1] | (reach[-1] << size)) & mask)
    sums = [s for s in range(cap + 1) if reach[-1] >> s & 1]
    below = max(s for s in sums if s <= target)
    above = [s for s in sums if s > target]
    if below == target or not above:
        chosen = below
    elif exact_counts or above[0] - target < target - below:
        chosen = above[0]
    else:
        chosen = below
    picked = []
    for i in range(len(sizes) - 1, -1, -1):
        if not reach[i] >> chosen & 1:  # the first i groups cannot make it: group i is in
            picked.append(i)
            chosen -= sizes[i]
    return sorted(picked)


def assign_groups(
    groups: list[list[QARecord]], wanted: dict[str, int], rng: random.Random, exact_counts: bool
) -> dict[str, list[QARecord]]:
    """Whole groups to splits: test, then validation, then train (the rest, with ratios)."""
    pool = list(range(len(groups)))
    rng.shuffle(pool)
    out: dict[str, list[QARecord]] = {}
    order = (*_FILL_FIRST, "train") if exact_counts else _FILL_FIRST
    for name in order:
        chosen = set(
            pick_groups([len(groups[g]) for g in pool], wanted[name], exact_counts=exact_counts)
        )
        out[name] = [r for j, g in enumerate(pool) if j in chosen for r in groups[g]]
        pool = [g for j, g in enumerate(pool) if j not in chosen]
    out["surplus" if exact_counts else "train"] = [r for g in pool for r in groups[g]]
    return out


def assign_chunks(
    records: Sequence[QARecord], wanted: dict[str, int], rng: random.Random
) -> dict[str, list[QARecord]]:
    """Chunks to splits, then each record to the split owning all its chunks ("straddling" for
    records whose chunks ended up in two). Test and validation grow from a seeded start through
    chunks that complete the most records, so few records are cut."""
    keys_of = {r.id: record_keys(r) for r in records}
    records_of: dict[str, list[str]] = defaultdict(list)
    for rid, keys in keys_of.items():
        for key in keys:
            records_of[key].append(rid)
    order = sorted(records_of)
    rng.shuffle(order)
    owner: dict[str, str] = {}
    for name in _FILL_FIRST:
        _grow(name, wanted[name], order, owner, keys_of, records_of)
    out: dict[str, list[QARecord]] = {name: [] for name in (*SPLITS, "straddling")}
    for record in records:
        owners = {owner.get(k, "train") for k in keys_of[record.id]}
        out[owners.pop() if len(owners) == 1 else "straddling"].append(record)
    return out


def _grow(
    name: str,
    target: int,
    order: list[str],
    owner: dict[str, str],
    keys_of: dict[str, list[str]],
    records_of: dict[str, list[str]],
) -> None:
    # need[r]: chunks record r still lacks in this split; only records with no chunk owned
    # elsewhere can still land here.
    need = {r: len(k) for r, k in keys_of.items() if not any(c in owner for c in k)}
    rank = {c: i for i, c in enumerate(order)}
    frontier: set[str] = set()
    complete = 0

    def score(chunk: str) -> tuple[int, int, int]:
        live = [r for r in records_of[chunk] if r in need]
        completes = sum(1 for r in live if need[r] == 1)
        opens = sum(1 for r in live if need[r] == len(keys_of[r]) > 1)
        return completes, -opens, -rank[chunk]

    while complete < target:
        fresh = [c for c in order if c not in owner and c not in frontier][:_FRESH_CANDIDATES]
        candidates = frontier | set(fresh)
        if not candidates:
            break
        chunk = max(candidates, key=score)
        owner[chunk] = name
        frontier.discard(chunk)
        for rid in records_of[chunk]:
            if rid not in need:
                continue
            need[rid] -= 1
            if need[rid] == 0:
                complete += 1
                del need[rid]
            else:
                frontier.update(c for c in keys_of[rid] if c not in owner)


@dataclass
class SplitOutcome:
    splits: dict[str, list[QARecord]]
    rejected: list[RejectedRecord] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def _on_target(
    splits: dict[str, list[QARecord]], wanted: dict[str, int], names: Sequence[str]
) -> bool:
    return all(abs(len(splits[n]) - wanted[n]) <= tolerance(wanted[n]) for n in names if wanted[n])


def _trim(
    records: list[QARecord], count: int, rng: random.Random
) -> tuple[list[QARecord], list[QARecord]]:
    """Keep `count` records chosen by the seed; the rest are surplus."""
    if len(records) <= count:
        return records, []
    keep = set(rng.sample(range(len(records)), count))
    return [r for i, r in enumerate(records) if i in keep], [
        r for i, r in enumerate(records) if i not in keep
    ]


def remove_leaks(
    splits: dict[str, list[QARecord]], threshold: float
) -> tuple[dict[str, int], list[RejectedRecord]]:
    """Drop validation/test records whose question is a near-duplicate of a train question."""
    corpus = [(r.id, r.question) for r in splits["train"]]
    found, rejected = {}, []
    for name in ("validation", "test"):
        leaks = {
            m.id: m
            for m in find_near_duplicates(
                [(r.id, r.question) for r in splits[name]], corpus, threshold
            )
        }
        found[name] = len(leaks)
        for record in splits[name]:
            if record.id in leaks:
                m = leaks[record.id]
                detail = f"{name} question similar to train record {m.match_id} (Jaccard {m.similarity:.3f})"
                rejected.append(reject(record, "leak", detail, stage=STAGE))
        splits[name] = [r for r in splits[name] if r.id not in leaks]
    return found, rejected


def count_leaks(splits: dict[str, list[QARecord]], threshold: float) -> int:
    corpus = [(r.id, r.question) for r in splits["train"]]
    queries = [(r.id, r.question) for n in ("validation", "test") for r in splits[n]]
    return len(find_near_duplicates(queries, corpus, threshold))


def check_disjoint(splits: dict[str, list[QARecord]]) -> None:
    """Raise if any chunk id feeds two splits (an explicit raise: `assert` vanishes under -O)."""
    seen: dict[str, str] = {}
    for name in SPLITS:
        for record in splits[name]:
            for key in record_keys(record):
                if seen.setdefault(key, name) != name:
                    raise AssertionError(f"chunk {key} is in both {seen[key]} and {name}")


def chunks_per_split(splits: dict[str, list[QARecord]]) -> dict[str, int]:
    return {n: len({c for r in splits[n] for c in r.provenance.chunk_ids}) for n in SPLITS}


def split_records(
    records: Sequence[QARecord], sizes: SplitSizes, *, seed: int, leak_threshold: float, recipe: str
) -> SplitOutcome:
    """Split one dataset; a library function a notebook can call with its own records."""
    records = sorted(records, key=lambda r: r.id)  # file order must not change the split
    twice = sorted(i for i, n in Counter(r.id for r in records).items() if n > 1)
    if twice:  # records are tracked by id from here on
        raise InputError(f"{recipe}: record ids appear more than once: {', '.join(twice[:5])}")
    wanted = targets(sizes, len(records), recipe)
    exact = sizes.is_count
    rng = random.Random(f"{seed}:{recipe}")
    groups = group_records(records)
    splits, mode = assign_groups(groups, wanted, rng, exact), "groups"
    if not _on_target(splits, wanted, SPLITS if exact else _FILL_FIRST):
        splits, mode = (
            assign_chunks(records, wanted, random.Random(f"{seed}:{recipe}:chunks")),
            "chunks",
        )
    rejected = [
        reject(r, "straddles_splits", "its chunks are in more than one split", stage=STAGE)
        for r in splits.pop("straddling", [])
    ]
    surplus = splits.pop("surplus", [])
    if exact:
        splits["train"], extra = _trim(splits["train"], wanted["train"], rng)
        surplus += extra
    leaks_found, leak_rejects = remove_leaks(splits, leak_threshold)
    rejected += leak_rejects
    if exact:
        for name in _FILL_FIRST:
            splits[name], extra = _trim(splits[name], wanted[name], rng)
            surplus += extra
    detail = f"sizes ask for {'/'.join(str(wanted[n]) for n in SPLITS)} records"
    rejected += [reject(r, "surplus", detail, stage=STAGE) for r in surplus]
    check_disjoint(splits)
    splits = {n: [r.model_copy(update={"split": n}) for r in splits[n]] for n in SPLITS}
    report = {
        "mode": mode,
        "records": len(records),
        "asked": dict(zip(SPLITS, sizes.values, strict=True)),
        "targets": wanted,
        "sizes": {n: len(splits[n]) for n in SPLITS},
        "groups": len(groups),
        "largest_group": max((len(g) for g in groups), default=0),
        "chunks": chunks_per_split(splits),
        "straddling_dropped": sum(1 for r in rejected if r.reason == "straddles_splits"),
        "surplus_dropped": len(surplus),
        "leaks_found": leaks_found,
        "leaks_after_removal": count_leaks(splits, leak_threshold),
    }
    return SplitOutcome(splits, rejected, report)


async def run(ctx: RunContext) -> StageResult:
    config = ctx.config.split
    datasets = sorted(ctx.inputs("dataset", stage="curate"), key=lambda a: a.recipe or a.path)
    if not datasets:
        raise InputError(
            f"{ctx.manifest.path}: no curated datasets to split (run `doctune curate`)"
        )
    out_dir = ctx.stage_dir(STAGE)
    artifacts, reports = [], {}
    reviews = review_mod.load(ctx)
    for dataset in datasets:
        recipe = dataset.recipe or dataset.path.rsplit("/", 1)[-1].removesuffix(".jsonl")
        # Edits before splitting (the leak check reads the edited questions); rejections after,
        # so that a review never moves another record to another split.
        records, applied = review_mod.edited(
            ctx, read_jsonl(ctx.path(dataset), record_type(recipe)), reviews
        )
        outcome = split_records(
            records,
            config.sizes_for(recipe),
            seed=config.seed,
            leak_threshold=config.leak_threshold,
            recipe=recipe,
        )
        review_mod.drop_unreviewed(outcome.splits, outcome.rejected, outcome.report, applied)
        check_disjoint(outcome.splits)  # the promise of this stage, checked where it is kept
        for name in SPLITS:
            path = out_dir / recipe / f"{name}.jsonl"
            write_jsonl(path, outcome.splits[name])
            artifacts.append(
                ctx.manifest.artifact(STAGE, "dataset", path, recipe=recipe, split=name)
            )
        rejected_path = out_dir / f"{recipe}.rejected.jsonl"
        write_jsonl(rejected_path, outcome.rejected)
        artifacts.append(ctx.manifest.artifact(STAGE, "rejected", rejected_path, recipe=recipe))
        reports[recipe] = outcome.report
        _log_recipe(ctx, recipe, outcome.report)
    orphaned = review_mod.orphaned(ctx, reviews.values())
    report_path = out_dir / "report.json"
    write_json(
        report_path,
        {
            "seed": config.seed,
            "leak_threshold": config.leak_threshold,
            "recipes": reports,
            "reviews": {"orphaned": orphaned},
        },
    )
    artifacts.append(ctx.manifest.artifact(STAGE, "stats", report_path))
    summary = _summary(reports)
    summary["reviews"] = review_mod.totals(reports, orphaned)
    return StageResult(artifacts, summary)


def _log_recipe(ctx: RunContext, recipe: str, report: dict[str, Any]) -> None:
    sizes = "/".join(str(report["sizes"][n]) for n in SPLITS)
    leaks = sum(report["leaks_found"].values())
    ctx.log(
        f"split {recipe}: train/validation/test {sizes} by {report['mode']}; "
        f"leaks found {leaks}, after removal {report['leaks_after_removal']}; "
        f"straddling dropped {report['straddling_dropped']}, surplus {report['surplus_dropped']}"
    )


def _summary(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {n: sum(r["sizes"][n] for r in reports.values()) for n in SPLITS}
    summary["leaks_found"] = sum(sum(r["leaks_found"].values()) for r in reports.values())
    summary["leaks_after_removal"] = sum(r["leaks_after_removal"] for r in reports.values())
    summary["straddling_dropped"] = sum(r["straddling_dropped"] for r in reports.values())
    summary["surplus_dropped"] = sum(r["surplus_dropped"] for r in reports.values())
    summary["recipes"] = reports
    return summary
