"""Which split each record goes to, decided so that a rerun moves only what changed.

Records sharing a chunk form a group (a connected component). Each group is placed by a seeded
hash of its own id (its smallest chunk id) against the cumulative split shares, so its split
depends on nothing outside the group: editing another document or adding one leaves it where it
was. The price is that split sizes follow the targets only on average (each group lands in
`test` with probability `test` share, ...); the report gives targets and sizes side by side.

A group of more than CUT_ABOVE records (retrieval links the chunks of one document into one
component) would put too many records in one place at once, so it is cut instead: its chunks are
partitioned between the splits, each split's share of the group fixed by a systematic rounding
seeded by the group's id, and records whose chunks end up in two splits are dropped. The cut
depends only on the group's own records and chunk ids, so it too is the same in every run until
the group itself changes. A cut that would cost more records (dropped, or crowded into one
part) than placing the group whole does (records that cite mostly the same few chunks, as
distillation's retrieved contexts do) is not made: the group goes whole, by its hash.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence

from doctune.foundation.records import QARecord

# Groups up to this many records go to one split whole; larger ones are cut (see module doc).
CUT_ABOVE = 8
_FRESH_CANDIDATES = 8  # chunks from outside the frontier considered per step of a cut
SURPLUS = "surplus"
STRADDLING = "straddling"


def record_keys(record: QARecord) -> list[str]:
    """What a record must not share across splits: its chunks (or itself, if it cites none)."""
    return list(dict.fromkeys(record.provenance.chunk_ids)) or [f"record:{record.id}"]


def group_records(records: Sequence[QARecord]) -> list[list[QARecord]]:
    """Connected components of records over shared chunk ids, in a deterministic order (each
    group's records by id, groups by their smallest key)."""
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
                parent[max(a, b)] = min(a, b)  # the root is the component's smallest key
        find(keys[0])
    groups: dict[str, list[QARecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.id):
        groups[find(record_keys(record)[0])].append(record)
    return [groups[root] for root in sorted(groups)]


def group_key(group: Sequence[QARecord]) -> str:
    return min(k for r in group for k in record_keys(r))


def unit_hash(seed: int, recipe: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, recipe, key) alone."""
    digest = hashlib.sha256(f"{seed}\x1f{recipe}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def bucket(u: float, shares: dict[str, float]) -> str:
    """The name whose slice of [0, 1) (in the order of `shares`) holds u."""
    edge = 0.0
    for name, share in shares.items():
        edge += share
        if u < edge:
            return name
    return next(n for n, s in reversed(shares.items()) if s > 0)


def rounded_counts(size: int, shares: dict[str, float], u: float) -> dict[str, int]:
    """`size` records divided by `shares` with a systematic rounding offset by u: the counts sum
    to `size`, each is within one of size x share, and over many groups none is favoured."""
    out, edge, before = {}, 0.0, 0
    for name, share in shares.items():
        edge += share
        upto = min(size, math.floor(size * edge + u))
        out[name] = upto - before
        before = upto
    last = next(n for n, s in reversed(shares.items()) if s > 0)
    out[last] += size - before
    return out


def assign(
    records: Sequence[QARecord], shares: dict[str, float], *, seed: int, recipe: str
) -> tuple[dict[str, list[QARecord]], dict[str, int]]:
    """Records to the names of `shares` (splits, maybe a surplus) and STRADDLING; with counts
    of the groups seen and cut. The last name of `shares` with a share takes what a cut leaves."""
    out: dict[str, list[QARecord]] = {name: [] for name in (*shares, STRADDLING)}
    groups = group_records(records)
    cut = 0
    for group in groups:
        key = group_key(group)
        u = unit_hash(seed, recipe, key)
        if len(group) <= CUT_ABOVE:
            out[bucket(u, shares)].extend(group)
            continue
        wanted = rounded_counts(len(group), shares, u)
        parts = cut_group(group, wanted, seed=seed, recipe=recipe)
        # Placed whole, a group misses on average size x (1 - sum of squared shares) records of
        # its wish; the choice must not depend on where its hash falls, or it would bias sizes.
        whole_cost = len(group) * (1 - sum(s * s for s in shares.values()))
        if misplaced(parts, wanted) >= whole_cost:
            # Records citing mostly the same few chunks cannot be cut: every part but one would
            # lose its records. Whole, by its hash, the group is at least placed without bias.
            out[bucket(u, shares)].extend(group)
            continue
        cut += 1
        for name, placed in parts.items():
            out[name].extend(placed)
    stats = {
        "groups": len(groups),
        "groups_cut": cut,
        "largest_group": max((len(g) for g in groups), default=0),
    }
    return out, stats


def misplaced(parts: dict[str, list[QARecord]], wanted: dict[str, int]) -> int:
    """What a cut costs against its wish: records a part holds beyond what it wanted (they are
    missing from another part), and records dropped as straddling, counted twice: a dropped
    record is lost, where a group placed whole only shifts the sizes (without bias over many
    groups, while a failed cut always favours the part grown first)."""
    over = sum(max(0, len(parts[n]) - w) for n, w in wanted.items())
    return 2 * len(parts[STRADDLING]) + over


def cut_group(
    group: Sequence[QARecord], wanted: dict[str, int], *, seed: int, recipe: str
) -> dict[str, list[QARecord]]:
    """One group's chunks partitioned so that each name gets about `wanted` records; records
    whose chunks are in two parts are STRADDLING. Each part grows from the chunk of lowest hash
    not yet taken through chunks that complete the most records, so few records are cut; the
    last name with a wish takes the remaining chunks."""
    keys_of = {r.id: record_keys(r) for r in group}
    records_of: dict[str, list[str]] = defaultdict(list)
    for rid, keys in keys_of.items():
        for key in keys:
            records_of[key].append(rid)
    order = sorted(records_of, key=lambda c: (unit_hash(seed, recipe, c), c))
    names = [n for n, w in wanted.items() if w > 0] or list(wanted)[-1:]
    owner: dict[str, str] = {}
    for name in names[:-1]:
        _grow(name, wanted[name], order, owner, keys_of, records_of)
    out: dict[str, list[QARecord]] = {name: [] for name in (*wanted, STRADDLING)}
    for record in group:
        owners = {owner.get(k, names[-1]) for k in keys_of[record.id]}
        out[owners.pop() if len(owners) == 1 else STRADDLING].append(record)
    return out


def _grow(
    name: str,
    target: int,
    order: list[str],
    owner: dict[str, str],
    keys_of: dict[str, list[str]],
    records_of: dict[str, list[str]],
) -> None:
    # need[r]: chunks record r still lacks in this part; only records with no chunk owned
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


def fill(
    parts: dict[str, list[QARecord]],
    wanted: dict[str, int],
    names: Sequence[str],
    *,
    seed: int,
    recipe: str,
) -> None:
    """A split short of its count takes whole components of the surplus, lowest hash first. A
    component that shares a chunk with another split (records `trim` handed back from it) may
    only go back there, so no chunk ever feeds two splits."""
    spare = sorted(
        group_records(parts[SURPLUS]), key=lambda g: unit_hash(seed, recipe, group_key(g))
    )
    owner = {k: n for n in names for r in parts[n] for k in record_keys(r)}
    for name in names:
        kept = []
        for group in spare:
            others = {owner[k] for r in group for k in record_keys(r) if k in owner} - {name}
            if len(parts[name]) >= wanted[name] or others:
                kept.append(group)
                continue
            parts[name].extend(group)
            owner.update((k, name) for r in group for k in record_keys(r))
        spare = kept
    parts[SURPLUS] = [r for g in spare for r in g]


def trim(
    parts: dict[str, list[QARecord]],
    wanted: dict[str, int],
    names: Sequence[str],
    *,
    seed: int,
    recipe: str,
) -> None:
    """A split over its count hands its records of highest hash back to the surplus. Both this
    and `fill` choose by each unit's own hash, so an edit elsewhere moves at most the units at
    the edge of a split."""
    for name in names:
        if len(parts[name]) > wanted[name]:
            ranked = sorted(parts[name], key=lambda r: unit_hash(seed, recipe, f"record:{r.id}"))
            parts[name] = sorted(ranked[: wanted[name]], key=lambda r: r.id)
            parts[SURPLUS].extend(ranked[wanted[name] :])
