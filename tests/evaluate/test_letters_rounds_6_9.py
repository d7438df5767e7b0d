"""Letter extraction, held-out rounds 6-9 (the last written round, then the first real model
replies; see tests/evaluate/data/README.md): each case a regression test of the rule it added."""

from __future__ import annotations

import pytest
from letter_options import TEN, UNITS

from doctune.evaluate.extraction import read_choice


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # An analysis that quotes its own question under a "Question:" label, then weighs this
        # item's options one paragraph each, is not a base model writing its next question.
        (
            "To answer this, we weigh each option.\n\n**Question:** At what temperature does"
            " acetic acid boil?\n\n**Option A: 90 °C**\nToo low.\n\n**Option B: 100 °C**\nThat"
            " is water.\n\n**Option C: 118 °C**\nMatches.\n\n**Option D: 373 °C**\nKelvin."
            "\n\n**Answer: C**",
            "stop",
            "C",
            True,
        ),
        # A base model that answered in words first writes a next question, whatever options
        # it shares with this one.
        (
            "118 °C, the boiling point of acetic acid.\n\nQuestion: At what temperature does"
            " water boil?\nA. 90 °C\nB. 100 °C\nC. 118 °C\nD. 373 °C\nAnswer: B",
            "stop",
            "C",
            False,
        ),
        # "Ｃ．118 °C": a full-width stop after a full-width letter, as Japanese models write.
        ("Ｃ．118 °C", "stop", "C", True),
        # "information provided" is where it came from, not a condition on the answer.
        (
            "Based on the information provided, the best answer would be option C.",
            "stop",
            "C",
            True,
        ),
        ("Provided the pressure is 1 atm, the answer is C.", "stop", None, True),
        # German puts the verb last; a sloppy "its" is "it's"; "makes A the correct choice".
        ("Ich würde C wählen.", "stop", "C", True),
        ("Ich würde B nicht wählen.", "stop", None, False),
        ("i think its c", "stop", "C", True),
        ("Acetic acid boils at 118 °C, which makes **C** the correct choice.", "stop", "C", True),
        (
            "The answer is A. Its carboxyl group is why the boiling point is 118 °C.",
            "stop",
            "A",
            True,
        ),
        # A cut reply that stated its answer, then explained with a "but" or a "hmm" and
        # dismissed the rest, keeps it; a contrast still open at the cut, or one that brings
        # another option back, does not.
        (
            "The answer is C. 118 °C.\n\nHmm, a related but different liquid is water. Option A"
            " – 90 °C: not correct here. - B. 100 °C — ruled out; that is water. In addition,"
            " the boiling point depends on",
            "length",
            "C",
            True,
        ),
        ("The answer is C. 118 °C is the likeliest, but the question as", "length", None, True),
        (
            "The answer is C. However, B also holds at lower pressure. The boiling point of",
            "length",
            None,
            True,
        ),
        # The verdict after a letter's gloss rejects it; a stated answer before it stays.
        ("Option B – 100 °C: not correct here. So C.", "stop", "C", True),
        ("The answer is C) 118 °C: not 100 °C as for water.", "stop", "C", True),
        # A few-shot item closed by its "Answer:" line is a next question even when an option
        # text carries a verdict word ("no").
        (
            " C. 118 °C\n\nWhich liquid has no boiling point at 1 atm?\nA. Water\nB. Ethanol"
            "\nC. Dry ice, no liquid phase\nD. Acetone\nAnswer: D",
            "length",
            "C",
            True,
        ),
        # An opening option line, a paragraph of its own with prose under it, answers; the
        # options restated one paragraph each do not.
        (
            "**C) 118 °C**\n\nAcetic acid's boiling point. Why not the others:\n\n- A. 90 °C"
            " — too low\n- B (100 °C) is water's.\n- D) 373 °C: that is kelvin.",
            "stop",
            "C",
            True,
        ),
        ("A) 90 °C\n\nB) 100 °C\n\nC) 118 °C\n\nD) 373 °C\n\nPick one.", "stop", None, False),
    ],
)
def test_sixth_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "ABCD", UNITS, finish)
    assert (read.letter, read.confident) == (expected, confident)


