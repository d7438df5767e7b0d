"""Letter extraction, held-out rounds 10-13 of real model replies (TIGER-AI-Lab/MMLU-Pro outputs;
see tests/evaluate/data/README.md): each case a regression test of the rule it added."""

from __future__ import annotations

import pytest
from letter_options import TEN

from doctune.evaluate.extraction import read_choice


@pytest.mark.parametrize(
    ("reply", "finish", "options", "expected", "confident"),
    [
        # Capitals set alone in inline maths are symbols ("hence $B$ lies in $C$")...
        (
            "Let $P$ project onto the plane and let $B$ be its image; hence $B$ lies in $C$,"
            " the span of the columns. The answer is (D).",
            "stop",
            TEN,
            "D",
            True,
        ),
        # ...unless an answer label names the letter.
        ("Both bounds agree, so the answer is $G$.", "stop", TEN, "G", True),
        # A subscript whose "_" the markup drop removed, "C{v}", is the symbol C_v.
        (
            "For an ideal gas C_{p} - C_{v} = R, therefore C_{v} = 20.8 - 8.3 = 12.5 J/K."
            " The answer is (B).",
            "stop",
            TEN,
            "B",
            True,
        ),
        # The line under an answer label, "the correct answer is:", is the answer it announces.
        (
            "A. 0.78: far too low for a boiling point.\n\nB. 100 °C: water's boiling point at"
            " sea level.\n\nWeighing the two, the correct answer is:\nB. 100 °C",
            "stop",
            TEN,
            "B",
            True,
        ),
        # A list's heading ("consider each choice:") announces no answer.
        (
            "Now, consider each choice:\nA. too small\nB. too large\nThe answer is (C).",
            "stop",
            TEN,
            "C",
            True,
        ),
    ],
)
def test_tenth_round_phrasings(
    reply: str, finish: str, options: dict[str, str], expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "".join(sorted(options)), options, finish)
    assert (read.letter, read.confident) == (expected, confident)


MINERALS = {
    "A": "Coal, chert, limestone",
    "B": "Iron, copper, granite",
    "C": "Diamond, quartz, gypsum",
    "D": "Gneiss, schist, mica",
    "E": "Gold, quartz, topaz",
}


