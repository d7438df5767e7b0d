"""Rule 3 of `rules`: of the letters a reply commits to, which one it chose, if any: the
strongest and last commitment, unless it conflicts with another, names two letters, or was
withdrawn or reconsidered."""

from __future__ import annotations

import re

from doctune.evaluate.extraction import cues
from doctune.evaluate.extraction.candidates import SENTENCE_END, joined
from doctune.evaluate.extraction.result import Candidate, Extracted


def decide(text: str, found: list[Candidate], cut: bool = False) -> Extracted | None:
    """Rule 3: the strongest, last commitment, unless it conflicts or names two letters, or
    the reply was `cut` while it reconsidered ("A is the likeliest, but the question as")."""
    found = _without_keys(text, found)
    commits = [c for c in found if c.role == "commit"]
    if not commits:
        return None
    top = max(c.strength for c in commits)
    best = [c for c in commits if c.strength == top]
    win = best[-1]
    same = [c for c in best if c.letter == win.letter]
    pair = _either_or(text, win, found) or _glossed_pair(text, win, found)
    if _two_letters(text, found, same, win) or pair:
        return Extracted(None, "ambiguous", True, "two letters in one answer")
    if cues.REFUSAL.search(text, win.end):
        return Extracted(None, "ambiguous", False, "declines to choose")
    rivals = [c for c in best if c.letter != win.letter and not c.leading]
    if rivals and not win.revises and not _revised(text, rivals[-1], win):
        return Extracted(None, "ambiguous", False, "conflicting answers")
    # "The answer is C, but wait, maybe D": revised to a hedge, so neither is settled.
    later = [c for c in commits if c.start > win.end and c.letter != win.letter]
    if later and cues.REVISION.search(text[win.end : later[0].start]):
        return Extracted(None, "ambiguous", False, "revised to a hedge")
    if any(c.letter == win.letter and c.role == "reject" and c.start > win.start for c in found):
        return Extracted(None, "ambiguous", False, "answer withdrawn")
    withdrawn = cues.WITHDRAWAL.search(text, win.end)
    if withdrawn is not None and not any(win.end <= c.start < withdrawn.start() for c in found):
        # "This answer is not correct, but ... we must choose the closest, which is (F)": the
        # reply disowns its answer and then gives it again; that is still the one it chose.
        again = (c for c in found if c.start >= withdrawn.end() and c.role == "commit")
        if any(c.letter == win.letter for c in again):
            return Extracted(win.letter, "letter", False, "chosen again after disowning it")
        return Extracted(None, "ambiguous", False, "answer withdrawn")
    # Reconsidering right after it ("A is the likeliest, but"); a base model rambling on for
    # paragraphs after its answer ("However, in 1623 ...") is not reconsidering it.
    if cut and _reconsidering(text, win, found):
        return Extracted(None, "cut_off", True, "cut off while reconsidering")
    return Extracted(win.letter, "letter", top == 2, "commitment" if top == 2 else "weak")


# A reply that opens by stating its answer ("The answer is (H)" on a line of its own).
_OPENING_ANSWER = re.compile(
    r"\s*(?:the\s+)?(?:final\s+|correct\s+)?answer\s*(?:is|:)\s*[(\[]?\s*$", re.I
)
_LINE_REST = re.compile(r"\s*[)\]]?\s*\.?[ \t]*(?:\n|$)")


def _revised(text: str, first: Candidate, win: Candidate) -> bool:
    """Does something between two different answers revise the first? After an answer stated
    up front, the working that follows concludes with "so" and "therefore" as any working
    does; only a word that takes the opening answer back ("wait", "re-checking") revises it."""
    between = text[first.end : win.start]
    opens = _OPENING_ANSWER.fullmatch(text, 0, first.start) is not None
    if opens and _LINE_REST.match(text, first.end) is not None:
        return cues.EXPLICIT_REVISION.search(between) is not None
    return cues.REVISION.search(between) is not None


def _two_letters(text: str, found: list[Candidate], same: list[Candidate], win: Candidate) -> bool:
    """Does the answer name two letters ("B or C", "The answer is (B) and (C)")? A pair in an
    earlier statement of the winning letter counts while the restatement names the other
    letter again ("Final Answer: The answer is B. ... and C. ..."); naming only one picks it
    ("It's either B or C... B.")."""

    def again(letter: str) -> bool:
        return any(o.letter == letter and o.start > win.end and o.role != "reject" for o in found)

    for anchor, other in ((a, o) for a in same for o in found):
        if other.letter == win.letter or other.role == "reject":
            continue
        paired = joined(text, other, anchor) or joined(text, anchor, other)
        if not paired or _picks_from_pair(text, other, anchor):
            continue
        if anchor is win or again(other.letter):
            return True
    return False


