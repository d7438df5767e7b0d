"""Lines that open with an option marker ("B) 0.200 mol", "- C (0.210 mol): matches"): a
reply's opening answer, a list of verdicts on each option, or the options restated; how
`candidates` reads the letters that stand at the start of their line."""

from __future__ import annotations

import re
from dataclasses import replace

from doctune.evaluate.extraction.result import Candidate
from doctune.evaluate.extraction.text import normalise, option_line

_LINE_REJECT = re.compile(
    r"\bincorrect\b|\bwrong\b|\bfalse\b|\bnot\b|\btoo\b|\bignores?\b|\bno\b|错误|誤り", re.I
)
_LINE_ACCEPT = re.compile(r"\bcorrect\b|\bright\b|\btrue\b|\bmatch\w*|\bfits\b|\byes\b|正确", re.I)


def _concludes(text: str, c: Candidate) -> bool:
    line_start = text.rfind("\n", 0, c.start) + 1
    alone = not text[line_start : c.start].strip() and not text[c.end :].strip()
    return alone and text[:line_start].rstrip(" \t").endswith("\n\n")


def _labelled_above(text: str, c: Candidate) -> bool:
    """Does the line above end with an answer label ("Thus the correct answer is:")?"""
    line_start = text.rfind("\n", 0, c.start) + 1
    above = text[: max(0, line_start - 1)].rsplit("\n", 1)[-1].rstrip()
    return _LABEL_ABOVE.search(above[-80:]) is not None


def _listed_below(text: str, c: Candidate, starts: dict[int, str]) -> bool:
    """Does the next line open with an option marker too?"""
    end = text.find("\n", c.start)
    after = text.find("\n", end + 1) if end >= 0 else -1
    return end >= 0 and any(end < at < (after if after >= 0 else len(text)) for at in starts)


def _announced_below(
    text: str, c: Candidate, starts: dict[int, str], found: list[Candidate]
) -> bool:
    """Is the letter's line the one option line a paragraph below an answer label ("Therefore,
    the best answer is:\n\nE. Increased demand"), a walkthrough's conclusion? Only where no
    option line and no other letter follows it: two or more lines there re-list the options."""
    line_start = text.rfind("\n", 0, c.start) + 1
    if not text.endswith("\n\n", 0, line_start):
        return False
    above = text[: line_start - 2].rsplit("\n", 1)[-1].rstrip()
    if _LABEL_ABOVE.search(above[-80:]) is None:
        return False
    line_end = text.find("\n", c.start)
    line_end = len(text) if line_end < 0 else line_end
    return not any(at > line_end for at in starts) and not any(
        o.start > line_end and o.letter != c.letter for o in found
    )


# After an option's text on its line: nothing, a stop, or a reason ("- it alone ...", "(as");
# not more of a number ("0" of "0.5") or of a word.
_TEXT_ENDS = re.compile(r"\s*(?:$|[.;:,!](?!\w)|[-–—]\s|\()")


def _own_text(rest: str, letter: str, options: dict[str, str]) -> bool:
    """Does the line go on with the letter's own option text ("E. Increased demand for the
    product", then at most a stop or a reason), and not another option's or none?"""
    option = next((v for k, v in options.items() if k.upper() == letter), None)
    if option is None:
        return False
    said, own = (" ".join(normalise(x).casefold().split()) for x in (rest, option))
    own = own.rstrip(" .")
    return bool(own) and said.startswith(own) and _TEXT_ENDS.match(said, len(own)) is not None


# "the correct answer is:", "Final answer:"; not a list's heading ("Now, consider each choice:").
_LABEL_ABOVE = re.compile(
    r"(?:\b(?:answer|choice|option)\s+(?:is|would\s+be|will\s+be|must\s+be|should\s+be)"
    r"|\b(?:final|correct|right|best)\s+(?:answer|choice|option)|^\s*answer)\s*:$",
    re.I,
)


def _opening(text: str, letters: str) -> int:
    """Where the letter of a reply's opening option line stands, when that line is a
    paragraph of its own and prose follows it ("B) 3x^2 sin x\n\nBy the product rule ...");
    -1 otherwise (options restated one paragraph each are no answer)."""
    first, _, rest = text.partition("\n")
    following = rest.lstrip("\n").split("\n", 1)[0]
    if not rest.startswith("\n") or option_line(letters).match(following):
        return -1
    m = re.match(r"\s*[(\[]?(?=\w[).:\]])", first)
    return m.end() if m else -1


def with_lines(
    text: str, letters: str, found: list[Candidate], options: dict[str, str] | None = None
) -> list[Candidate]:
    """Lines that open with an option marker. Several of them are a list: each line is the
    verdict on its letter ("- B (0.200 mol): ignores the excess"), or just the option restated.
    One, at the very start, is the reply answering ("C) 0.210 mol", "Option D."); so is the one
    a paragraph below an answer label with nothing after it that names another option, when it
    gives that option's own text (confirmed only weakly where the `options` are not known)."""
    pattern = option_line(letters)
    starts: dict[int, str] = {}
    offset = 0
    for line in text.split("\n"):
        m = pattern.match(line)
        if m is not None:
            starts[offset + m.start("L")] = m.group("rest")
        offset += len(line) + 1
    distinct = {text[i].upper() for i in starts}
    listed = any(rest.strip() for rest in starts.values())
    out = []
    for c in found:
        rest = starts.get(c.start)
        if rest is None:
            out.append(c)
        elif c.role != "reject" and _labelled_above(text, c) and not _listed_below(text, c, starts):
            # "the correct answer is:\nC. SYN stealth scan": the line the label announces
            # (the first of a list under it, "answer:\n- B\n- D", names two).
            out.append(replace(c, role="commit", strength=2))
        elif (
            c.role != "reject"
            and _announced_below(text, c, starts, found)
            and (options is None or _own_text(rest, c.letter, options))
        ):
            # "Therefore, the best answer is:\n\nE. Increased demand for the product" after a
            # walk through the options. A line whose text is another option's ("E. <F's
            # text>") or none's is left to the readings below: which one it meant is open.
            out.append(replace(c, role="commit", strength=1 if options is None else 2))
        elif c.start == _opening(text, letters) and c.role == "mention":
            # "**B) ...**" a paragraph of its own, the list of the others below it: the reply
            # answers first and then explains why the rest fail.
            out.append(replace(c, role="commit", strength=2, leading=True))
        elif listed and not rest.strip() and _concludes(text, c):
            # The letter alone on the last line, a paragraph below options that each had their
            # say: the list's conclusion ("- C) 29 — prime ✓ ... \n\n**C**"). Right under
            # them it may be a restated list that was cut ("C. 29\nD").
            out.append(replace(c, role="commit", strength=2))
        elif len(distinct) == 1:
            keep_verdict = c.role == "reject" or (c.start > 0 and c.role != "mention")
            out.append(c if keep_verdict else replace(c, role="commit", strength=2, leading=True))
        elif _LINE_REJECT.search(rest):
            out.append(replace(c, role="reject"))
        elif _LINE_ACCEPT.search(rest):
            out.append(replace(c, role="commit", strength=1))
        else:
            out.append(replace(c, role="mention", strength=0))
    return out
