"""Letter extraction on the phrasings models really produce: the issue's phrasings and round 1
(the held-out rounds after it: test_letters_rounds_*.py)."""

from __future__ import annotations

import pytest

from doctune.evaluate.extraction import read_choice
from doctune.evaluate.letters import extract_letter

OPTIONS = {"A": "0.150 mol", "B": "0.200 mol", "C": "0.210 mol", "D": "0.250 mol"}

CASES = [
    # The phrasings the issue names.
    ("Option B (0.200 mol) is correct", "B"),
    ("the correct choice is C", "C"),
    ("**C**", "C"),
    ("Answer: C. 0.210 mol", "C"),
    ("C) 0.210 mol", "C"),
    ("(C)", "C"),
    ("I would choose C because the yield is 90 %.", "C"),
    ("The answer is: c", "C"),
    ("答案：C", "C"),
    ("答案是 B。", "B"),
    ("Thus, the correct choice is C. 0.210 mol, ensuring the stoichiometry holds.", "C"),
    # Bare letters and markdown.
    ("C", "C"),
    ("d", "D"),
    ("C.", "C"),
    ("**Answer:** B", "B"),
    ("Final answer: (D)", "D"),
    ("The correct answer is **option B**.", "B"),
    ("$\\boxed{A}$", "A"),
    ("Ｃ", "C"),  # full-width capital
    # Reasoning first, conclusion last: the conclusion wins over first mentions.
    ("A is wrong because it ignores the water. B is wrong too. So the answer is D.", "D"),
    ("Option A uses the wrong ratio and option B double counts; therefore the answer is C.", "C"),
    ("The answer is A. Wait, re-checking the molar mass, the answer is B.", "B"),
    ("A and B both overestimate the yield, so C is the correct answer.", "C"),
    ("Answer A is incorrect since the solvent evaporates; answer D is right.", "D"),
    ("B is the correct answer, not C.", "B"),
    ("Among the options, I'd go with option B (0.200 mol).", "B"),
    ("Let me think. 0.5 x 0.42 = 0.21, so the best option is C", "C"),
    ("The answer is (B) 0.200 mol", "B"),
    ("Correct option: D", "D"),
    ("Answer: B\n\nExplanation: A is too low and C ignores the mother liquor.", "B"),
    ("A. 0.150 mol\nB. 0.200 mol\nC. 0.210 mol\nD. 0.250 mol\nThe answer is C", "C"),
    ("A. 0.150 mol\nB. 0.200 mol\nC. 0.210 mol\nD. 0.250 mol", None),  # options restated
    # Not fooled by the article "A", units or letters inside words.
    ("A reaction at 40 °C gives the ester; the answer is B", "B"),
    ("A reaction at 40 °C with a Pd/C catalyst gives the product described in B.", "B"),
    ("A 5 mL sample is diluted to 50 mL, which matches D.", "D"),
    ("Heating to 60 C for 2 h is what option D says.", "D"),
    ("The answer is a mixture of isomers, best described by D", "D"),
    ("Vitamin-C content and B-cells aside, C is the correct option.", "C"),
    ("CDC and FDA guidance (ABCD rule) both point to option B.", "B"),
    # Several letters without a conclusion, or a conclusion naming two: ambiguous.
    ("B or C", None),
    ("The answer is B or C.", None),
    ("The answer is B and C.", None),
    ("Either A or D could be right depending on the temperature.", None),
    ("I would choose B/C.", None),
    ("B and D are both plausible.", None),
    # No letter at all.
    ("", None),
    ("I don't know.", None),
    ("The yield depends on the purity of the starting material.", None),
    ("A reaction like this needs a catalyst.", None),
    ("The answer is E.", None),  # not one of the four options
]


@pytest.mark.parametrize(("reply", "expected"), CASES)
def test_extract_letter(reply: str, expected: str | None) -> None:
    assert extract_letter(reply) == expected


OPTION_TEXT_CASES = [
    ("The product is 0.210 mol of ibuprofen.", "C"),
    ("It should be 0.25 mol... no, exactly 0.250 mol.", "D"),
    ("Between 0.200 mol and 0.210 mol I cannot decide.", None),
    ("0.2 mol", None),  # not an option: "0.200 mol" is not "0.2 mol"
    ("Options A and B are too low; 0.210 mol is right.", "C"),
    ("The answer is B, 0.200 mol.", "B"),  # a letter still beats option text
]


