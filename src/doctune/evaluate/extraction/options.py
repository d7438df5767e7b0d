"""Where a reply names an option by its text instead of its letter ("at the ribosome")."""

from __future__ import annotations

import difflib
import re
import unicodedata

from doctune.evaluate.extraction.result import Candidate

_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def _fold(text: str) -> str:
    # "$" as `normalise` reads a reply: a TeX math delimiter ("22.3 $\mathrm{~m}^2$") or a
    # currency sign, neither of which a grader needs to see repeated to know the option.
    return unicodedata.normalize("NFKC", text).casefold().replace("$", " ")


# Where the head of an option's text ends and its qualification begins.
_HEAD = re.compile(r"\s+(?:of|with|in|on|at|by|for|from|to|using|via|such\s+as)\s+|,\s*|\s+\(")


def _bounded(body: str) -> str:
    # Bounded so "0.2 mol" is not found inside "0.21 mol" nor "1" inside "10"; the article goes
    # with the match, so "is not the nucleus" reads "not" right before it; a plural counts.
    # Words may be split by a line break ("Acetic\n\nacid"): normalised text has no longer runs.
    words = r"\s{1,2}".join(_word(w) for w in body.split(" "))
    return rf"(?<![\w.,])(?<!\d[.,])(?:(?:the|a|an)\s+)?{words}(?:e?s)?(?!\w)(?![.,]\d)"


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _word(word: str) -> str:
    """A small whole number also matches its English word ("3 steps" in "three steps")."""
    if word.isascii() and word.isdigit() and int(word) < len(_NUMBER_WORDS):
        return rf"(?:{word}|{_NUMBER_WORDS[int(word)]})"
    return re.escape(word)


def option_mentions(text: str, letters: str, options: dict[str, str]) -> list[Candidate]:
    """Option texts the reply names, except where they gloss their own letter ("Option D
    (0.250 mol)", "D. Bromination"): there the letter already stands for them."""
    glossed = {
        (m.end(), m.group(1).upper())
        for m in re.finditer(rf"(?<!\w)([{re.escape(letters)}])[).:]?\s*(?:\(\s*)?", text)
    }
    return [c for c in _named(text, letters, options) if (c.start, c.letter) not in glossed]


def _named(text: str, letters: str, options: dict[str, str]) -> list[Candidate]:
    """One candidate per place an option's text occurs, as if its letter stood there.

    Texts are matched case-insensitively, without a leading article, bounded (`_bounded`); an
    option whose text lies inside a longer option's text found at the same place counts once,
    as the longer one ("sodium chloride").
    """
    folded = _fold(text)
    spans: list[tuple[int, int, str]] = []
    for letter, option in options.items():
        body = " ".join(_fold(option).split())
        body = _ARTICLE.sub("", body) or body
        if letter.upper() not in letters or not body:
            continue
        hits = list(re.finditer(_bounded(body), folded))
        whole = bool(hits)
        head = _HEAD.split(body, 1)[0]
        if not hits and head != body and len(head.split()) >= 2:
            # A long option is often named by its head ("the Friedel-Crafts acylation" for
            # "Friedel-Crafts acylation of isobutylbenzene").
            hits = list(re.finditer(_bounded(head), folded))
        spans += [(m.start(), m.end(), letter.upper(), whole) for m in hits]
    # "Option B" is the whole text of option D and the head of H's "Option B, but seek ...":
    # the words name D, which needs nothing more; H would need its qualification too.
    wholes = {s[:2] for s in spans if s[3]}
    spans = [s for s in spans if s[3] or s[:2] not in wholes]
    # A degenerate reply naming options thousands of times: its end is where answers are.
    kept = _outermost(sorted(spans))[-_MAX_MENTIONS:]
    return [Candidate(x, start, end, whole=whole) for start, end, x, whole in kept]


_MAX_MENTIONS = 200


def _outermost(spans: list[tuple[int, int, str, bool]]) -> list[tuple[int, int, str, bool]]:
    """The spans (sorted by start) not inside another one; two options found at the very same
    place are both dropped, as neither is named more than the other. One pass, not pairwise."""
    same: dict[tuple[int, int], int] = {}
    for s in spans:
        same[s[:2]] = same.get(s[:2], 0) + 1
    out: list[tuple[int, int, str, bool]] = []
    reach = -1  # the furthest end of a span starting earlier
    for i, s in enumerate(spans):
        # Sorted by start, then end: the next span from the same start that ends elsewhere is
        # longer and contains this one (at most one per option starts at any place).
        j = i + 1
        while j < len(spans) and spans[j][:2] == s[:2]:
            j += 1
        longer = j < len(spans) and spans[j][0] == s[0]
        if s[1] > reach and not longer and same[s[:2]] == 1:
            out.append(s)
        reach = max(reach, s[1])
    return out


