"""Where a reply names an option by its text instead of its letter ("at the ribosome")."""

from __future__ import annotations

import re
import unicodedata

from doctune.evaluate.extraction.result import Candidate

_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def option_mentions(text: str, letters: str, options: dict[str, str]) -> list[Candidate]:
    """One candidate per place an option's text occurs, as if its letter stood there.

    Texts are matched case-insensitively, without a leading article, and bounded so "0.2 mol" is
    not found inside "0.21 mol" nor "1" inside "10"; an option whose text lies inside a longer
    option's text found at the same place counts once, as the longer one ("sodium chloride").
    """
    folded = _fold(text)
    spans: list[tuple[int, int, str]] = []
    for letter, option in options.items():
        body = " ".join(_fold(option).split())
        body = _ARTICLE.sub("", body) or body
        if letter.upper() not in letters or not body:
            continue
        # The article goes with the match, so "is not the nucleus" reads "not" right before it.
        pattern = rf"(?<![\w.,])(?<!\d[.,])(?:(?:the|a|an)\s+)?{re.escape(body)}(?!\w)(?![.,]\d)"
        spans += [(m.start(), m.end(), letter.upper()) for m in re.finditer(pattern, folded)]
    kept = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
    return [Candidate(letter, start, end) for start, end, letter in sorted(kept)]
