"""Which option a free-text reply chose, read the way a careful human grader reads it.

The reply is first reduced to its own answer (`text.own_answer`: no think trace, no next
question a base model wrote, no markup). Then, in this order, the first rule that decides wins:

1. cut off: a `<think>` trace that never closed gives no letter, whatever it says so far (a
   reasoning model's tentative "so C?" is not its answer); with `finish_reason == "length"`,
   a cut inside the reply's own answer keeps only an answer already stated outright ("Answer:
   C" before an explanation that ran out), while a cut in what followed the answer (a base
   model writing its next question) costs nothing, and a commitment the reply was already
   reconsidering when cut ("A is the likeliest, but") is none, and so is one cut while
   stating an answer it reasoned towards after its last letter ("(b) ... The answer is (";
   a lead-in of a few words, "Now, putting it together, the final answer is", adds none);
   a closed trace followed by nothing usable gives the trace's conclusion, unless the cut
   came right after the trace;
2. the whole reply is one letter ("C", "**(c)**", "答案：C" reduced), or one option's value
   without its unit ("109.5" for "109.5°");
3. commitments: every option letter in the reply is classified by the words around it
   (`cues`), as one of
   - rejected ("D is incorrect", "not B", "A项错误"),
   - hypothetical ("C would be correct only if ...", "If the ratio were 1:1, B"), attributed
     to someone else ("You might think it's B"), or asked ("Is it C?"),
   - committed, strongly ("the answer is C", "so, C", "Correct: C", "it's C", a reply opening
     with "C) ...") or weakly ("probably C", "matches D", "B would be correct", a verdict line
     "- C (0.210 mol): matches", a concluding "Therefore, ... (J) <its text>."),
   - merely mentioned;
   a letter that is a symbol ("E = hc/λ", "f(1, 1)", "E(X)", "(R / J)", "$A$" alone in
   inline maths, "C_{v}", a truth table's "T : F", a formula's variable "~G ⊃ H", a formula
   broken one symbol a line), an initial ("C.H. Walters") or a Roman numeral numbering
   statements ("I. ..." beside "II. ...") is none of these, unless an answer label names it;
   nor is a letter inside another option's text the reply names ("Option B" where that is
   option D's whole text).
   The line under an answer label ("the correct answer is:" over "C. SYN scan") commits, and
   so does the one a paragraph below it ("Therefore, the best answer is:\n\nE. Increased
   demand") where it gives that option's own text and nothing after it names another option
   (two or more option lines there re-list the options).
   A letter named and disowned ("closest is (J), but it is not the correct answer") is
   rejected; an answer disowned after it ("... B. However, this option is not correct") is
   withdrawn.
   A letter joined to the previous one ("A, B and D are wrong", "Neither A nor B") takes its
   role. The strongest commitments decide (`deciding`) and among them the last one, because
   replies that reason first conclude last and a correction ("C. Wait, actually D") comes
   after what it corrects; but two different answers with nothing that revises the first
   between them ("The answer is C. The answer is D.") are ambiguous, and so is a commitment
   naming two letters ("B or C", "either (B) <its text> or (C) <its text>"); in a structured
   reply with an answer key (`answer: D`), letters that key other entries ("A: only accounts
   for ...") are labels, not answers;
4. a reply that stops mid-sentence with nothing committed is cut off, unless it opened with
   one option's text (a base model continuing "Answer:" states it first, then rambles);
   one that declines to choose ("I'd rather not guess") or finds no option right gives none;
5. the options' texts, when given: the one option the reply names without a letter ("the
   ribosome"), read with the same cues (a rejected option text does not count, and letters
   left open, "either B or C", outweigh an option text named without a verdict); among
   several, one alone on the first line, the only one the first sentence names, or the only
   one set in bold; an option text given as an example ("e.g. about 90 °C") or as a bound
   ("differ by more than 30 %") is none, and a lone one is none either when the reply states
   its answer in other words ("the answer is the palladium complex");
6. a short reply whose only letter is mentioned without any verdict ("B because the ratio is
   1:1.05") chooses it, and so does one that rejects every option but one and states that
   one's value ("2 horas. No es B, no es C, no es D"); rejections alone choose nothing;
7. a reply of a few words naming one option's text with a typo, a spelling variant or an
   abbreviation ("mitocondrion", "Raney Ni.") chooses it, unsettled;
8. otherwise no letter: "ambiguous" when several letters are in play, else "none".

Before all these, a reply that only lists the options again, or that ends by saying it is
lost ("no wait, that's D. I'm confused.", "I keep going back and forth between B and C"),
gives none; and a cut right after "Option C" keeps no commitment to C.

`confident` says whether the rules settled the reply: a strong commitment (to a letter, or to
an option's whole text with nothing else in play), a bare letter, or a reply with no letter in
play and no answer stated in words the rules cannot map ("正确选项为：乙酸", or a reply in a
script no option uses, "堪培拉" for "Canberra"). Weak commitments, option texts, conflicts and neutral
mentions are not settled; with `evaluate.extraction: rules+model` those go to the judge model.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from doctune.evaluate.extraction import cues
from doctune.evaluate.extraction.candidates import (
    ENDS_WITH_IS,
    SENTENCE_END,
    candidates,
    classify,
    inherit,
    sentence_start,
)
from doctune.evaluate.extraction.deciding import decide
from doctune.evaluate.extraction.fallbacks import (
    answered_otherwise,
    eliminated,
    pending_answer,
    single_mention,
    stopped_mid_sentence,
)
from doctune.evaluate.extraction.lines import with_lines
from doctune.evaluate.extraction.options import (
    bare_value,
    emphasised,
    fuzzy_option,
    option_mentions,
    other_script,
)
from doctune.evaluate.extraction.result import Candidate, Extracted
from doctune.evaluate.extraction.text import normalise, own_answer


@lru_cache(maxsize=16)
def _whole(letters: str) -> re.Pattern[str]:
    return re.compile(rf"\W*([{re.escape(letters + letters.lower())}])\W*")


def read_choice(
    reply: str,
    letters: str = "ABCD",
    options: dict[str, str] | None = None,
    finish_reason: str | None = None,
) -> Extracted:
    """The option a reply chose, by the rules of the module docstring."""
    letters = "".join(sorted({x.upper() for x in letters}))
    if not letters:  # a question without options has nothing to choose from
        return Extracted(None, "none", True, "no options")
    own = own_answer(normalise(reply), letters, options)
    if own.unfinished_thinking:
        return Extracted(None, "cut_off", True, "think trace never closed")
    cut = finish_reason == "length" and not own.continued
    marked = emphasised(reply, options) if options else frozenset()
    read = _read(own.text, letters, options, cut, marked)
    if cut and own.trace and not own.text:
        # The trace closed and the cut came before any answer: a "so the answer is A" in the
        # middle of it is a step of the reasoning, not the reply's answer.
        return Extracted(None, "cut_off", True, "cut off after its trace")
    if own.trace and (not own.text or read.kind == "cut_off"):
        # The answer after a closed trace named nothing (or was cut): the trace concluded.
        from_trace = _read(own.trace, letters, options)
        read = from_trace if from_trace.kind == "letter" else read
    # Cut inside its own answer: only an answer already stated outright stands; a hedge or a
    # letter read from option text may be what the missing rest would have revised.
    if own.mixed_loop and read.kind == "letter":
        # A loop of different answers: its first is the likeliest, not a settled one.
        read = replace(read, confident=False, rule=f"{read.rule}, first of a loop")
    stated = read.kind == "letter" and read.rule.split(",")[0] in _STATED
    # "... Option C" and the cut: the reply was about to say what it thinks of C.
    stated = stated and _CUT_AT_LETTER.search(own.text) is None
    # "- CGA codes for arginine\n- C" and the cut: the first letter of the list's next item.
    stated = stated and not _cut_in_list(own.text)
    # "... The answer is (H). (b) ... = 1.2 atm. The answer is (": cut while stating an answer
    # it reasoned towards after the last one, which that answer may not be.
    stated = stated and not pending_answer(own.text)
    if cut and not stated:
        return Extracted(None, "cut_off", True, "finish_reason length")
    return read


_STATED = frozenset({"bare letter", "commitment", "option text first"})
# The letter stands apart from the word ("Option C", "answer (B"), not its plural ending ("answers").
_CUT_AT_LETTER = re.compile(
    r"\b(?:option|choice|answer)(?:\s+[(\[]?|\s*[(\[])\s*[A-Za-z]\s*[)\]]?\s*$", re.I
)


_BULLET = re.compile(r"[ \t]*([-•*])[ \t]*")


def _cut_in_list(text: str) -> bool:
    """Does the text end on a bullet holding one letter, below bullets of words that are not
    options ("- CGA codes for arginine (R)")? That letter begins the next item's word."""
    lines = text.rstrip().split("\n")
    last = _BULLET.match(lines[-1])
    if len(lines) < 3 or last is None or len(lines[-1][last.end() :].strip()) != 1:
        return False
    above = [_BULLET.match(x) for x in lines[-3:-1]]
    return all(
        m is not None and m.group(1) == last.group(1) and len(x[m.end() :].split()) > 2
        for m, x in zip(above, lines[-3:-1], strict=True)
    )


