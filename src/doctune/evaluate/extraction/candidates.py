"""Every option letter of a reply, classified by the words around it (`cues`): committed
(strongly or weakly), rejected, hypothetical or merely mentioned; see `rules` for how those
roles decide the reply."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from doctune.evaluate.extraction import cues
from doctune.evaluate.extraction.result import Candidate


# -- finding letters --------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _token(letters: str) -> re.Pattern[str]:
    up, low = re.escape(letters), re.escape(letters.lower())
    # Not glued to a word, a hyphen ("B-cells", "C-C bond"), a degree sign or a number ("60 C"),
    # not an abbreviation ("A.I.", "N/A") and not the C of a formula ("Pd/C", "C + I + G");
    # "B/C" names two options. Nor a term of an equation or a function ("E = hc/λ", "b^2 ≥ 6",
    # "f(1, 1)", "‖Ax‖", "(R / J)", "C{v}" once `normalise` dropped the subscript's "_"): a
    # symbol, which no grader reads as an option.
    return re.compile(
        rf"(?<![\w\-'’°‖])(?<!\w\w/)(?<![^\W\d_{up}{low}]/)(?<!\d )(?<![+×*/] )(?<![+×*])"
        # Initials ("C.H. Walters", "U.S."): the H after "C." is part of a name.
        rf"(?<![A-Za-z]\.)"
        rf"(?P<L>[{up}{low}])(?![\w\-'’‖{{])(?!\.\w)(?!\s?[+×*]\s?[\w(])"
        rf"(?!\s?(?:[=≠≈≥≤^]|\\[gl]eq?\b|_\{{?\w))(?!(?<=[{low}])\()"
    )


_MAX_CANDIDATES = 200
_ANSWER_WORD = re.compile(r"\b(?:answer|option|choice)s?\s*(?:is|:)?\s*[(\[]?\s*$", re.I)
_AFTER_LABEL = re.compile(r"[:=]\s*[(\[]?\s*$")
_QUESTION_YES = re.compile(r"^\s*[)\]}]?\s*\?\s*yes", re.IGNORECASE)
# The sentence ends there, perhaps after a gloss ("Largest: Jupiter (D).").
# "..., which is (C) in the answer choices." names it as "..., which is option C." does.
_SENTENCE_CLOSE = re.compile(
    r"^\s*[)\]}]?\s*(?:\([^()\n]{0,80}\)\s*)?(?:(?:in|among|from)\s+the\s+(?:given\s+|provided\s+)?"
    r"(?:answer\s+)?(?:choices|options)\s*)?(?:[.!]|$)",
    re.I,
)
_AFTER_COMMA = re.compile(r"[,;]\s*$")
# "..., which is option C." ends a sentence to name the letter; "which is option C, but the
# question asks ..." only identifies a value with it (a weak commitment, `cues.PRE_WEAK`).
_WHICH_IS = re.compile(
    r"\bwhich\s+(?:is|corresponds\s+to|matches)\s+(?:(?:option|choice|answer)\s*)?[(\[]?\s*$", re.I
)
_APPOSITION = re.compile(r"\b(?:is|are)\s+[^,.;:\n]{1,40},\s*$", re.I)
_CLAUSE = re.compile(r",|\bbut\b")
ENDS_WITH_IS = re.compile(r"\b(?:is|are)\s*$")
SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n")
_NEXT_WORD = re.compile(r"\s+(\S+)")


def sentence_start(text: str, at: int) -> int:
    ends = [m.end() for m in SENTENCE_END.finditer(text, max(0, at - 300), at)]
    return ends[-1] if ends else max(0, at - 300)


def _is_article(text: str, end: int) -> bool:
    """Is the "A"/"a" ending at `end` the article? ("A reaction at 40 °C", "A 5 mL sample")."""
    follow = _NEXT_WORD.match(text, end)
    if follow is None:
        return False
    word = follow.group(1)
    if word[0].isdigit():
        return True
    # Only English has this article: "A и C" in Russian names two options.
    bare = word.strip(".,;:!?")
    if bare.casefold() in cues.LETTER_FOLLOWERS or not word[0].isascii():
        return False
    # "a Group 1 metal": a lower-case "a" before a name is the article as well.
    return word[0].islower() or (text[end - 1] == "a" and bare.isalpha())


def _is_word(text: str, end: int) -> bool:
    """Is the lower-case letter ending at `end` a word or symbol of a phrase ("c in SI")?"""
    follow = _NEXT_WORD.match(text, end)
    if follow is None:
        return False
    word = follow.group(1).strip(".,;:!?")
    return word[:1].isascii() and word[:1].islower() and word not in _LOWER_FOLLOWERS


# Words after which a lower-case letter is still an option ("answer: c because ...").
_LOWER_FOLLOWERS = frozenset(
    {
        "is",
        "was",
        "would",
        "seems",
        "looks",
        "fits",
        "matches",
        "because",
        "since",
        "and",
        "or",
        "nor",
        "as",
        "then",
        "so",
    }
)


def candidates(text: str, letters: str) -> list[Candidate]:
    """Every option letter of the reply, classified (rule 3 of `rules`)."""
    found: list[Candidate] = []
    tokens = list(_token(letters).finditer(text))
    roman = _ROMAN_TWO.search(text) is not None
    variables = {(m.group(1) or m.group(2)).upper() for m in _LOGIC_VARIABLE.finditer(text)}
    # A reply naming letters thousands of times is degenerate; its end is where answers are.
    for m in tokens[-_MAX_CANDIDATES:]:
        start, end = m.span("L")
        if _in_value_row(text, start) or _formula_piece(text, start, end):
            continue
        pre = text[sentence_start(text, start) : start]
        if cues.NAMED.search(pre[-30:]):
            continue
        labelled = _ANSWER_WORD.search(pre[-30:]) is not None
        if not labelled and (m.group("L").upper() in variables or (roman and _numeral(text, m))):
            continue
        # "I, II and III are included": the first of a run of Roman numerals, whatever names it.
        if _NUMERAL_RUN.match(text, end) and m.group("L") == "I":
            continue
        # "P(A, B)", "P(B | A)", "f(C)": an argument of a function or a probability is a symbol.
        if not labelled and _argument(text, start, end):
            continue
        # "So E(X) = pi", "P(A) = 1/6": a capital applied to a variable is a function or an
        # expectation, not an option, unless an answer label names it.
        if not labelled and _FUNCTION_OF.match(text, end):
            continue
        letter = m.group("L")
        strong_label = cues.PRE_STRONG.search(pre[-80:]) is not None
        # "correct: c in SI units" is the symbol of a quantity; "answer: c in most books" is C.
        symbol = _is_word(text, end) and _ANSWER_WORD.search(pre[-30:]) is None
        if letter.islower() and (not strong_label or symbol):
            continue
        if letter in "Aa" and _is_article(text, end):
            after_label = letter == "A" and _AFTER_LABEL.search(pre) is not None
            if not after_label:
                continue
        found.append(classify(text, Candidate(letter.upper(), start, end), pre))
    found += _ordinals(text, letters)
    return inherit(text, sorted(found, key=lambda c: c.start))


_FUNCTION_OF = re.compile(r"\([A-Za-z][\w^+\-*/ ,|]{0,12}\)")


# Statements numbered in Roman numerals ("I. At least three ...", "II. Exactly three ...";
# "(i) is true. (ii) is true."): where the reply numbers a second one, an "I" written the same way
# is the first numeral, not option I, unless an answer label names it ("The answer is (I)").
_ROMAN_TWO = re.compile(r"\(\s*ii\s*\)|^[ \t]*ii[.)]", re.I | re.M)


# A numeral joined to the next ones ("I, II, and III", "I and IV"): no option is named "II".
_NUMERAL_RUN = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or|&)\s+)(?:II|III|IV)\b")
# The opening of a function's arguments ("P(A, ", "Pr(", "Var(") and their close.
_ARGUMENTS_OPEN = re.compile(r"(?<![\w\\])(?:[A-Za-z]|Pr|Var|Cov|Corr)\([^()\n]{0,24}$")
_ARGUMENTS_CLOSE = re.compile(r"[^()\n]{0,24}\)")


def _argument(text: str, start: int, end: int) -> bool:
    """Is the letter inside the brackets of a function applied to it ("P(A or B)")?"""
    opened = _ARGUMENTS_OPEN.search(text, max(0, start - 30), start) is not None
    return opened and _ARGUMENTS_CLOSE.match(text, end) is not None


def _numeral(text: str, m: re.Match[str]) -> bool:
    start, end = m.span("L")
    if m.group("L") not in "Ii":
        return False
    bracketed = text[start - 1 : start] == "(" and text[end : end + 1] == ")"
    line_start = text.rfind("\n", 0, start) + 1
    opens_line = not text[line_start:start].strip(" \t(") and text[end : end + 1] in ".)"
    return bracketed or opens_line


# A letter used as a variable of a logical formula ("~G", "G ⊃ H", "P ∨ Q"): in the same reply
# the letter stays that variable ("a counterexample where G is true") unless an answer label
# names it.
_LOGIC = r"[⊃∨∧≡↔]"
_LOGIC_VARIABLE = re.compile(rf"(?:[~¬]|{_LOGIC})\s?([A-Z])(?!\w)|(?<!\w)([A-Z])\s?{_LOGIC}")
# A letter alone on its line between pieces of a formula that was broken over lines
# ("\\frac{\nDelta\nE\n}{"): a symbol.
_FORMULA_NEXT = "}{=^_)"
_FORMULA_PREVIOUS = "{=^_(\\"


def _formula_piece(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    if text[line_start:start].strip() or text[end:line_end].strip():
        return False
    following = text[line_end + 1 : line_end + 2] or " "
    previous = text[: max(0, line_start - 1)].rstrip()[-1:] or " "
    return following in _FORMULA_NEXT or previous in _FORMULA_PREVIOUS


# A table row of one-character cells, "T : F : T : F" once `normalise` turned its pipes into
# colons: a truth table's values (or 0/1), not options.
_VALUE_ROW = re.compile(r"[ \t]*\S(?:[ \t]*:[ \t]*\S){2,}[ \t]*")


def _in_value_row(text: str, at: int) -> bool:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return _VALUE_ROW.fullmatch(text, start, len(text) if end < 0 else end) is not None


def _ordinals(text: str, letters: str) -> list[Candidate]:
    out = []
    for m in list(cues.ORDINAL.finditer(text))[-_MAX_CANDIDATES:]:
        index = cues.ORDINALS[(m.group(1) or m.group(2)).lower()]
        if index < len(letters):
            c = Candidate(letters[index], m.start(m.lastindex or 0), m.end())
            out.append(classify(text, c, text[sentence_start(text, m.start()) : m.start()]))
    return out


def classify(
    text: str, c: Candidate, pre: str, ending: re.Pattern[str] = cues.PRE_ENDING
) -> Candidate:
    post = text[c.end : c.end + 120].split("\n", 1)[0]
    window = pre[-80:]
    if (
        cues.PRE_NEGATION.search(window)
        or cues.PRE_DOUBT.search(window)
        or cues.POST_REJECTION.match(post)
        or cues.POST_VERDICT_NO.match(post)
        or cues.POST_DISOWNED.match(post)
        or (cues.NONE_OF.match(pre) and not cues.PREDICATE.search(pre))
        # "B and C are wrong, and so is A": the verdict of the sentence so far.
        or (cues.SO_IS.search(window) and cues.NEGATIVE_WORDS.search(pre))
    ):
        return replace(c, role="reject")
    if cues.SO_IS.search(window) or cues.POST_GLOSS.match(post):
        return c
    hedged = cues.PRE_HEDGE.search(window) and not cues.NEGATIVE_WORDS.search(pre)
    if cues.POST_QUESTION.match(post) and hedged:  # "Not sure, maybe A?" stays a question
        return replace(c, role="commit", strength=1)
    if cues.POST_STRONG.match(post) and _QUESTION_YES.match(post):
        return replace(c, role="commit", strength=2)
    if cues.POST_QUESTION.match(post) or _hypothetical(pre, post):
        return replace(c, role="hypothetical")
    if cues.PRE_REVISION.search(window):
        return replace(c, role="commit", strength=2, revises=True)
    if cues.PRE_STRONG.search(window) or cues.POST_STRONG.match(post):
        return replace(c, role="commit", strength=2)
    if cues.POST_VERDICT_YES.match(post):
        return replace(c, role="commit", strength=2)
    if cues.GLOSSED_REJECTION.match(post):
        return replace(c, role="reject")
    if _names_it(text, c, window, post, ending):
        return replace(c, role="commit", strength=2)
    if cues.POST_WEAK.match(post) or cues.PRE_WEAK.search(window):
        return replace(c, role="commit", strength=1)
    # "Therefore, ... both were responses to (J) Unfair systems of taxation.": the sentence
    # that concludes names the bracketed option.
    if _CONCLUDING.match(pre) and text[c.start - 1 : c.start] == "(" and post.startswith(")"):
        return replace(c, role="commit", strength=1)
    return c


_CONCLUDING = re.compile(r"\s*(?:therefore|thus|hence|consequently|in\s+conclusion)\b", re.I)


def _names_it(text: str, c: Candidate, window: str, post: str, ending: re.Pattern[str]) -> bool:
    """A sentence that exists to name the letter: "... is C." or "...: C." ends a sentence
    with it, "between B and D, D" ends the reply with it."""
    named = ending.search(window) or cues.OPTION_NAMED.search(window) or not window.strip()
    named = named or _APPOSITION.search(window) or _WHICH_IS.search(window)
    if named and _SENTENCE_CLOSE.match(post):
        # Also a sentence that is the letter alone ("C or D? C.") or ends with it in
        # apposition to what it says is the answer ("The actual capital is Canberra, D.").
        return True
    return bool(_AFTER_COMMA.search(window) and not text[c.end :].strip(" .!)"))


def _hypothetical(pre: str, post: str) -> bool:
    conditions = list(cues.HYPOTHETICAL_BEFORE.finditer(pre))
    # The last condition before the letter governs it unless a contrast intervenes.
    if (
        conditions
        and not cues.FORCED_CHOICE.search(pre)
        and cues.CONTRAST.search(pre, conditions[-1].end()) is None
    ):
        return True
    clause = _CLAUSE.split(pre)[-1]
    if cues.FORCED_AFTER.match(post):
        return False
    return bool(
        cues.ATTRIBUTED.search(clause)
        or cues.TEMPTING.match(post)
        or cues.HYPOTHETICAL_AFTER.match(post)
    )


# Used with `match(text, pos, endpos)`, which anchors at pos ("^" would not match there).
_JOINED = re.compile(
    r"\s*(?:[)\]}]\s*)?(?:,|or|and|and/or|/|&|nor|、|和|或|と|及|и|или)\s*(?:option\s+)?(?:[(\[]\s*)?$",
    re.I,
)


def joined(text: str, first: Candidate, second: Candidate) -> bool:
    # Matched in place, not on a slice: a reply with many letters far apart stays linear.
    return second.start >= first.end and _JOINED.match(text, first.end, second.start) is not None


def inherit(text: str, found: list[Candidate]) -> list[Candidate]:
    """A mentioned letter joined to a classified neighbour takes its role ("A and B are too
    low": both rejected; "Incorrect: A, B, D": all three)."""
    out = list(found)
    # Only verdicts against letters travel: a list joined to a commitment is two answers,
    # which `deciding.decide` reads as ambiguous, not as a commitment to each.
    travels = ("reject", "hypothetical")
    for i in range(len(out) - 2, -1, -1):  # backwards: the predicate follows the list
        nxt = out[i + 1]
        if out[i].role == "mention" and nxt.role in travels and joined(text, out[i], nxt):
            out[i] = _with_role(out[i], nxt)
    for i in range(1, len(out)):  # forwards: the label precedes it
        prev = out[i - 1]
        if prev.role not in travels or not joined(text, prev, out[i]):
            continue
        # A negation governs its whole list ("Neither A nor B is correct").
        if out[i].role == "mention" or prev.role == "reject":
            out[i] = _with_role(out[i], prev)
    return out


def _with_role(c: Candidate, source: Candidate) -> Candidate:
    return replace(c, role=source.role, strength=source.strength)
