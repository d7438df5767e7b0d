"""A reply as a grader reads it: one script, no markup, and only the part that is its own answer.

Two steps, both before any rule looks for a letter:
- `normalise` folds what only looks different (full-width forms, look-alike Cyrillic and Greek
  capitals, CJK punctuation, letters glued to kana or hanzi) and drops markup that carries no
  words (emphasis, headers, quotes around a letter, LaTeX boxes; a capital alone in inline
  maths, "$A$", becomes its italic symbol); check marks and ticked boxes
  become words, JSON/YAML answer fields and "Answer" headings become "answer: X" labels.
- `own_answer` keeps the part of the reply that answers this question: after a closed `<think>`
  trace (or Ollama's "Thinking..." block), after the "Q:" line of a reply in Q/A form, before
  a base model's next question, without a restated list of the options, and only the first
  answer of a base model's loop.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Capitals that render like A, B, C, E in Latin script. Folded only where they stand alone, so
# Russian or Greek words keep their letters ("Ответ: А" becomes "Ответ: A").
_LOOKALIKES = str.maketrans(
    {"А": "A", "В": "B", "С": "C", "Е": "E", "Α": "A", "Β": "B", "Ε": "E", "а": "a", "с": "c"}
)
_LONE_LOOKALIKE = re.compile(r"(?<!\w)[АВСЕΑΒΕас](?!\w)")
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
# Python's \w matches kana and hanzi, so a letter glued to them ("答えはCです") is no token.
_GLUED = re.compile(rf"(?<=[{_CJK}])(?=[A-Za-z])|(?<=[A-Za-z])(?=[{_CJK}])")
# "【答案】A" is the label "答案: A".
_CJK_PUNCT = str.maketrans(
    {"。": ". ", "、": ", ", "「": '"', "」": '"', "『": '"', "』": '"', "【": " ", "】": ": "}
)
# "Ｂ．Mitochondrial matrix": a full-width stop after a letter is a sentence's stop, spaced as
# the ideographic one is ("B." glued to a word would read as an abbreviation).
_WIDE_STOP = re.compile(r"(?<=[A-Za-z\uff21-\uff3a\uff41-\uff5a])\uff0e")
_MARKS = (
    (re.compile(r"[✅✔✓☑]\ufe0f?"), " correct: "),
    (re.compile(r"[❌✗✘✖]\ufe0f?"), " incorrect: "),
)
_LATEX = (
    (
        re.compile(r"\\boxed\s*\{\s*(?:\\(?:text(?:bf)?|math(?:rm|bf))\s*\{)?\s*(\w)\s*\}?\s*\}"),
        r" answer: \1 ",
    ),
    (re.compile(r"\\text(?:bf)?\s*\{([^{}]*)\}"), r"\1"),
    # The delimiters of LaTeX maths, "\( J. 0.1800 \)", carry no words.
    (re.compile(r"\\[()\[\]]"), " "),
)
# A capital set alone in inline maths ("Hence $A$ is similar to $D$", "where $C$ is the
# capacitance") is a symbol of the maths, written as the italic letter it renders as, so no
# rule reads it as an option; one an answer label names ("The answer is $B$") stays a letter.
_MATH_LETTER = re.compile(r"(?<!\$)\$([A-Z])\$(?!\$)")
_MATH_LABEL = re.compile(r"\b(?:answer|option|choice)s?\b[^.\n$]{0,20}$", re.I)
_DOLLARS = re.compile(r"\$+")


def _math_letter(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 40) : match.start()]
    if _MATH_LABEL.search(before):
        return f" {match.group(1)} "
    return chr(0x1D434 + ord(match.group(1)) - ord("A"))  # MATHEMATICAL ITALIC CAPITAL


_STRUCK = re.compile(r"~~[^~\n]{0,200}~~")  # struck out: the writer withdrew it
# Structured answers (JSON, YAML, checklists) read as the labels they are: `"answer": "B"` as
# "answer: B", a ticked box as a verdict on its line, a fence's language tag as nothing.
_STRUCTURED = (
    (re.compile(r"^[ \t]*```[\w+-]{0,20}[ \t]*$", re.MULTILINE), ""),
    (re.compile(r"([\"'])(\w[\w \-]{0,30})\1[ \t]*:"), r"\2:"),
    (re.compile(r":[ \t]*([\"'])([^\"'\n]{0,40})\1"), r": \2"),
    (re.compile(r"^([ \t]*[-*][ \t]*)\[[xX✓✔][ \t]*\](.*)$", re.MULTILINE), r"\1\2 : correct"),
    (re.compile(r"^([ \t]*[-*][ \t]*)\[[ \t]?\]", re.MULTILINE), r"\1"),
    # An "Answer" heading labels the line under it; <answer>C</answer> is the same label.
    (
        re.compile(
            r"^[ \t]*#{1,6}[ \t]*((?:final[ \t]+)?answer)[ \t:]*\n+(?:[ \t]*>)?", re.M | re.I
        ),
        r"\1: ",
    ),
    (re.compile(r"<answer>\s?([^<\n]{0,80}?)\s?</answer>", re.I), r" answer: \1 "),
)
# Ollama prints a reasoning model's trace between these lines instead of <think> tags.
_OLLAMA_TRACE = (
    (re.compile(r"\A\s*Thinking\.\.\.[ \t]*$", re.MULTILINE), "<think>"),
    (re.compile(r"^\.\.\.done thinking\.[ \t]*$", re.MULTILINE), "</think>"),
)
# Patterns that scan the whole reply keep linear time by construction: no two unbounded repeats
# that can match the same characters side by side or nested, and an underscore run is tried
# from its first character only (`(?<!_)`), so "a____b" costs one pass, not one per position.
_TABLE_RULE = re.compile(r"^[ \t]*(?:\|[ \t]*)?:?-{3,}.*$", re.MULTILINE)
_EMPHASIS = re.compile(r"[*`]|(?<!\w)_+|(?<!_)_+(?!\w)|^[ \t]*[#>]+[ \t]*", re.MULTILINE)
_QUOTED_LETTER = re.compile(r"(?<!\w)[\"'‘“«]([A-Za-z])[\"'’”»](?!\w)")
# Runs worth rewriting: a lone plain space is already what a run becomes (and most are that).
_SPACES = re.compile(r"\s{2,}|[^\S ]")
_TABLE_EDGE = re.compile(r"^[ \t]*\|[ \t]*|(?<![ \t])[ \t]*\|[ \t]*$", re.MULTILINE)
_PARAGRAPH = re.compile(r"(\n(?:[^\S\n]*\n)+)")
_SPECIAL_TOKEN = re.compile(r"<\|(?:im_end|im_start|endoftext|eot_id|end)\|>")


def normalise(text: str) -> str:
    """One form for what reads the same. Every run of whitespace becomes a space, a newline or
    a blank line (paragraphs matter to `own_answer`), so no rule backtracks over long runs."""
    text = _WIDE_STOP.sub(". ", text)
    text = unicodedata.normalize("NFKC", text).translate(_CJK_PUNCT)
    text = _SPACES.sub(_one_space, text)  # first, so no pattern below meets a long blank run
    # A printed end-of-turn token ends the reply; marked before the pipes below break it up.
    text = _SPECIAL_TOKEN.sub("\n\n</s>\n\n", text)
    text = _LONE_LOOKALIKE.sub(lambda m: m.group().translate(_LOOKALIKES), text)
    text = _GLUED.sub(" ", text)
    for pattern, repl in (*_OLLAMA_TRACE, *_STRUCTURED, *_MARKS, *_LATEX):
        text = pattern.sub(repl, text)
    text = _DOLLARS.sub(" ", _MATH_LETTER.sub(_math_letter, text))
    text = _STRUCK.sub(" ", text)
    text = _SPACES.sub(_one_space, text)  # the substitutions above leave runs of spaces
    text = text.replace("||", "‖")  # a norm ("||Ax||"), not an empty table cell
    text = _TABLE_RULE.sub("", text)
    # Table cells become clauses, so "| C | 0.210 mol | correct |" reads like a verdict line.
    text = _TABLE_EDGE.sub("", text).replace("|", " : ")
    text = _EMPHASIS.sub("", text)
    text = _QUOTED_LETTER.sub(r"\1", text)
    return _SPACES.sub(_one_space, text).strip()


def _one_space(match: re.Match[str]) -> str:
    newlines = match.group().count("\n")
    return "\n\n" if newlines > 1 else "\n" if newlines else " "


# -- the reply's own answer ----------------------------------------------------------------------
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
# Where a base model starts the next item of the prompt's pattern, or a transcript's next turn.
_NEXT_ITEM = re.compile(
    # Capitalised: a lower-case "question:" is a key of the reply's own JSON or YAML answer.
    r"^(?-i:Question|QUESTION|Problem|PROBLEM|Q)\s*\d*\s*[:.)]|^(?-i:Question)\s+\d+\b"
    r"|^(?:user|human)\s*:"
    r"|^the\s+following\s+are\s+multiple\s+choice\s+questions|^(?:问题|質問|問題)\s*\d*\s*:",
    re.IGNORECASE | re.MULTILINE,
)


_LONE_CAPITAL = re.compile(r"(?<!\w)[A-Z](?!\w)")
_RESTATING = re.compile(r"\b(?:restat|repeat|recap|rewrit)\w*", re.I)
_QA_FORM = re.compile(
    r"\A(?-i:Q|Question|QUESTION)\s*:[^\n]*\?[ \t]*\n+(?-i:A|Answer|ANSWER)\s*:[ \t]*"
)


@dataclass(frozen=True)
class OwnAnswer:
    text: str
    trace: str = ""  # a closed <think> trace, read when the answer after it names no letter
    unfinished_thinking: bool = False  # a <think> trace that never closed
    continued: bool = False  # the reply went on past its own answer (a cut there is harmless)
    mixed_loop: bool = False  # a loop of answers that are not all the same: its first is kept


def own_answer(text: str, letters: str, options: dict[str, str] | None = None) -> OwnAnswer:
    """The part of a normalised reply that answers this question (see the module docstring)."""
    trace = ""
    if _THINK_CLOSE in text:
        before, text = text.rsplit(_THINK_CLOSE, 1)
        trace = before.split(_THINK_OPEN, 1)[-1].strip()
    elif _THINK_OPEN in text:
        return OwnAnswer("", unfinished_thinking=True)
    whole = text
    text = text.split("</s>", 1)[0]
    # "Q: <the question>?  A: ICH Q7.": a reply in question-and-answer form; its "A:" is the
    # answer's label, not option A, and its "Q:" no next item.
    text = _QA_FORM.sub("answer: ", text, count=1)
    echoed = False
    for match in _NEXT_ITEM.finditer(text):
        # A reply may open by restating this very question (its options are the item's);
        # any other next question ends the answer, even at the start (then it gave none).
        # So may one that says it will restate it first, in a whole sentence naming no letter
        # (a base model's "The capital of Australia is" breaks off before its next item).
        opening = match.start() == 0 or (not echoed and _announces(text[: match.start()]))
        if opening and _restates(text[match.start() :], options):
            echoed = True
            continue
        # A preamble naming no option (by letter or text), then "Question: ..." and this
        # item's options each weighed in its own paragraph: an analysis that quotes its
        # question; a base model that answered first ("3.0 × 10^8 m/s. ...") writes a next one.
        before = text[: match.start()]
        quoting = not echoed and _preamble(before) and not _names_option(before, options)
        if quoting and _restates(text[match.start() :], options, 2 * len(options or ()) + 1):
            echoed = True
            continue
        text = text[: match.start()]
        break
    # Only a reply that opened by restating this question may list its options again.
    text = _before_next_question(text, letters, options, echoed)
    looped, mixed = _before_repetition(text, letters)
    looped = looped.strip()
    return OwnAnswer(
        looped, trace=trace, continued=len(looped) < len(whole.strip()), mixed_loop=mixed
    )


def _announces(before: str) -> bool:
    """ "Let's restate the question and options first.": a whole sentence, naming no letter."""
    before = before.rstrip()
    return _preamble(before) and _RESTATING.search(before) is not None


def _preamble(before: str) -> bool:
    """Whole sentences that name no letter ("To answer this, consider each option.")."""
    before = before.rstrip()
    return before[-1:] in (".", ":") and _LONE_CAPITAL.search(before) is None


def _names_option(text: str, options: dict[str, str] | None) -> bool:
    folded = " ".join(text.casefold().split())
    return any(" ".join(v.casefold().split()) in folded for v in (options or {}).values())


def _restates(text: str, options: dict[str, str] | None, paragraphs: int = 3) -> bool:
    """Does `text` list this item's own options, each under its own letter (in its first
    `paragraphs` paragraphs)?"""
    if not options:
        return False
    head = " ".join(text.split("\n\n", paragraphs)[:paragraphs]).casefold()
    found = 0
    for letter, option in options.items():
        body = re.escape(" ".join(option.casefold().split()))
        found += bool(body and re.search(rf"\(?{letter.casefold()}[).:]\s*{body}", head))
    return found >= min(3, len(options))


def _before_repetition(text: str, letters: str) -> tuple[str, bool]:
    """A first line that is an answer ("C", "Answer: A") followed only by more such lines is a
    base model looping after it answered; the options in order ("A. ...", "B. ...") are a list
    instead, left for the rules to read. Also says whether the loop gave different answers
    (lines that carry a verdict, "D) Saturn is incorrect", are not answers)."""
    lines = [x.strip() for x in text.split("\n") if x.strip()]
    found = [_answer_line(letters).match(x) for x in lines]
    if len(lines) < 2 or not all(found):
        return _before_loop(text, letters)
    sequence = "".join(m.group(1).upper() for m in found if m)
    if sequence.startswith(letters[: min(3, len(sequence))]):
        return text, False
    answers = {m.group(1).upper() for m in found if m and _VERDICT.search(m.group()) is None}
    return lines[0], len(answers) > 1


_SENTENCES = re.compile(r"(?<=[.!])\s+")


def _before_loop(text: str, letters: str) -> tuple[str, bool]:
    """The same answer over and over on one line ("B B B B", "The answer is B. The answer is
    B. ...") is a base model looping: its first answer, if the loop mostly repeats it."""
    unit = _loop_unit(letters)
    for units in (text.split(), _SENTENCES.split(text)):
        found = [unit.match(x) for x in units]
        if len(units) < 3 or not all(found):
            continue
        sequence = [m.group(1) for m in found if m]
        counts = sorted((sequence.count(x) for x in set(sequence)), reverse=True)
        first_leads = sequence.count(sequence[0]) == counts[0] and counts[1:2] != counts[:1]
        in_order = "".join(sequence).startswith(letters[:3])
        if first_leads and not in_order:
            return units[0], len(set(sequence)) > 1
        return text, False
    return text, False


@lru_cache(maxsize=16)
def _loop_unit(letters: str) -> re.Pattern[str]:
    return re.compile(
        rf"^(?:(?:the\s+)?(?:correct\s+)?answer(?:\s+is|\s*:)\s*)?[(\[]?((?-i:[{re.escape(letters)}]))"
        r"[)\].]?$",
        re.I,
    )


@lru_cache(maxsize=16)
def _answer_line(letters: str) -> re.Pattern[str]:
    """ "C", "Answer: A", "(D) 0.250 mol": a line that gives one option and nothing else (a
    letter before text needs its bracket or stop: "A 6 kg object" opens with the article)."""
    up = re.escape(letters)
    return re.compile(
        rf"^(?:answer\s*:\s*)?[(\[]?((?-i:[{up}])|[{up.lower()}])(?:[)\].](?:\s+\S.*)?)?$", re.I
    )


@lru_cache(maxsize=16)
def option_line(letters: str) -> re.Pattern[str]:
    """A line that opens with an option marker: "A. text", "- B – text", "Option C: text"."""
    up = re.escape(letters)
    return re.compile(
        rf"^\s*(?:[-•]\s*|\d+[.)]\s*)?(?:(?:option|choice|选项)\s*)?[(\[]?(?P<L>(?-i:[{up}]))"
        rf"(?:\s*[).:\]]|\s+[-–—]|\s+\(|\s*$)(?P<rest>.*)$",
        re.IGNORECASE,
    )


_VERDICT = re.compile(
    r"\b(?:in)?correct\b|\bwrong\b|\bright\b|\btrue\b|\bfalse\b|\bmatch|\bfits\b|\btoo\b|"
    r"\bignores?\b|\bnot\b|\bno\b|\byes\b",
    re.IGNORECASE,
)


def _options_below(lines: list[str], line: re.Pattern[str]) -> bool:
    """Three or more bare options under a question line: one per line ("A. text") or inline
    ("(A) Mercury (B) Venus (C) Earth")."""
    run = [m for m in map(line.match, lines[1:]) if m is not None]
    bare = all(_VERDICT.search(m.group("rest")) is None for m in run)
    # Closed by its own "Answer:" line, as a few-shot item is: options, not verdicts, even
    # where an option's text has a verdict word ("CO2 with no catalyst").
    bare = bare or _ITEM_ANSWER.match(lines[-1]) is not None
    if len(run) >= 3 and bare:
        return True
    return any(len(_INLINE_OPTION.findall(x)) >= 3 for x in lines[1:3])


_ITEM_ANSWER = re.compile(r"(?-i:Answer|ANSWER)\s*:")
_INLINE_OPTION = re.compile(r"\([A-Z]\)\s*\w")


_OPTIONS_LABEL = re.compile(r"(?:answer\s+)?(?:options|choices)\s*:?", re.I)


def _before_next_question(
    text: str, letters: str, options: dict[str, str] | None, echoed: bool = False
) -> str:
    """Cut where a new question begins: a paragraph (not the first) made of a question line and
    then its options, as a base model continues a few-shot prompt. This item's own options listed
    again are no new question in a reply that opened by restating it, nor under a bare
    "Options:" label (a reply that lists them before it picks one)."""
    line = option_line(letters)
    paragraphs = _PARAGRAPH.split(text)
    offset = len(paragraphs[0])
    for index in range(2, len(paragraphs), 2):
        lines = paragraphs[index].split("\n")
        offset_here = offset + len(paragraphs[index - 1])
        new = len(lines) >= 2 and line.match(lines[0]) is None and _options_below(lines, line)
        relisted = echoed or _OPTIONS_LABEL.fullmatch(lines[0].strip()) is not None
        own = relisted and _restates(paragraphs[index], options)
        # "The options provided are:" / "Now, let's compare this to the options:" over this
        # item's own options (whole or their values): the reply weighing them, no new item.
        own = own or (_lead_in(lines[0]) and _lists_own(lines[1:], line, options))
        if new and not own:
            return text[:offset_here]
        offset = offset_here + len(paragraphs[index])
    return text


# A line that introduces what follows ("The options provided are:", "1. **Reviewing the
# options:**"); a few-shot item's question line asks, it does not announce a list.
_LEAD_IN_LINE = re.compile(r"\b(?:options|choices|alternatives)\b[^?\n]*:\W*$", re.I)


def _lead_in(first: str) -> bool:
    return _LEAD_IN_LINE.search(first) is not None


def _lists_own(lines: list[str], line: re.Pattern[str], options: dict[str, str] | None) -> bool:
    """Do the option lines restate this item's own options, each by its text or the start of
    it ("A. 0.2" for "0.2 mol retinol /mol ß-carotene")?"""
    if not options:
        return False
    same = 0
    for m in filter(None, map(line.match, lines)):
        listed = " ".join(m.group("rest").casefold().split()).strip(" .*")
        own = " ".join(options.get(m.group("L").upper(), "").casefold().split())
        same += bool(listed and own and (own.startswith(listed) or listed.startswith(own)))
    return same >= min(3, len(options))
