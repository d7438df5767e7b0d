"""BM25 retrieval over chunks: context for knowledge distillation here, RAG baselines later.

Tokens are lower-cased alphanumeric runs with English stop words removed and no stemming: the
corpus is chemistry, where a stemmer mangles substance names ("isobutylbenzene", "bromination")
more than it helps. Hyphenated names split into their parts ("1-bromo-4-isobutylbenzene" ->
"bromo", "isobutylbenzene"), so a question naming a substance finds the chunk that names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from doctune.foundation.records import Chunk

if TYPE_CHECKING:
    import bm25s

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@cache
def _stop_words() -> frozenset[str]:
    # bm25s (with scipy) is imported on first use: every CLI command imports this module, and
    # most never search (0.1-0.3 s of a rerun that has nothing to do).
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def preload() -> None:
    """Import bm25s (and scipy with it, 0.1-0.3 s) now. For a caller that will build an index
    later and waits on something else first: in a thread, the import overlaps that wait instead
    of holding up the index (synthesis starts it while its first calls are out)."""
    _stop_words()
    import bm25s  # noqa: F401


# Scores are float32 sums whose last bits depend on summation order; rounding before sorting
# keeps equal scores equal, so ties always break by chunk position.
_SCORE_DECIMALS = 5


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words; single digits are kept ("pH 2", "step 3")."""
    stop = _stop_words()
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop]


class ChunkIndex:
    """BM25 over chunk texts (and their section headings), searched by free-text queries.

    `search` is deterministic: results are ordered by score, then by the chunk's position in the
    list the index was built from. Chunks that share no term with the query are never returned.
    """

    def __init__(self, chunks: Sequence[Chunk], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.chunks: list[Chunk] = list(chunks)
        self._bm25: bm25s.BM25 | None = None
        self._window_cache: dict[int, dict[Window, list[int]]] = {}
        if not self.chunks:
            return
        import bm25s

        corpus = [tokenize(f"{c.section or ''}\n{c.text}") for c in self.chunks]
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        # create_empty_token lets a chunk with no tokens be indexed without an error.
        self._bm25.index(corpus, create_empty_token=True, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunks)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for `query` (zeros when no query term is in the corpus)."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in tokenize(query) if t in vocab]
        if not ids:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """The `k` best chunks for `query` with their scores, best first."""
        if k <= 0 or not self.chunks:
            return []
        scores = np.round(self.scores(query).astype(np.float64), _SCORE_DECIMALS)
        # lexsort sorts by the last key first: score descending, then position ascending.
        order = np.lexsort((np.arange(len(scores)), -scores))
        return [(self.chunks[i], float(scores[i])) for i in order[:k] if scores[i] > 0]

    def search_window(
        self, query: str, k: int, size: int, *, within: Window | None = None
    ) -> list[Chunk]:
        """Up to `k` chunks from ONE window (`size` consecutive chunks of one document): the
        window of the best chunk for `query` (or `within`), its chunks ordered by score, then
        position. Empty when nothing matches and no window is given.

        Why windows: context drawn from anywhere in the corpus ties every record to every other
        through shared chunks, and then no split by source can keep test knowledge out of
        training. Records whose context stays inside one window group by window, and
        neighbouring chunks are the same section, so the context stays on topic.
        """
        if k <= 0 or not self.chunks:
            return []
        scores = np.round(self.scores(query).astype(np.float64), _SCORE_DECIMALS)
        if within is None:
            best = int(np.lexsort((np.arange(len(scores)), -scores))[0])
            if scores[best] <= 0:
                return []
            within = window_of(self.chunks[best], size)
        members = self._windows(size).get(within, [])
        members = sorted(members, key=lambda i: (-scores[i], i))
        return [self.chunks[i] for i in members[:k]]

    def _windows(self, size: int) -> dict[Window, list[int]]:
        if size not in self._window_cache:
            table: dict[Window, list[int]] = {}
            for i, chunk in enumerate(self.chunks):
                table.setdefault(window_of(chunk, size), []).append(i)
            self._window_cache[size] = table
        return self._window_cache[size]


Window = tuple[str, int]


def window_of(chunk: Chunk, size: int) -> Window:
    """The window a chunk belongs to: its document and its position // size."""
    return (chunk.doc_id, chunk.index // size)
