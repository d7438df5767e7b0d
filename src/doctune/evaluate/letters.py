"""Which option letter a free-text reply chose.

Quiz and MMLU answers come back as prose ("Option B (0.200 mol) is correct", "**C**",
"答案：C", "A is wrong because ..., so the answer is D"). The issue asks for rules, not a second
model call, so this module is a short ordered list of rules; the first one that decides wins:

1. the whole reply is one letter ("C", "**(c)**");
2. a conclusion phrase ("the answer is C", "I would choose C", "B is correct", "答案：C"); a
   statement outranks a bare mention ("answer B is a common mistake") or a hypothetical ("C
   would be correct only if ..."); among equals the LAST one wins, because replies that reason
   first conclude last; a conclusion naming two letters ("B or C") is ambiguous: None;
3. a reply that opens with a letter marker ("C) 0.210 mol", "C. 0.210 mol", "(C) ...");
4. exactly one distinct letter mentioned anywhere (as a standalone capital, not the article "A",
   not a unit such as "40 °C");
5. exactly one option's text quoted (when the options are given);
6. otherwise None: no letter, or several without a conclusion.

The letter set is a parameter so a five-option quiz works the same way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Words that may follow a capital "A" when it is a letter, not the article ("A is wrong",
# "A because ..."). After anything else ("A reaction at 40 °C") "A" is read as the article.
# fmt: off
_LETTER_FOLLOWERS = frozenset({
    "is", "was", "would", "will", "could", "seems", "seem", "looks", "appears", "fits",
    "matches", "gives", "best", "because", "since", "as", "and", "or", "but", "then", "so",
    "which", "only", "alone",
})
# fmt: on


# After a letter, marks it as rejected rather than chosen ("Answer A is wrong", "B is not ...").
_REJECTED = re.compile(
    r"\s*[)\]]?\s*(?:\([^()\n]{0,80}\)\s*)?,?\s*(?:is|are|was|seems)\s+"
    r"(?:not\b|wrong|incorrect|false|unlikely|ruled\s+out)",
    re.IGNORECASE,
)


_NEXT_WORD = re.compile(r"\s+(\S+)")


@dataclass(frozen=True)
class _Rules:
    letters: str
    whole: re.Pattern[str]
    conclusions: tuple[tuple[re.Pattern[str], int], ...]  # (pattern, strength)
    leading: re.Pattern[str]
    mention: re.Pattern[str]
    two_after: re.Pattern[str]
    two_before: re.Pattern[str]


@lru_cache(maxsize=16)
def _rules(letters: str) -> _Rules:
    up = re.escape(letters.upper())
    low = re.escape(letters.lower())
    # A letter token: not glued to a word, a number or a hyphenated word ("B-cells", "C6H12O6").
    any_case = rf"(?<![\w\-'’])(?P<L>[{up}{low}])(?![\w\-])"
    upper = rf"(?<![\w\-'’])(?P<L>(?-i:[{up}]))(?![\w\-])"
    # What may sit between a conclusion phrase and its letter: "option", "(", "[", ":".
    lead_in = r"\s*(?:[:=\-–—]\s*)?(?:(?:option|choice|letter)\s+)?[(\[{]?\s*"
    verb = r"(?:is|would\s+be|should\s+be|will\s+be|must\s+be|seems\s+to\s+be)"
    adverb = r"(?:(?:therefore|thus|clearly|definitely|probably|most\s+likely|then)\s+)?"
    strong, weak = 2, 1
    conclusions = (
        # "the answer is C", "Answer: C", "final answer: (B)", "the answers are B and C".
        (rf"\banswers?\s*(?:{adverb}(?:{verb}|are)|[:=])\s*{adverb}{lead_in}{any_case}", strong),
        # A bare "answer B" (also "answer B is a common mistake"): weaker than a statement.
        (rf"\banswers?\s+{lead_in}{any_case}", weak),
        # "the correct choice is C", "the best option would be (D)", "correct answer: B".
        (
            rf"\b(?:correct|right|best|true)\s+(?:answer|choice|option|response)s?"
            rf"(?:\s+{adverb}(?:{verb}|are))?{lead_in}{any_case}",
            strong,
        ),
        # "I would choose C", "I'd go with option B", "select (A)".
        (
            rf"\b(?:choose|chose|pick|select|go\s+with|opt\s+for|going\s+with){lead_in}{any_case}",
            strong,
        ),
        # "\boxed{C}" from models trained on maths benchmarks.
        (rf"\\boxed\{{\s*{any_case}", strong),
        # "答案：C", "答案是C", "选C": Chinese replies (NFKC already turned "：" into ":").
        (
            rf"(?:答案|选择|选)\s*(?:是|为|應為|应为)?\s*[:]?\s*[(\[]?\s*(?P<L>[{up}{low}])(?![A-Za-z])",
            strong,
        ),
        # Letter first: "Option B (0.200 mol) is correct", "C is the correct answer"; a
        # hypothetical "C would be correct" ranks below a statement.
        (
            rf"{upper}\s*[)\].]?\s*(?:\([^()\n]{{0,80}}\)\s*)?,?\s*(?:is|must\s+be)\s+"
            # "B is the answer you would get if ..." describes an answer, it does not give one.
            rf"(?:the\s+)?(?:correct|right|best|true|answer(?!\s+(?:you|one|that|which|if|when|for|to)\b))\b",
            strong,
        ),
        (
            rf"{upper}\s*[)\].]?\s*(?:\([^()\n]{{0,80}}\)\s*)?,?\s*{verb}\s+"
            rf"(?:the\s+)?(?:correct|right|best|answer|true)\b",
            weak,
        ),
    )
    return _Rules(
        letters=letters.upper(),
        whole=re.compile(rf"^\W*(?P<L>[{up}{low}])\W*$"),
        conclusions=tuple((re.compile(p, re.IGNORECASE), rank) for p, rank in conclusions),
        leading=re.compile(
            rf"^\s*(?:(?:option|answer|choice)\s*:?\s*)?[(\[]?(?P<L>(?-i:[{up}]))"
            rf"\s*(?:[).:\]]|[-–—]\s|$)",
            re.IGNORECASE,
        ),
        # "°C" and "40 C" are units and "Pd/C" a formula, but "B/C" names two options.
        mention=re.compile(rf"(?<![\w\-'’°])(?<!\w\w/)(?<!\d )(?P<L>[{up}])(?![\w\-])"),
        # "B or C", "B and/or C", "B/C" right after (or right before) a concluded letter.
        two_after=re.compile(
            rf"^\s*[)\]]?\s*(?:or|and|and/or|/|&)\s*(?:option\s+)?[(\[]?\s*(?P<L>[{up}{low}])"
            rf"(?![\w\-])(?!\s+(?:is|was)\b)",
            re.IGNORECASE,
        ),
        two_before=re.compile(
            rf"(?<![\w\-])(?P<L>[{up}])\s*[)\]]?\s*(?:or|and|and/or|/|&)\s*(?:option\s+)?[(\[]?\s*$",
            re.IGNORECASE,
        ),
    )


def _normalise(text: str) -> str:
    """NFKC folds full-width letters and the Chinese colon; markdown emphasis is noise here.

    Every run of whitespace becomes one character (a newline if it held one), so the optional
    whitespace pieces of the rules never backtrack over long runs of blanks.
    """
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[*`#]|(?<!\w)_+|_+(?!\w)", "", text)
    return re.sub(r"\s+", lambda m: "\n" if "\n" in m.group() else " ", text)


def _is_article(text: str, end: int, digits: bool) -> bool:
    """Is the "A"/"a" ending at `end` the article? ("A reaction at 40 °C", "is a mixture")."""
    if text[end - 1] not in "Aa":
        return False
    follow = _NEXT_WORD.match(text, end)
    if follow is None:
        return False
    word = follow.group(1)
    if digits and word[0].isdigit():
        return True  # "A 5 mL sample"
    return word[0].islower() and word.strip(".,;:!?") not in _LETTER_FOLLOWERS


# After a concluded letter: a condition, not a choice ("C would be correct only if ...").
_CONDITIONAL = re.compile(
    r"[^.\n]{0,60}?\b(?:only\s+if|if|unless|when|provided|assuming)\b", re.IGNORECASE
)
_AFTER_COLON = re.compile(r"[:=]\s*[(\[]?\s*$")


def _conclusion(text: str, rules: _Rules) -> str | None:
    """The letter of the strongest conclusion phrase (the last among equals: replies that reason
    first conclude last); "" when that conclusion names two letters."""
    found: list[tuple[int, int, int, str]] = []
    for pattern, rank in rules.conclusions:
        for m in pattern.finditer(text):
            start, end = m.span("L")
            letter = m.group("L")
            # A lower-case letter or a capital "A" followed by a word is an article, not a
            # choice, except a capital right after "Answer:" ("Answer: A dichloromethane").
            after_colon = letter == "A" and _AFTER_COLON.search(text[:start]) is not None
            if (
                (letter.islower() or letter == "A")
                and not after_colon
                and _is_article(text, end, digits=False)
            ):
                continue
            if _REJECTED.match(text, end):
                continue
            if _CONDITIONAL.match(text, m.end()) and rank == 1:
                continue
            found.append((rank, start, end, letter.upper()))
    if not found:
        return None
    _, start, end, letter = max(found)
    after = rules.two_after.match(text[end:])
    before = rules.two_before.search(text[:start])
    for other in (after, before):
        if other is not None and other.group("L").upper() != letter:
            return ""
    return letter


def _mentions(text: str, rules: _Rules) -> set[str]:
    """Standalone capitals of the letter set, minus the article "A" and units ("40 C")."""
    seen: set[str] = set()
    for m in rules.mention.finditer(text):
        if _is_article(text, m.end("L"), digits=True):
            continue
        seen.add(m.group("L"))
    return seen


def _by_option_text(text: str, options: dict[str, str], letters: str) -> str | None:
    """The one option whose text the reply quotes (longest texts win over their substrings)."""

    def norm(s: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", s).casefold().split())

    reply = norm(text)
    quoted: dict[str, str] = {}
    for letter, option in options.items():
        body = norm(option)
        if letter.upper() not in letters or not body:
            continue
        # Bounded so "0.2 mol" is not found inside "0.21 mol" nor "1" inside "10".
        if re.search(rf"(?<![\w.,])(?<!\d[.,]){re.escape(body)}(?!\w)(?![.,]\d)", reply):
            quoted[letter.upper()] = body
    kept = [k for k, v in quoted.items() if not any(v != w and v in w for w in quoted.values())]
    return kept[0] if len(kept) == 1 else None


def extract_letter(
    text: str, letters: str = "ABCD", options: dict[str, str] | None = None
) -> str | None:
    """The option letter (upper case) a reply chose, or None when it chose none or several.

    `options` (letter -> text) lets a reply that quotes an option's text without its letter
    count as choosing it.
    """
    clean = _normalise(text).strip()
    if not clean or not letters:
        return None
    rules = _rules(letters.upper())
    whole = rules.whole.match(clean)
    if whole is not None:
        return whole.group("L").upper()
    concluded = _conclusion(clean, rules)
    if concluded is not None:
        return concluded or None  # "" = the conclusion named two letters: ambiguous
    # A reply that restates the options ("A. ...\nB. ...") opens with a marker it did not choose.
    leading = rules.leading.match(clean)
    restated = {m.group("L") for m in map(rules.leading.match, clean.splitlines()) if m}
    if leading is not None and len(restated) == 1:
        return leading.group("L").upper()
    mentioned = _mentions(clean, rules)
    if len(mentioned) == 1:
        return mentioned.pop()
    if options:
        return _by_option_text(clean, options, rules.letters)
    return None