def _echoes_options(text: str, options: dict[str, str]) -> bool:
    """Is the reply nothing but the options listed again ("A) Judicial review" ...)?"""
    lines = [x.strip().casefold() for x in text.split("\n") if x.strip()]
    if len(lines) != len(options):
        return False
    listed = [
        re.fullmatch(rf"\(?{re.escape(k.casefold())}[).:]\s*{re.escape(v.casefold())}\.?", line)
        for line, (k, v) in zip(lines, sorted(options.items()), strict=True)
    ]
    return all(listed)


def _read(
    text: str,
    letters: str,
    options: dict[str, str] | None,
    cut: bool = False,
    marked: frozenset[str] = frozenset(),
) -> Extracted:
    glance = _at_a_glance(text, letters, options)
    if glance is not None:
        return glance
    found = with_lines(text, letters, candidates(text, letters), options)
    if options:  # "Answer: A palladium complex": the article of option C's text, not option A
        named = option_mentions(text, letters, options)
        texts_at = {c.start for c in named}
        found = [c for c in found if not (c.letter == "A" and c.start in texts_at)]
        # "should choose Option B" where option D reads "Option B" (the question's own plans),
        # "Both B and C" as option D's text: a letter inside another option's text named in
        # the reply is part of that text's wording, not a letter of its own.
        found = [c for c in found if not any(_inside(c, t) for t in named)]
    decided = decide(text, found, cut)
    if decided is not None:
        return decided
    by_text = _decide_options(text, letters, options, found, marked) if options else None
    first = by_text is not None and by_text.rule == "option text first"
    if stopped_mid_sentence(text, letters) and not first:
        return Extracted(None, "cut_off", True, "stopped mid-sentence")
    # Nothing committed and the reply says it will not choose, or that no option is right:
    # an option text or a lone letter it named on the way is no answer.
    unsure = any(c.role in ("commit", "mention") for c in found)  # letters left in play
    if cues.REFUSAL.search(text):
        return Extracted(None, "none", not unsure, "declines to choose")
    if cues.NO_OPTION.search(text):
        return Extracted(None, "none", not unsure, "no option right")
    if by_text is not None:
        if by_text.rule == "option text" and answered_otherwise(text, options or {}, by_text):
            return Extracted(None, "none", False, "answer stated in words")
        return by_text
    single = single_mention(text, found) or eliminated(text, letters, options, found)
    if single is not None:
        return single
    in_play = {c.letter for c in found if c.role in ("commit", "mention")}
    neutral = any(c.role == "mention" for c in found)
    if len(in_play) > 1:
        return Extracted(None, "ambiguous", not neutral, "several letters, no answer")
    # "The correct option is: acetic acid" in words the rules cannot map (another language,
    # a paraphrase): an answer was stated, so the model reads it.
    fuzzy = fuzzy_option(text, options) if options and not found else None
    if fuzzy is not None:  # "mitocondrion", "Raney Ni.": the model confirms it
        return Extracted(fuzzy, "letter", False, "option text, fuzzy")
    stated_in_words = cues.ANSWER_LABEL.search(text) is not None
    translated = not found and bool(options) and other_script(text, options or {})
    stated_in_words = stated_in_words or translated
    return Extracted(None, "none", not (neutral or stated_in_words), "no commitment")


