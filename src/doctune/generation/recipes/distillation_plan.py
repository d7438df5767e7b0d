"""Knowledge distillation's plan: topics merged across documents, each with a home document,
and the target size dealt over the topic x facet cells (see recipes/distillation.py for what a
rerun keeps). Pure functions of the topic lists and the config: the dry run plans with them too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from doctune.foundation.records import stable_id
from doctune.generation.common import normalise
from doctune.generation.schemas import Topic

_NON_WORD = re.compile(r"[^\w]+|_")


@dataclass
class MergedTopic:
    key: str
    name: str
    category: str
    summary: str
    doc_ids: list[str] = field(default_factory=list)
    rank: int = 0  # best position in any document's list (0 = most important)
    home: str = ""  # the document its name, summary and context come from (see module doc)


@dataclass(frozen=True)
class Cell:
    topic: MergedTopic
    facet: str
    n: int  # questions kept
    ask: int = 0  # questions asked for (n when 0)

    @property
    def asked(self) -> int:
        return self.ask or self.n


def topic_key(name: str) -> str:
    """The name used to merge topics: case, punctuation and a leading article do not count."""
    key = _NON_WORD.sub(" ", normalise(name)).strip()
    return key[4:] if key.startswith("the ") else key


def home_rank(key: str, doc_id: str) -> str:
    """A topic's home is the document naming it with the lowest value: a hash of the two, so
    which documents there are besides never matters."""
    return stable_id("home", key, doc_id)


def merge_topics(
    overviews: Sequence[tuple[str, Sequence[Topic]]], limit: int | None = None
) -> list[MergedTopic]:
    """Merge per-document topic lists (in document order), best first, at most `limit`."""
    merged: dict[str, MergedTopic] = {}
    for doc_id, topics in overviews:
        for rank, topic in enumerate(topics):
            key = topic_key(topic.name)
            if not key:
                continue
            found = merged.setdefault(key, MergedTopic(key, "", "", "", rank=rank))
            found.rank = min(found.rank, rank)
            if doc_id in found.doc_ids:
                continue
            found.doc_ids.append(doc_id)
            if not found.home or home_rank(key, doc_id) < home_rank(key, found.home):
                found.home = doc_id
                found.name, found.category = topic.name.strip(), topic.category
                found.summary = topic.summary
    # Stable sort: within equal keys, first appearance decides.
    ordered = sorted(merged.values(), key=lambda t: (-len(t.doc_ids), t.rank))
    return ordered[:limit]


def quota(target: int, cells: int, cap: int) -> tuple[int, int]:
    """(questions every cell gets, cells that get one more): at most ceil(target / cells) and
    `cap` each, summing to the target where the cap allows."""
    if cells == 0:
        return 0, 0
    per_cell = min(math.ceil(target / cells), cap)
    return divmod(min(target, per_cell * cells), cells)


def plan_counts(target: int, topics: int, facets: int, cap: int) -> list[list[int]]:
    """Questions per [topic][facet] as `quota` deals them, the extras by position (facet by
    facet across topics): the totals and cells of `plan_cells`, for estimates that know no
    topic names yet."""
    if topics * facets == 0:
        return []
    base, extra = quota(target, topics * facets, cap)
    counts = [[base] * facets for _ in range(topics)]
    for i in range(extra):
        facet, topic = divmod(i, topics)
        counts[topic][facet] += 1
    return counts


def cell_rank(key: str, facet: str) -> str:
    return stable_id("cell", key, facet)


def plan_cells(
    topics: Sequence[MergedTopic], facets: Sequence[str], target: int, cap: int
) -> list[Cell]:
    """The cells with questions, in topic then facet order. Each gets the quota; the extras go
    to the cells of lowest `cell_rank`, a hash of the topic's key and the facet, so a cell's
    count does not depend on the topics' order; each asks for the quota plus one (see module
    doc)."""
    base, extra = quota(target, len(topics) * len(facets), cap)
    pairs = [(t, f) for t in topics for f in facets]
    lucky = set(
        sorted(range(len(pairs)), key=lambda i: cell_rank(pairs[i][0].key, pairs[i][1]))[:extra]
    )
    ask = min(cap, base + 1)
    cells = [Cell(t, f, base + (i in lucky), ask) for i, (t, f) in enumerate(pairs)]
    return [c for c in cells if c.n > 0]