_EITHER = re.compile(r"\beither\s+(?:(?:option|choice)\s*)?[(\[]?\s*$", re.I)
_OR = re.compile(r"\bor\s+(?:(?:option|choice)\s*)?[(\[]?\s*$", re.I)


def _either_or(text: str, win: Candidate, found: list[Candidate]) -> bool:
    """ "The answer is either (E) The dataset is too small or (D) Your data is not normalized":
    each letter glossed by its text, still two letters left open in one sentence."""
    if _EITHER.search(text, max(0, win.start - 30), win.start) is None:
        return False
    stop = SENTENCE_END.search(text, win.end)
    end = stop.start() if stop else len(text)
    return any(
        o.letter != win.letter
        and o.role != "reject"
        and win.end < o.start <= end
        and _OR.search(text, max(0, o.start - 20), o.start) is not None
        for o in found
    )


_AND_THEN = re.compile(r"\s(?:and|or|&)\s+(?:(?:option|choice)\s*)?[(\[]?\s*$", re.I)
_GLOSS_REACH = 160


def _glossed_pair(text: str, win: Candidate, found: list[Candidate]) -> bool:
    """ "Final Answer: C. Diamond, quartz, gypsum and I. Gold, quartz, topaz": the answer goes
    on, through the letter's own text and nothing else (no other letter, no new sentence), to
    join a second letter to it; both are the answer."""
    if win.strength < 2:
        return False
    line_end = text.find("\n", win.end)
    end = min(len(text) if line_end < 0 else line_end, win.end + _GLOSS_REACH)
    nxt = next((o for o in found if o.start > win.end), None)
    if nxt is None or nxt.letter == win.letter or nxt.role not in ("mention", "commit"):
        return False
    joiner = _AND_THEN.search(text, max(win.end, nxt.start - 20), nxt.start)
    if nxt.start >= end or joiner is None:
        return False
    # The letter's own stop ("C. Diamond") may end a sentence; a later one ends the answer.
    return SENTENCE_END.search(text, win.end + 2, nxt.start) is None


# A structured answer's own key (`answer: D`, lower case as JSON and YAML write it) and a
# letter that is a key itself, at the start of its line (`alternatives:` / `A: only ...`).
_ANSWER_KEY = re.compile(
    r"^[ \t]*(?:final_|selected_|correct_)?(?:answer|option|choice):[ \t]*$", re.M
)
_KEY_AFTER = re.compile(r"[ \t]*:")


def _without_keys(text: str, found: list[Candidate]) -> list[Candidate]:
    """In a reply with an answer key, the letters that are keys of other entries (an
    explanation's "A: only accounts for the volume change") label options; the key answers."""
    starts = {c.start: text.rfind("\n", 0, c.start) + 1 for c in found}
    if not any(_ANSWER_KEY.fullmatch(text, starts[c.start], c.start) for c in found):
        return found
    return [c for c in found if not (_is_key(text, starts[c.start], c))]


def _is_key(text: str, line_start: int, c: Candidate) -> bool:
    """Does the letter open its line (indented or not) as a key, "A: ..."?"""
    return not text[line_start : c.start].strip() and _KEY_AFTER.match(text, c.end) is not None


_BETWEEN = re.compile(r"\bbetween\b", re.I)
_RECONSIDER_REACH = 300
_MILD = re.compile(r"but|however|hmm|double[-\s]check\w*", re.I)


def _reconsidering(text: str, win: Candidate, found: list[Candidate]) -> bool:
    """Was a reply that was cut thinking again about its answer? "Wait" or "on second
    thought" soon after it says so; a contrast or a "hmm" is often part of the explanation
    ("a related but different concept"), so it counts only while still open at the cut ("A is
    the likeliest, but the question as") or when another option it does not reject comes up after it."""
    cue = cues.RECONSIDER.search(text, win.end, win.end + _RECONSIDER_REACH)
    if cue is None:
        return False
    if not _MILD.fullmatch(cue.group()) or SENTENCE_END.search(text, cue.end()) is None:
        return True
    return any(
        c.start > cue.start() and c.letter != win.letter and c.role != "reject" for c in found
    )


def _picks_from_pair(text: str, other: Candidate, win: Candidate) -> bool:
    """ "between C and D, C fits better": the comma leads from the pair to the pick."""
    if other.end > win.start or text[other.end : win.start].strip() != ",":
        return False
    return _BETWEEN.search(text, max(0, other.start - 40), other.start) is not None