def _at_a_glance(text: str, letters: str, options: dict[str, str] | None) -> Extracted | None:
    """What a reply is before any letter in it is weighed: empty, a bare letter, the options
    listed again, a confused ending, or one option's value on its own."""
    if not text:
        return Extracted(None, "none", True, "empty")
    whole = _whole(letters).fullmatch(text)
    if whole is not None:
        return Extracted(whole.group(1).upper(), "letter", True, "bare letter")
    if options and _echoes_options(text, options):
        return Extracted(None, "none", True, "options listed again")
    if cues.CONFUSED_END.search(text):
        return Extracted(None, "none", False, "ends confused")
    value = bare_value(text, options) if options else None
    if value is not None:
        return Extracted(value, "letter", True, "bare option value")
    return None


def _inside(c: Candidate, text: Candidate) -> bool:
    longer = text.end - text.start > c.end - c.start + 1
    return text.letter != c.letter and longer and text.start <= c.start and c.end <= text.end


def _decide_options(
    text: str,
    letters: str,
    options: dict[str, str],
    by_letter: list[Candidate],
    marked: frozenset[str] = frozenset(),
) -> Extracted | None:
    """Rule 5: option texts named instead of letters, read with the same cues; an option
    already rejected by its letter ("D is incorrect. 'Neither enantiomer' ...") stays so, and
    letters left in play ("either B or C") outweigh an option text named without a verdict."""
    rejected = {c.letter for c in by_letter if c.role == "reject"}
    open_letters = {c.letter for c in by_letter if c.role in ("mention", "hypothetical")}
    found = inherit(
        text, [_classify_text(text, c) for c in option_mentions(text, letters, options)]
    )
    kept = [c for c in found if c.role in ("commit", "mention") and c.letter not in rejected]
    # "e.g. about 90 °C at 3 000 m": an option's text given as an example is no answer.
    kept = [c for c in kept if not _EXAMPLE.search(text, max(0, c.start - 40), c.start)]
    # "diverge by more than 30 %": a bound the reply works with is no value it states.
    kept = [c for c in kept if not _BOUND.search(text, max(0, c.start - 40), c.start)]
    if not kept:
        return None
    named = {c.letter for c in kept}
    head = kept[0]
    alone = not text[head.end :].split("\n", 1)[0].strip(" .!")  # its whole first line
    if head.start == 0 and alone and len(named) > 1:
        # "Jane Austen" on a line of its own, then an article that names the other authors.
        return Extracted(head.letter, "letter", False, "option text first")
    committed = decide(text, kept)
    if committed is not None:
        # Sure only as a letter would be: stated outright, the option's whole text, and no
        # other option (by letter or text) left in play.
        sure = committed.confident and not open_letters and all(c.whole for c in kept)
        sure = sure and {c.letter for c in kept} == {committed.letter}
        return replace(committed, confident=sure, rule=f"option text, {committed.rule}")
    last = kept[-1]
    if len(open_letters) > 1:
        return Extracted(None, "ambiguous", False, "letters in play, option text named")
    if head.start == 0 and len(named) == 1:
        # Opens with the option's text, as a base model continues "Answer:"; stated before
        # whatever it rambles on about (rule 1 keeps it through a cut).
        return Extracted(head.letter, "letter", False, "option text first")
    if len(named) == 1:
        whole = text.strip(" .!").casefold() == options.get(last.letter, "").casefold()
        return Extracted(last.letter, "letter", whole, "option text")
    rivals = [c for c in kept if c.letter != last.letter]
    if cues.REVISION.search(text[rivals[-1].end : last.start]):
        return Extracted(last.letter, "letter", False, "option text, revised")
    opening = _opening_answer(text, kept, by_letter)
    if opening is not None:
        return Extracted(opening, "letter", False, "option text opens")
    if len(marked & named) == 1 and len(marked) == 1:
        # The one option set in bold among options named plainly: the reply highlights it.
        return Extracted(next(iter(marked)), "letter", False, "option text emphasised")
    return Extracted(None, "ambiguous", False, "several option texts")


