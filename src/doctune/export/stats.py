"""Size statistics of exported datasets: samples per split, total tokens and characters, and the
length distribution of questions, answers and whole examples.

Token counts use the student's tokenizer when one can be loaded, otherwise the ~4 characters per
token estimate; `stats.json` says which (`token_counts`). A whole example is counted the way
OpenAI's data-preparation cookbook counts a chat example (the content of every message, 3 tokens
per message and 3 for the reply's priming), so the figures here and the per-example limit checked
in `openai_checks` agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from doctune.foundation.openai_checks import TOKENS_PER_EXAMPLE, TOKENS_PER_MESSAGE
from doctune.foundation.records import QARecord
from doctune.models.tokens import TokenCounter

HISTOGRAM_BINS = 10
PARTS = ("question", "answer", "example")


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile: the smallest value with at least q % of the values at or below it.

    Always one of the values (no interpolation), so a length reported as p90 is a real length.
    """
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram(values: Sequence[int], bins: int = HISTOGRAM_BINS) -> dict[str, list[int]]:
    """Counts over at most `bins` equal-width integer bins covering min..max; bin i holds the
    values v with edges[i] <= v < edges[i+1], so `edges` has one entry more than `counts`."""
    if not values:
        return {"edges": [], "counts": []}
    low, high = min(values), max(values)
    width = max(1, math.ceil((high - low + 1) / bins))
    n_bins = max(1, math.ceil((high - low + 1) / width))
    counts = [0] * n_bins
    for v in values:
        counts[(v - low) // width] += 1
    return {"edges": [low + i * width for i in range(n_bins + 1)], "counts": counts}


def distribution(values: Sequence[int]) -> dict[str, Any]:
    """min / p50 / p90 / max / mean and a histogram; None everywhere for no values."""
    if not values:
        return {"min": None, "p50": None, "p90": None, "max": None, "mean": None, "histogram": {}}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "max": ordered[-1],
        "mean": round(sum(ordered) / len(ordered), 2),
        "histogram": histogram(ordered),
    }


def example_tokens(content_tokens: Sequence[int]) -> int:
    """Tokens of one chat example from the content tokens of its messages (cookbook counting)."""
    return sum(content_tokens) + TOKENS_PER_MESSAGE * len(content_tokens) + TOKENS_PER_EXAMPLE


def dataset_stats(
    records: Sequence[QARecord], count_tokens: TokenCounter, system_prompt: str = ""
) -> dict[str, Any]:
    """Stats of one dataset (one recipe x split) as exported: with `system_prompt` as the first
    message of every example when it is non-empty."""
    system_tokens = count_tokens(system_prompt) if system_prompt else 0
    tokens: dict[str, list[int]] = {part: [] for part in PARTS}
    chars: dict[str, list[int]] = {part: [] for part in PARTS}
    for record in records:
        q_tok, a_tok = count_tokens(record.question), count_tokens(record.answer)
        parts = [system_tokens, q_tok, a_tok] if system_prompt else [q_tok, a_tok]
        tokens["question"].append(q_tok)
        tokens["answer"].append(a_tok)
        tokens["example"].append(example_tokens(parts))
        chars["question"].append(len(record.question))
        chars["answer"].append(len(record.answer))
        chars["example"].append(len(system_prompt) + len(record.question) + len(record.answer))
    return {
        "samples": len(records),
        "edited": sum(1 for r in records if r.provenance.edited_by),
        "total_tokens": sum(tokens["example"]),
        "total_chars": sum(chars["example"]),
        "tokens": {part: distribution(tokens[part]) for part in PARTS},
        "chars": {part: distribution(chars[part]) for part in PARTS},
    }


def build_stats(
    per_dataset: dict[tuple[str, str], dict[str, Any]],
    *,
    tokenizer: str | None,
    estimate: bool,
    system_prompt: str,
    reviews: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """The content of `stats.json`: one entry per recipe with its splits and totals.

    `per_dataset` maps (recipe, split) to `dataset_stats` output, in the order to report;
    `reviews` maps a recipe to the review counts split applied (reviewed, approved, edited,
    rejected, not_approved).
    """
    recipes: dict[str, dict[str, Any]] = {}
    for (recipe, split), stats in per_dataset.items():
        entry = recipes.setdefault(
            recipe, {"samples_per_split": {}, "total_tokens": 0, "total_chars": 0, "splits": {}}
        )
        entry["samples_per_split"][split] = stats["samples"]
        entry["total_tokens"] += stats["total_tokens"]
        entry["total_chars"] += stats["total_chars"]
        entry["splits"][split] = stats
    for recipe, entry in recipes.items():
        entry["samples"] = sum(entry["samples_per_split"].values())
        entry["reviews"] = dict((reviews or {}).get(recipe, {}))
    return {
        "token_counts": "estimate" if estimate else "tokenizer",
        "tokenizer": None if estimate else tokenizer,
        "example_tokens": (
            "content tokens of every message + "
            f"{TOKENS_PER_MESSAGE} per message + {TOKENS_PER_EXAMPLE} per example "
            "(OpenAI cookbook counting)"
        ),
        "system_prompt": system_prompt,
        "recipes": recipes,
    }
