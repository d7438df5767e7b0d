"""The split stage: train / validation / test per recipe, grouped by source chunk.

A model tested on a question whose source chunk it was trained on is tested on memory, not on
generalisation; so no chunk id may feed two splits. Records can cite several chunks
(distillation answers use up to three), so records sharing any chunk form one group and whole
groups are assigned to splits, each by a seeded hash of its own id (split/assign.py): a rerun
after an edit or an added document moves only the groups that changed. Groups too large to
place whole are cut along their chunks, and records straddling the cut are dropped.

With ratios, sizes follow the targets on average, not exactly: each group falls in a split with
that split's share, so a split's size varies by about the square root of its record count (for
the example, a few records either way); the report lists the targets next to the sizes. With
counts, sizes are exact where the records allow: a short split takes whole surplus groups
(lowest hash first), a full one hands its records of highest hash back; these choices move at
most the groups at the edge of a split when another document changes.

Last, validation and test questions that are near-duplicates of a train question (leaks) are
removed, and the check is run again to show none remain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from doctune.context import RunContext
from doctune.foundation.config import SplitSizes
from doctune.foundation.dedup import SignatureStore, find_near_duplicates, reject
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl, write_json, write_jsonl
from doctune.foundation.recipes import record_type
from doctune.foundation.records import SPLITS, QARecord, RejectedRecord
from doctune.foundation.results import StageResult
from doctune.split import reviews as review_mod
from doctune.split.assign import (
    STRADDLING,
    SURPLUS,
    assign,
    fill,
    group_key,
    group_records,
    record_keys,
    trim,
    unit_hash,
)

STAGE = "split"
SIGNATURES = "minhash.npz"  # a cache of the leak check, not an artifact
_FILL_ORDER = ("test", "validation", "train")  # the order of the slices of [0, 1)
__all__ = ["group_records", "record_keys", "split_records", "targets"]


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


def shares_for(sizes: SplitSizes, available: int) -> dict[str, float]:
    """The slices of [0, 1) a group's hash is placed by: the ratios, or with counts each count's
    share of the records available and the rest as surplus."""
    given = dict(zip(SPLITS, sizes.values, strict=True))
    if not sizes.is_count:
        return {n: given[n] for n in _FILL_ORDER}
    total = max(available, 1)
    shares = {n: given[n] / total for n in _FILL_ORDER}
    shares[SURPLUS] = max(0.0, 1.0 - sum(shares.values()))
    return shares


@dataclass
class SplitOutcome:
    splits: dict[str, list[QARecord]]
    rejected: list[RejectedRecord] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def remove_leaks(
    splits: dict[str, list[QARecord]],
    threshold: float,
    signatures: SignatureStore | None = None,
) -> tuple[dict[str, int], list[RejectedRecord]]:
    """Drop validation/test records whose question is a near-duplicate of a train question."""
    corpus = [(r.id, r.question) for r in splits["train"]]
    found, rejected = {}, []
    for name in ("validation", "test"):
        queries = [(r.id, r.question) for r in splits[name]]
        leaks = {
            m.id: m for m in find_near_duplicates(queries, corpus, threshold, signatures=signatures)
        }
        found[name] = len(leaks)
        for record in splits[name]:
            if record.id in leaks:
                m = leaks[record.id]
                detail = f"{name} question similar to train record {m.match_id} (Jaccard {m.similarity:.3f})"
                rejected.append(reject(record, "leak", detail, stage=STAGE))
        splits[name] = [r for r in splits[name] if r.id not in leaks]
    return found, rejected


def count_leaks(
    splits: dict[str, list[QARecord]],
    threshold: float,
    signatures: SignatureStore | None = None,
) -> int:
    corpus = [(r.id, r.question) for r in splits["train"]]
    queries = [(r.id, r.question) for n in ("validation", "test") for r in splits[n]]
    return len(find_near_duplicates(queries, corpus, threshold, signatures=signatures))


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


def _rescue_empty(
    parts: dict[str, list[QARecord]], wanted: dict[str, int], *, seed: int, recipe: str
) -> None:
    """Few, large groups (a small project) can leave a split empty by chance: it then takes the
    smallest group (lowest hash among equals) of the split most over its target, whole, so no
    chunk feeds two splits. Only a split left empty is rescued, so larger projects, whose splits
    are never empty, keep the pure hash placement."""
    for name in SPLITS:
        if wanted[name] <= 0 or parts[name]:
            continue
        donors = sorted(SPLITS, key=lambda n: wanted[n] - len(parts[n]))  # most over first
        by_donor = {
            n: sorted(
                group_records(parts[n]),
                key=lambda g: (len(g), unit_hash(seed, recipe, group_key(g))),
            )
            for n in donors
        }
        donor = next((n for n in donors if len(by_donor[n]) >= 2), None)
        if donor is None:  # never empty a donor
            continue
        groups = by_donor[donor]
        moved = {r.id for r in groups[0]}
        parts[name] = [r for r in parts[donor] if r.id in moved]
        parts[donor] = [r for r in parts[donor] if r.id not in moved]


def split_records(
    records: Sequence[QARecord],
    sizes: SplitSizes,
    *,
    seed: int,
    leak_threshold: float,
    recipe: str,
    signatures: SignatureStore | None = None,
) -> SplitOutcome:
    """Split one dataset; a library function a notebook can call with its own records.
    `signatures`: the leak check's MinHash signatures kept from an earlier run, if any."""
    signatures = signatures if signatures is not None else SignatureStore()
    records = sorted(records, key=lambda r: r.id)  # file order must not change the split
    twice = sorted(i for i, n in Counter(r.id for r in records).items() if n > 1)
    if twice:  # records are tracked by id from here on
        raise InputError(f"{recipe}: record ids appear more than once: {', '.join(twice[:5])}")
    wanted = targets(sizes, len(records), recipe)
    exact = sizes.is_count
    parts, placed = assign(records, shares_for(sizes, len(records)), seed=seed, recipe=recipe)
    rejected = [
        reject(r, "straddles_splits", "its chunks are in more than one split", stage=STAGE)
        for r in parts.pop(STRADDLING)
    ]
    parts.setdefault(SURPLUS, [])
    if exact:  # validation and test are trimmed after the leak check, which may take some
        fill(parts, wanted, _FILL_ORDER, seed=seed, recipe=recipe)
        trim(parts, wanted, ("train",), seed=seed, recipe=recipe)
        # What train hands back can fill a split the hashes left short (few groups: a small
        # project's test set would otherwise stay empty while train drops records).
        fill(parts, wanted, _FILL_ORDER, seed=seed, recipe=recipe)
    elif any(wanted[n] > 0 and not parts[n] for n in SPLITS):
        _rescue_empty(parts, wanted, seed=seed, recipe=recipe)
    splits = {n: parts[n] for n in SPLITS}
    leaks_found, leak_rejects = remove_leaks(splits, leak_threshold, signatures)
    rejected += leak_rejects
    if exact:
        parts.update(splits)
        trim(parts, wanted, ("test", "validation"), seed=seed, recipe=recipe)
        splits = {n: parts[n] for n in SPLITS}
    surplus = parts[SURPLUS]
    detail = f"sizes ask for {'/'.join(str(wanted[n]) for n in SPLITS)} records"
    rejected += [reject(r, "surplus", detail, stage=STAGE) for r in surplus]
    check_disjoint(splits)
    splits = {n: [r.model_copy(update={"split": n}) for r in splits[n]] for n in SPLITS}
    report = _report(records, sizes, wanted, splits, placed, rejected, surplus, leaks_found)
    report["leaks_after_removal"] = count_leaks(splits, leak_threshold, signatures)
    return SplitOutcome(splits, rejected, report)


def _report(
    records: Sequence[QARecord],
    sizes: SplitSizes,
    wanted: dict[str, int],
    splits: dict[str, list[QARecord]],
    placed: dict[str, Any],
    rejected: list[RejectedRecord],
    surplus: list[QARecord],
    leaks_found: int,
) -> dict[str, Any]:
    """What split_records reports about one dataset (the leak count after removal is added by
    the caller, which holds the signatures)."""
    sized = {n: len(splits[n]) for n in SPLITS}
    return {
        "mode": "hash",
        "records": len(records),
        "asked": dict(zip(SPLITS, sizes.values, strict=True)),
        "targets": wanted,
        "sizes": sized,
        # With ratios the sizes follow the targets on average (see the module doc).
        "off_target": {n: sized[n] - wanted[n] for n in SPLITS},
        **placed,
        "chunks": chunks_per_split(splits),
        "straddling_dropped": sum(1 for r in rejected if r.reason == "straddles_splits"),
        "surplus_dropped": len(surplus),
        "leaks_found": leaks_found,
    }


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
    signatures = SignatureStore(out_dir / SIGNATURES)
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
            signatures=signatures,
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
    signatures.save()
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
