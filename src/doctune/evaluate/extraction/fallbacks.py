"""The last rules (4 and 6 of `rules`), read when no letter was committed: a reply that broke
off mid-sentence, a short reply whose one letter carries no verdict, the one option left after
rejecting all others with its value stated, and an answer stated in words no option uses."""

from __future__ import annotations

import re

from doctune.evaluate.extraction import cues
from doctune.evaluate.extraction.candidates import SENTENCE_END, sentence_start
from doctune.evaluate.extraction.result import Candidate, Extracted
from doctune.evaluate.extraction.text import option_line

_UNFINISHED = re.compile(r"(?:[\w,(=:\-–—]|\b(?:the|a|an|of|to|is|which))\s*$", re.I)


def stopped_mid_sentence(text: str, letters: str) -> bool:
    """Prose that breaks off ("..., which"); a list item or a label without a full stop is
    not a broken sentence."""
    last = text.rsplit("\n", 1)[-1]
    if len(last.split()) < 4 or option_line(letters).match(last) or text[-1] in ".!?":
        return False
    return len(text) >= 30 and _UNFINISHED.search(text) is not None


_OPEN_ANSWER = re.compile(
    r"\b(?:the\s+)?(?:answer|option|choice)\s*(?:is|:)\s*[(\[]?\s*(?:\.{3}|…)?\s*$", re.I
)
_STATED_LAST = re.compile(r"[(\[]?\b[A-Za-z]\b[)\]]?\s*[.!]?\s*$")


def pending_answer(text: str) -> bool:
    """Does the text break off in an answer statement ("The answer is (") that follows more
    than its last stated letter? A loop of empty "The answer is ..." right after it adds
    nothing; new reasoning before the cut may lead elsewhere."""
    before = text
    while (m := _OPEN_ANSWER.search(before)) is not None:
        before = before[: m.start()].rstrip()
        # "The answer is (D). Now, considering all the above, the final answer is": a lead-in
        # of a few words and no figures restates the answer before it; it adds no reasoning.
        lead = _LEAD_IN.search(before)
        if lead is not None and _STATED_LAST.search(before, 0, lead.start()) is not None:
            before = before[: lead.start()].rstrip()
    return before != text and _STATED_LAST.search(before) is None


_LEAD_IN = re.compile(r"(?<=[.!\n])\s*(?:[^\d.!?\s]+(?:\s+|$)){1,8}$")


def single_mention(text: str, found: list[Candidate]) -> Extracted | None:
    """Rule 6: a short reply whose one letter carries no verdict at all."""
    kept = [c for c in found if c.role != "reject"]  # "B, not C": C is out of play
    letters = {c.letter for c in kept}
    if len(letters) != 1 or len(text) > 300 or any(c.role != "mention" for c in kept):
        return None
    for one in kept:  # a verdict against it anywhere ("C | ? ... not confident about C")
        start = sentence_start(text, one.start)
        end = SENTENCE_END.search(text, one.end)
        sentence = text[start : end.start() if end else len(text)]
        clause = sentence[one.start - start :].split(",", 1)[0]
        if cues.NEGATIVE_WORDS.search(sentence[: one.start - start] + clause):
            return None
    return Extracted(letters.pop(), "letter", False, "single mention")


# "So the answer here is the palladium complex": an answer in words of its own.
# A decimal point is no full stop ("the answer is y(4) = 4.899").
_IN_WORDS = re.compile(
    r"\banswer\s+(?:here\s+)?(?:is|would\s+be)\s+(?P<rest>(?:[^.\n]|\.(?=\d)){3,120})", re.I
)


def answered_otherwise(text: str, options: dict[str, str], read: Extracted) -> bool:
    """An answer stated in words that are not the one option text named on the way ("the
    hydrogenation uses Raney nickel ... So the answer is the palladium complex"): the model
    maps those words; the option text the rules found is only part of the explanation."""
    stated = max(_IN_WORDS.finditer(text), key=lambda m: m.start(), default=None)
    if stated is None or read.letter is None:
        return False
    return options.get(read.letter, "").casefold() not in stated.group("rest").casefold()


def eliminated(
    text: str, letters: str, options: dict[str, str] | None, found: list[Candidate]
) -> Extracted | None:
    """ "... de aproximadamente 2 horas. No es B, no es C, y no es D": every option but one
    rejected and the value of the one left stated. Rejections alone choose nothing ("Not A,
    not C, not D"): the grader wants the answer said, not inferred."""
    if not options or not found or any(c.role != "reject" for c in found):
        return None
    left = set(letters) - {c.letter for c in found}
    if len(letters) < 3 or len(left) != 1:
        return None
    letter = left.pop()
    values = set(_VALUE.findall(options.get(letter, "")))
    if not values or not values & set(_VALUE.findall(text)):
        return None
    return Extracted(letter, "letter", False, "the one not rejected, its value stated")


# Whole numbers only ("2" in "2 horas", not in "12" or "2.5"); each lookaround is one character.
_VALUE = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?(?!\w)(?![.,]\d)")