@pytest.mark.parametrize(("reply", "expected"), OPTION_TEXT_CASES)
def test_extract_letter_by_option_text(reply: str, expected: str | None) -> None:
    assert extract_letter(reply, options=OPTIONS) == expected


def test_option_text_inside_a_longer_option_counts_once() -> None:
    options = {"A": "sodium", "B": "sodium chloride", "C": "water", "D": "ethanol"}
    assert extract_letter("It dissolves as sodium chloride.", options=options) == "B"


def test_option_numbers_are_bounded() -> None:
    options = {"A": "1", "B": "10", "C": "100", "D": "1000"}
    assert extract_letter("The count is 10 per batch.", options=options) == "B"


def test_five_letters() -> None:
    assert extract_letter("The answer is E.", letters="ABCDE") == "E"
    assert extract_letter("E) none of the above", letters="ABCDE") == "E"
    assert extract_letter("D or E", letters="ABCDE") is None
    assert extract_letter("The answer is D.", letters="ABC") is None
    assert extract_letter("The answer is C.", letters="") is None  # a quiz without options


# A hang guard, not a speed test: the rules are linear and take well under a second on these
# (about 200,000 characters each); a quadratic pattern would take many minutes.
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Optional blanks around optional brackets: where regexes go cubic.
        ("A" + " " * 200_000 + "x", None),
        ("B" + " )" * 100_000 + " is correct", "B"),
        (("B (x) " * 30_000) + "so the answer is D", "D"),
        # A run tried from each of its characters: quadratic before the rules were linear.
        ("a" + "_" * 200_000 + "b, so the answer is C.", "C"),
        ("~~" * 100_000 + " Answer: D", "D"),
        ("| " + " " * 200_000 + "x |\nThe answer is B.", "B"),
        # Thousands of candidates: letters, ordinals, option texts compared pairwise.
        ("A or " * 40_000 + "B", None),
        ("the first option " * 12_000 + "is correct", "A"),
        ("sodium chloride and water " * 8_000 + "so: water.", "C"),
    ],
)
def test_long_degenerate_replies_finish(reply: str, expected: str | None) -> None:
    options = {"A": "sodium", "B": "sodium chloride", "C": "water", "D": "ethanol"}
    assert extract_letter(reply, options=options) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("So, the answer is (C).\n\nNote: answer B is a common mistake.", "C"),
        ("Therefore the answer is D. B is the answer you would get with a 1:1 ratio.", "D"),
        (
            "The correct answer is B) 0.200 mol. Option C (0.210 mol) would be correct only if "
            "bromine were in excess.",
            "B",
        ),
        ("Answer: A dichloromethane", "A"),
        ("D is right. C would be correct only if the ratio were 1:1.05.", "D"),
        ("B would be correct.", "B"),
    ],
)
def test_a_statement_outranks_a_mention_or_a_hypothesis(reply: str, expected: str | None) -> None:
    assert extract_letter(reply) == expected


@pytest.mark.parametrize(
    ("reply", "finish", "kind", "confident"),
    [
        ("The answer is C.", "stop", "letter", True),
        ("Let me weigh the options. Option A is", "length", "cut_off", True),
        ("<think>Option B looks right, but", "stop", "cut_off", True),
        ("Let me analyse the options one by one, starting with the", "stop", "cut_off", True),
        ("The answer is B or C.", "stop", "ambiguous", True),
        ("B or C", "stop", "ambiguous", False),  # letters in play, no statement: ask the model
        ("The answer is C. The answer is D.", "stop", "ambiguous", False),
        ("D is incorrect.", "stop", "none", True),
        ("Probably C.", "stop", "letter", False),  # a hedge: the judge model may confirm it
    ],
)
def test_kinds_and_confidence(reply: str, finish: str, kind: str, confident: bool) -> None:
    read = read_choice(reply, finish_reason=finish)
    assert (read.kind, read.confident) == (kind, confident)
    assert (read.letter is not None) == (kind == "letter")