# Seventh round: real model replies (MMLU-Pro's logs). Ten options, two with TeX or a "$".
@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # A letter that is a term of an equation, a function or a norm is a symbol.
        ("The energy is therefore E = hc/λ = 3.31 × 10^-19 J. In eV it is", "length", None, True),
        (
            "The separation is 4 ly, so a = 4 × 3.1 × 10^16 m. Plugging in, T =",
            "length",
            None,
            True,
        ),
        ("Hence ||Ax|| ≥ a for all x in H. Hence ||A", "length", None, True),
        (
            "Hence f(1, 1) - f(-1, 0) = -1. Then f(3, 5) = -12. The answer is (F).",
            "stop",
            "F",
            True,
        ),
        ("Since b^2 \\ge 6, so b(3a^2 + 1) = 0 and the loop goes on", "length", None, True),
        # A truth table's values are not options.
        (
            "Let's build the table:\n\nJ | K | L\nT | T | F\nT | F | F\nF | T | T",
            "length",
            None,
            True,
        ),
        # Cut while stating an answer reasoned towards after the last letter: none; empty
        # stubs right after a stated letter keep it.
        (
            "(a) K_p = 2. The answer is (C). (b) Solving, P = 1.2 atm. The answer is (",
            "length",
            None,
            True,
        ),
        (
            "It takes 4600 cal. The answer is (C).\nThe answer is ...\nThe answer is ",
            "length",
            "C",
            True,
        ),
        # Two letters answered, both named again in the restatement: no answer.
        (
            "The answer is (B) and (C).\n\nFinal Answer:\nThe answer is B. 100 °C and C. 118 °C.",
            "stop",
            None,
            True,
        ),
        # No option right, in the words real replies use.
        ("The mean is 110 / 8 = 13.75. The answer is not in the options.", "stop", None, True),
        ("So 11/24 necklaces, 6 rotations aside. The answer is not listed.", "stop", None, True),
        (
            "Proceeds = 620 - 4.65 - 0.78 = $614.00, which does not match any of the given options.",
            "stop",
            None,
            True,
        ),
        # An option's text with TeX or a "$" is named as the reply writes it, without them.
        ("The proceeds of the draft are $614.58.", "stop", "D", False),
        ("The area is $\\boxed{22.3 \\mathrm{~m}^2}$.", "stop", "E", False),
    ],
)
def test_seventh_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "ABCDEFGHIJ", TEN, finish)
    assert (read.letter, read.confident) == (expected, confident)


_LISTED = "\n".join(f"{k}. {v}" for k, v in TEN.items())


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # Statements numbered in Roman numerals: their "I" is a numeral, not option I, unless
        # an answer label names it.
        (
            "I. Every p holds.\nII. Exactly two hold.\nIII. The count of true ones is",
            "length",
            None,
            True,
        ),
        (
            "(i) holds. (ii) holds. (iii) fails. So (i) and (ii) hold. The answer is (B).",
            "stop",
            "B",
            True,
        ),
        ("(i) holds and (ii) fails, so only the first. The answer is (I).", "stop", "I", True),
        # Variables of a logical formula stay variables when the reply talks about them.
        (
            "With ~G and G ⊃ H, the row where G is true and H is false refutes it. The answer is (C).",
            "stop",
            "C",
            True,
        ),
        # A letter alone on its line inside a formula broken over lines is a symbol.
        ("The shift is\n\\frac{\nDelta\nE\n}{\nh\n}\nso we need the", "length", None, True),
        # An option named, then disowned in the same sentence.
        (
            "Nothing matches 13200. The nearest option is (J) 3.5, but it is not the correct answer.",
            "stop",
            None,
            True,
        ),
        # "either X <its text> or Y <its text>": two letters left open.
        ("The answer is either (B) 100 °C or (C) 118 °C. Both fit the data.", "stop", None, True),
        # This item's options listed again under "Options:", then the pick.
        (
            f"Surveys put it near 3.5.\n\nOptions:\n{_LISTED}\n\nThe answer is J. 3.5.",
            "stop",
            "J",
            True,
        ),
        # "which is (C) in the answer choices" names the letter as "which is option C" does,
        # so it stands through a cut in what follows.
        (
            "Solving gives 118 °C, which is (C) in the answer choices.\nFor the rest we use the",
            "length",
            "C",
            True,
        ),
        # A bound the reply works with ("more than 6 %") is no option's value stated.
        (
            "We iterate until the runs differ by more than 6 %. The code:\n\nx = run(0.9)\ny = run(0.91)",
            "stop",
            None,
            True,
        ),
    ],
)
def test_eighth_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "ABCDEFGHIJ", TEN, finish)
    assert (read.letter, read.confident) == (expected, confident)


