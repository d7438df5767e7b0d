"""Log-likelihood of continuations after a context, computed as lm-evaluation-harness does.

MMLU's reference numbers come from lm-evaluation-harness's `hf` model scoring " A", " B", " C",
" D" after the prompt. Running the harness inside doctune would mean a second model load and
its own dataset machinery; instead this module repeats its arithmetic step by step (checked
item by item against the harness in tests/evaluate/test_mmlu_lm_eval.py):

- trailing whitespace of the context moves to the continuation (so " A" stays one token);
- context and context+continuation are tokenised whole with the tokenizer's default special
  tokens, and the continuation is what the whole has beyond the context's tokens;
- the input is (context + continuation) left-truncated to max_length + 1 tokens, minus the last;
- one sequence per forward pass, no padding, no attention mask (the harness's batch size 1);
  `batched_logprobs` pads many into one pass and gives the same sums within 1e-5 (float32,
  tests/models/test_hf_loglik.py), which is why its scores share the cache with these;
- log-softmax in the model's dtype, the continuation tokens' log-probs summed.

Scores are cached (by `ModelClient.loglikelihoods`) in a table of their own inside the call
cache's SQLite file, keyed by the backend's identity (spec + weights fingerprint), the configured
dtype, the context and the continuations, so a rerun computes nothing and a retrained adapter at
the same path computes afresh.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: The harness's fallback when neither config nor tokenizer states a context length.
DEFAULT_MAX_LENGTH = 2048
#: Bump when the arithmetic changes, so old cached scores are not reused.
METHOD_VERSION = "lm-eval-0.4-hf-bs1"


def encode(tokenizer: Any, text: str) -> list[int]:
    """The harness's `tok_encode`: default special tokens, unless the text already starts
    with the prefix token (BOS, else EOS) written out."""
    prefix_id = tokenizer.bos_token_id
    if prefix_id is None:
        prefix_id = tokenizer.eos_token_id
    prefix = tokenizer.decode(prefix_id) if prefix_id is not None else ""
    if prefix and text.startswith(prefix):
        return list(tokenizer.encode(text, add_special_tokens=False))
    return list(tokenizer.encode(text))


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens) split the way the harness splits them."""
    if not context:
        raise ValueError("log-likelihood scoring needs a non-empty context")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = encode(tokenizer, context + continuation)
    context_ids = encode(tokenizer, context)
    return context_ids, whole[len(context_ids) :]