_NUMBER = re.compile(r"[-+−]?\d+(?:[.,]\d+)?")
_UNIT = re.compile(r"\s*[°%‰′″]?\s?[^\W\d_]{0,6}(?:/[^\W\d_]{1,5})?")


def bare_value(text: str, options: dict[str, str]) -> str | None:
    """The letter of the one option whose value is the whole reply without its unit ("109.5"
    for "109.5°", "40" for "40 %"); None when the reply is not a bare number or several
    options start with it."""
    value = text.strip(" .!")
    if _NUMBER.fullmatch(value) is None:
        return None
    hits = []
    for letter, option in options.items():
        folded = " ".join(_fold(option).split())
        if folded.startswith(value) and _UNIT.fullmatch(folded, len(value)) is not None:
            hits.append(letter.upper())
    return hits[0] if len(hits) == 1 else None


def other_script(text: str, options: dict[str, str]) -> bool:
    """Does the reply write in a script (hanzi, kana, Cyrillic...) that no option uses? Then
    it may name an option in translation ("堪培拉" for "Canberra"), which only a model can map."""
    # "MATHEMATICAL": a capital of inline maths, written as its italic letter (`normalise`).
    known = {"LATIN", "MATHEMATICAL"}
    return _scripts(text[:2000]) - _scripts(" ".join(options.values())) - known != set()


def _scripts(text: str) -> set[str]:
    return {unicodedata.name(ch, "?").split(" ")[0] for ch in set(text) if ch.isalpha()}


_EMPHASISED = re.compile(r"\*\*([^*\n]{1,80})\*\*|(?<!\w)__([^_\n]{1,80})__(?!\w)")


def emphasised(reply: str, options: dict[str, str]) -> frozenset[str]:
    """The letters whose whole option text the raw reply sets in bold ("| **Ribosome** |"),
    read before `normalise` drops the markup."""
    bold = {
        _ARTICLE.sub("", " ".join(_fold(a or b).split())) for a, b in _EMPHASISED.findall(reply)
    }
    return frozenset(
        letter.upper()
        for letter, option in options.items()
        if _ARTICLE.sub("", " ".join(_fold(option).split())) in bold
    )


_PARENTHETICAL = re.compile(r"\s*[(\[]")
_MAX_FUZZY_WORDS = 6


def fuzzy_option(text: str, options: dict[str, str]) -> str | None:
    """The letter of the one option a short reply names with a typo, a spelling variant or an
    abbreviation ("mitocondrion", "Good manufacturing practise", "Raney Ni."), or None.

    Only a reply of a few words (what precedes a parenthetical aside) is read so, word by word
    against each option's words, and only a single option may match: a longer reply names
    options in passing, and there a near miss is more likely another word than a typo."""
    head = _PARENTHETICAL.split(text, 1)[0].strip(" .!*\"'")
    words = _fold(head).replace(".", " ").split()
    if not words or len(words) > _MAX_FUZZY_WORDS:
        return None
    hits = [
        letter.upper()
        for letter, option in options.items()
        if _words_match(words, _ARTICLE.sub("", _fold(option)).split())
    ]
    return hits[0] if len(hits) == 1 else None


def _words_match(said: list[str], option: list[str]) -> bool:
    said = said[1:] if said[0] in ("the", "a", "an") and len(said) > 1 else said
    if len(said) != len(option):
        return False
    return all(_word_matches(a, b) for a, b in zip(said, option, strict=True))


def _word_matches(said: str, word: str) -> bool:
    if said == word:
        return True
    if len(said) >= 2 and word.startswith(said) and said.isalpha() and len(word) > len(said):
        return len(said) >= 2 and said[0] == word[0]  # an abbreviation: "Ni" for "nickel"
    if min(len(said), len(word)) < 5:
        return False
    return difflib.SequenceMatcher(None, said, word).ratio() >= 0.8
