"""Reference metrics that need no model: token F1 and ROUGE-L against the reference answer.

They sit beside the judge's score as a check on it: cheap, deterministic and blind to style, so a
judge that rewards fluent but wrong answers shows up as judge and F1 moving apart.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import cache

from rouge_score import rouge_scorer

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation, " "))


def normalise_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation and English articles removed, whitespace
    collapsed. Punctuation becomes a space (SQuAD drops it), so "1-bromo-4-isobutylbenzene"
    keeps its parts as separate tokens instead of one token no paraphrase can match."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of words, SQuAD-style), 0-1."""
    pred = normalise_answer(prediction).split()
    ref = normalise_answer(reference).split()
    if not pred or not ref:
        # Both empty is agreement; one empty is none.
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred)
    recall = overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


@cache
def _scorer() -> rouge_scorer.RougeScorer:
    # No stemmer: substance names are not English words ("isobutylbenzene", "bromination").
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens), 0-1."""
    if not prediction.strip() or not reference.strip():
        return float(prediction.strip() == reference.strip())
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def reference_scores(prediction: str, reference: str) -> dict[str, float]:
    return {"token_f1": token_f1(prediction, reference), "rouge_l": rouge_l(prediction, reference)}