def max_length(model: Any, tokenizer: Any) -> int:
    """The harness's context length: config (n_positions, max_position_embeddings, n_ctx),
    then the tokenizer's model_max_length unless it is the "infinity" placeholder."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit < int(1e30):
        return int(limit)
    return DEFAULT_MAX_LENGTH


def truncated_tokens(model: Any, tokenizer: Any, context: str, continuation: str) -> int:
    """How many tokens the harness's left truncation drops from the start of the context for
    this continuation (0 when context and continuation fit in max_length + 1)."""
    context_ids, cont_ids = encode_pair(tokenizer, context, continuation)
    return max(0, len(context_ids) + len(cont_ids) - (max_length(model, tokenizer) + 1))


def plan_windows(
    model: Any, tokenizer: Any, context: str, continuations: list[str]
) -> list[tuple[tuple[int, ...], list[int]]]:
    """(input window, continuation tokens) per continuation: (context + continuation)
    left-truncated to max_length + 1 tokens, minus the last, as the harness feeds it."""
    limit = max_length(model, tokenizer)
    plans = []
    for continuation in continuations:
        context_ids, cont_ids = encode_pair(tokenizer, context, continuation)
        if not cont_ids:
            raise ValueError(f"continuation {continuation!r} adds no token")
        plans.append((tuple((context_ids + cont_ids)[-(limit + 1) :][:-1]), cont_ids))
    return plans


def continuation_logprobs(
    model: Any, tokenizer: Any, context: str, continuations: list[str]
) -> list[float]:
    """Summed log-probability of each continuation after `context`, one sequence per forward.

    Continuations whose model input is identical (" A" ... " D" are one token each, so the input
    is the context alone) share one forward pass, as the harness's logits cache does.
    """
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    forwards: dict[tuple[int, ...], Any] = {}
    scores: list[float] = []
    with torch.no_grad():
        for window, cont_ids in plan_windows(model, tokenizer, context, continuations):
            if window not in forwards:
                ids = torch.tensor([window], dtype=torch.long, device=device)
                forwards[window] = F.log_softmax(model(ids).logits[0], dim=-1)
            logprobs = forwards[window]
            inplen = len(window)
            picked = logprobs[inplen - len(cont_ids) : inplen]
            target = torch.tensor(cont_ids, dtype=torch.long, device=device)
            scores.append(float(picked.gather(1, target.unsqueeze(-1)).squeeze(-1).sum()))
    return scores


def batched_logprobs(
    model: Any,
    plans: list[list[tuple[tuple[int, ...], list[int]]]],
    *,
    batch_size: int,
    pad_id: int,
) -> list[list[float]]:
    """The same sums as `continuation_logprobs` for many requests (each a `plan_windows`
    result), scored in padded batches of up to `batch_size` windows.

    Identical windows are computed once. Windows run longest first (as the harness orders its
    requests: similar lengths share a batch, so little is padding, and an out-of-memory shows in
    the first batch). Left padding with an attention mask and position ids counted from each
    row's first real token leaves every row's logits as they are alone; it also puts every
    continuation at the right edge, so only the last k positions' logits are computed (k the
    longest continuation of the batch) instead of the whole batch's width times the vocabulary.
    """
    import torch

    unique = sorted({w for plan in plans for w, _ in plan}, key=len, reverse=True)
    longest: dict[tuple[int, ...], int] = {}
    for plan in plans:
        for window, cont_ids in plan:
            longest[window] = max(longest.get(window, 0), len(cont_ids))
    rows: dict[tuple[int, ...], Any] = {}
    with torch.no_grad():
        for start in range(0, len(unique), batch_size):
            chunk = unique[start : start + batch_size]
            keep = max(longest[w] for w in chunk)
            logprobs = _padded_forward(model, chunk, keep, pad_id)
            for i, window in enumerate(chunk):
                rows[window] = logprobs[i]
    scores: list[list[float]] = []
    for plan in plans:
        sums = []
        for window, cont_ids in plan:
            row = rows[window]
            picked = row[row.shape[0] - len(cont_ids) :]
            target = torch.tensor(cont_ids, dtype=torch.long, device=row.device)
            sums.append(float(picked.gather(1, target.unsqueeze(-1)).squeeze(-1).sum()))
        scores.append(sums)
    return scores


def _padded_forward(model: Any, windows: list[tuple[int, ...]], keep: int, pad_id: int) -> Any:
    """Log-softmax (in the model's dtype, as the harness) of the last `keep` positions of each
    left-padded window: a (len(windows), keep, vocab) tensor."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    if len(windows) == 1:  # alone: the harness's call (no mask), the last positions only
        ids = torch.tensor([windows[0]], dtype=torch.long, device=device)
        return F.log_softmax(model(input_ids=ids, logits_to_keep=keep).logits, dim=-1)
    width = max(len(w) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    for i, window in enumerate(windows):
        ids[i, width - len(window) :] = torch.tensor(window, dtype=torch.long)
        mask[i, width - len(window) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
    ).logits
    return F.log_softmax(logits[:, -keep:, :], dim=-1)


def argmax_first(values: list[float]) -> int:
    """Index of the largest value, the first on ties (numpy's argmax, which the harness uses)."""
    best = 0
    for i, value in enumerate(values):
        if value > values[best]:
            best = i
    return best


_SCHEMA = """
CREATE TABLE IF NOT EXISTS loglik (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    scores TEXT NOT NULL,
    created TEXT NOT NULL
)
"""


def loglik_key(identity: str, dtype: str, context: str, continuations: list[str]) -> str:
    payload = json.dumps(
        {
            "method": METHOD_VERSION,
            "identity": identity,
            "dtype": dtype,
            "context": context,
            "continuations": continuations,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LoglikCache:
    """Per-prompt log-likelihood scores in the call cache's SQLite file (its own table).

    A separate connection to the same file: WAL mode (set by CallCache) lets both write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT scores FROM loglik WHERE key = ?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, key: str, identity: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO loglik (key, identity, scores, created) VALUES (?, ?, ?, ?)",
                (
                    key,
                    identity,
                    json.dumps(value),
                    datetime.now(timezone.utc).isoformat(timespec="seconds"),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM loglik").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