# An item whose options name the question's own plans ("Option B" is option D's whole text).
PLANS = {
    "A": "Neither plan",
    "B": "Keep it four years",
    "C": "Sell it now",
    "D": "Option B",
    "H": "Option B, but with a cheaper machine",
    "I": "Option A",
}


@pytest.mark.parametrize(
    ("reply", "finish", "options", "expected", "confident"),
    [
        # Initials are part of a name, not an option ("R.H. Tawney").
        (
            "The report signed by R.H. Tawney, trustee, lists 6 rooms. The answer is (I).",
            "stop",
            TEN,
            "I",
            True,
        ),
        # An operand of a division with spaces, "(R / J)", is a symbol.
        (
            "Here ds = C_p (dT/T) - (R / J)(dp/p), and the term (R / J)(dp/p) accounts for the"
            " pressure. The answer is (D).",
            "stop",
            TEN,
            "D",
            True,
        ),
        # A capital applied to a variable, "E(X)", is an expectation, not option E.
        (
            "The mean is E(X) = 3.5, so E(X) = 3.5. For the variance, Var(X) = E(X^2) - (E(X))^2"
            " = \\int_0^1 x^2",
            "length",
            TEN,
            None,
            True,
        ),
        # The option it named, then disowned: "this option is not correct".
        (
            "Nothing gives 0.91 exactly; the closest option is:\nA. 0.78\nHowever, this option is"
            " not correct. The correct answer is not listed among the options.",
            "stop",
            TEN,
            None,
            False,
        ),
        # "the first one that overflows" is the first of those it found, not option A.
        (
            "Pairs B, C and F all overflow. Only one can be given, so we will select the first one"
            " that overflows:\n\nThe answer is (B).",
            "stop",
            TEN,
            "B",
            True,
        ),
        # An answer in words whose value has a decimal point is that option's value.
        (
            "Solving the equation, the answer is y(4) = \\sqrt{12.25} = \\boxed{3.5}",
            "stop",
            TEN,
            "J",
            False,
        ),
        # A lead-in of a few words restating the answer before the cut adds no reasoning.
        (
            "Each serving doubles, so 3 x 2 = 6 servings. The answer is (I).\n\nNow, putting it all"
            " together, the final answer is",
            "length",
            TEN,
            "I",
            True,
        ),
        # A concluding sentence ("Therefore, ...") that names a bracketed option leans to it.
        (
            "The first survey asked households how many rooms they heat in winter and found a"
            " spread of answers. The second survey asked the same question of a different sample"
            " two years later, with a similar spread. Both were weighted by region and by"
            " household size before any average was taken.\n\nTherefore, what the two surveys"
            " share is that both came out near (J) 3.5.",
            "stop",
            TEN,
            "J",
            False,
        ),
        # "Option B" is the whole text of option D (the question's own plan), not letter B.
        (
            "The firm should choose Option B, selling the old machine after a year and buying the"
            " new one. The answer is (D).",
            "stop",
            PLANS,
            "D",
            True,
        ),
    ],
)
def test_ninth_round_phrasings(
    reply: str, finish: str, options: dict[str, str], expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "".join(sorted(options)), options, finish)
    assert (read.letter, read.confident) == (expected, confident)