@pytest.mark.parametrize(
    ("reply", "finish", "options", "expected", "confident"),
    [
        # The reply lists the options again under a lead-in line before it weighs them: its own
        # options (whole or only their values), no next question a base model wrote.
        (
            "Each option reads differently.\n\nThe options provided are:\nA. 0.78\nB. 100 °C\n"
            "C. 118 °C\nD. $614.58\n\nOnly the second is water's boiling point.\n\n"
            "The answer is (B).",
            "stop",
            TEN,
            "B",
            True,
        ),
        (
            "The ratio is 2.\n\nNow, let's compare this to the options:\nA. 0.2\nB. 0.25\n"
            "C. 2\nD. 3\n\nThe option closest to 2 is (C). Therefore, the answer is (C).",
            "stop",
            {"A": "0.2 mol/mol", "B": "0.25 mol/mol", "C": "2 mol/mol", "D": "3 mol/mol"},
            "C",
            True,
        ),
        # ...a question line over other options still starts a next item.
        (
            "The answer is (B).\n\nWhich of these is a noble gas?\nA. Neon\nB. Iron\nC. Tin\n"
            "D. Lead\n\nThe answer is (A).",
            "stop",
            TEN,
            "B",
            True,
        ),
        # Cut after its answer in words about "answers": the plural is no letter "s" being named.
        ("The answer is (A).\n\nNow, combining all the answers", "length", TEN, "A", True),
        ("The answer is (A).\n\nNow, looking at option C", "length", TEN, None, True),
        # An answer line that joins a second letter after the first one's text names two.
        (
            "The lists of minerals only are C and E.\n\nFinal Answer: C. Diamond, quartz, gypsum"
            " and E. Gold, quartz, topaz",
            "stop",
            MINERALS,
            None,
            True,
        ),
        # ...but other letters discussed after the answer, sentence by sentence, are not it.
        (
            "The answer is C) Diamond, quartz, gypsum. Option A has coal, B granite, and D is"
            " rocks.",
            "stop",
            MINERALS,
            "C",
            True,
        ),
        # "the best option for <purpose> is (D)": the purpose does not weaken the statement.
        (
            "A. too low.\nB. too high.\n\nBased on this, the best option for a boiling point"
            " at sea level is (B) 100 °C, as water boils there.",
            "stop",
            TEN,
            "B",
            True,
        ),
    ],
)
def test_eleventh_round_phrasings(
    reply: str, finish: str, options: dict[str, str], expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "".join(sorted(options)), options, finish)
    assert (read.letter, read.confident) == (expected, confident)


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # A bulleted list cut at the first letter of its next item: that letter begins a word.
        (
            "The bases pair as follows:\n- ATG pairs with TAC here\n- GGC pairs with CCG here\n- G",
            "length",
            None,
            True,
        ),
        # ...while a stated answer before a cut elsewhere still stands.
        ("The answer is (G).\n\nQuestion: Which of these", "length", "G", True),
        # "a Group 2 metal" is the article, not option A; "None of the above" chooses none.
        (
            "It is likely a Group 2 metal, but the data do not fix its valence. The answer is"
            " (None of the above).",
            "stop",
            None,
            True,
        ),
        (
            "X is likely a Group 2 metal, so its valence is +2. The answer is (D).",
            "stop",
            "D",
            True,
        ),
        # An answer up front, then working that concludes on another letter without taking the
        # first back: two answers.
        (
            "The answer is (B)\n\nHere is the working:\n1. The sum is 4 + 8 = 12.\n2. Therefore"
            " the total is 12.\n\nThe answer is (D).",
            "stop",
            None,
            False,
        ),
        # ...unless the working says it corrects the opening answer.
        (
            "The answer is (B)\n\nHere is the working: 4 + 8 = 12. Wait, re-checking, the"
            " opening answer was a slip.\n\nThe answer is (D).",
            "stop",
            "D",
            True,
        ),
        # An answer given first and concluded again after "therefore" in an ordinary reply.
        ("The answer is B, since 4 + 4 = 8. Therefore, the answer is B.", "stop", "B", True),
        # LaTeX delimiters around the answer carry no words.
        (r"Thus p = 0.18. The answer is \( \text{J. } 0.1800 \).", "stop", "J", True),
        # "answer choice" is one label.
        (
            "It comes to 12.2 gallons. The closest answer choice is (F) 12 gallons.",
            "stop",
            "F",
            True,
        ),
    ],
)
def test_twelfth_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    letters = "ABCDEFGHIJ"
    read = read_choice(reply, letters, None, finish)
    assert (read.letter, read.confident) == (expected, confident)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Letters inside a probability's brackets are its events, not options ("P(B | A)").
        (
            "The probability of A given B is P(A | B), and of B given A is P(B | A). We see that"
            " P(A or B) increases. The answer is (C).",
            "C",
        ),
        # "I, II, and III": a run of Roman numerals, so its "I" is no option.
        ("Therefore, I, II, and III are included in GDP. The answer is (E).", "E"),
        # ...while an "I" the answer names, apart from a numeral run, is still option I.
        ("The answer is I, as II and III fail.", "I"),
        ("Statements I and IV hold. The answer is (F).", "F"),
    ],
)
def test_thirteenth_round_phrasings(reply: str, expected: str) -> None:
    read = read_choice(reply, "ABCDEFGHIJ", None, "stop")
    assert (read.letter, read.confident) == (expected, True)


@pytest.mark.parametrize(
    ("reply", "expected", "confident"),
    [
        # "the options provided do not include it": a participle, no condition on the answer.
        (
            "pH = 5.06. However, since the options provided do not include 5.06, the closest"
            " answer is (C) 5.07.",
            "C",
            True,
        ),
        # ...while "provided the gas is ideal" is still one.
        ("C would be right provided the gas is ideal.", None, True),
        # An answer taken back, with a letter after the words that take it back.
        (
            "The closest option is (F). Wait, no, it isn't: (F) is 200 W and we need 1 kW.",
            None,
            False,
        ),
        # Disowned, then chosen again as the closest: that is the reply's pick, for the model.
        (
            "The answer is (F). 200 watts\n\nThis answer is not correct based on the"
            " calculations, but we must choose the closest available option, which is (F) 200 watts.",
            "F",
            False,
        ),
    ],
)
def test_thirteenth_round_withdrawals_and_conditions(
    reply: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "ABCDEFGHIJ", None, "stop")
    assert (read.letter, read.confident) == (expected, confident)