def _opening_answer(text: str, kept: list[Candidate], by_letter: list[Candidate]) -> str | None:
    """ "Protein synthesis takes place at the ribosome. ... The mitochondrion produces ATP":
    a first sentence that names one option answers; the others come up in the explanation."""
    stop = SENTENCE_END.search(text)
    end = stop.start() if stop else len(text)
    first = {c.letter for c in kept if c.end <= end}
    if len(first) != 1 or any(c.start < end for c in by_letter):
        return None
    return first.pop()


_EXAMPLE = re.compile(
    r"\b(?:e\.g\.|for\s+(?:example|instance)|such\s+as)\s*,?\s*(?:about|around|roughly|~)?\s*$",
    re.I,
)
_BOUND = re.compile(
    r"\b(?:(?:more|less|greater|fewer|larger|smaller|higher|lower)\s+than|at\s+(?:least|most)"
    r"|exceed(?:s|ing)?|up\s+to)\s*$",
    re.I,
)
_LABEL_ENDING = re.compile(r":\s*[(\[]?\s*$")
_ARROW_ENDING = re.compile(r"(?:→|⇒|=>|➡)\s*$")


def _classify_text(text: str, c: Candidate) -> Candidate:
    pre = text[sentence_start(text, c.start) : c.start]
    # "Mercury is 13.6 g/cm3." states a fact about an option's text; only a label names it.
    read = classify(text, c, pre, _LABEL_ENDING)
    if _ARROW_ENDING.search(pre):
        # "Vitamin D deficiency → rickets.": an arrow before an option's text maps facts, one
        # per line; it names a letter ("→ D."), not the answer among the texts.
        return replace(read, role="mention", strength=0) if read.role == "commit" else read
    # An option's text as what something "is" ("the first step is the Friedel-Crafts
    # acylation") states it, where a letter would need more ("... is C.").
    if read.role == "mention" and ENDS_WITH_IS.search(pre):
        return replace(read, role="commit", strength=1)
    return read


def extract_letter(
    text: str, letters: str = "ABCD", options: dict[str, str] | None = None
) -> str | None:
    """The option letter (upper case) a reply chose, or None when it chose none or several."""
    return read_choice(text, letters, options).letter
