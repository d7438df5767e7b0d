"""Letter extraction of "walkthrough" replies (DeepSeek in TIGER-AI-Lab/MMLU-Pro's outputs, see
tests/evaluate/data/README.md): every option is discussed in turn, and then an answer phrase
ending in a colon announces one option line a paragraph below it,
"Therefore, the best answer is:\\n\\nE. Increased demand for the product".

That line is the answer only when it is the one option line below the phrase, its text is that
option's own text, and what follows it names no other letter: a re-listing of two or more
options, a line whose text is another option's (or no option's), and a second answer after it
are no answer by this rule."""

from __future__ import annotations

import pytest

from doctune.evaluate.extraction import Extracted, read_choice

MARKET = {
    "A": "Decreased supply of the product",
    "B": "Lower production costs",
    "C": "Government price controls",
    "D": "A fall in consumer income",
    "E": "Increased demand for the product",
    "F": "Higher prices of substitutes",
    "G": "Improved technology",
    "H": "A tax on the product",
    "I": "Fewer sellers in the market",
    "J": "Lower prices of complements",
}

WALK = (
    "To see why the price and the quantity both rose, let's evaluate each option:\n\n"
    "A. Decreased supply of the product - This would raise the price but lower the quantity,"
    " so it is incorrect.\n\n"
    "B. Lower production costs - This shifts supply out, which lowers the price. Incorrect.\n\n"
    "C. Government price controls - A ceiling keeps the price down, not up.\n\n"
    "D. A fall in consumer income - For a normal good demand falls, so this is incorrect.\n\n"
    "E. Increased demand for the product - A rightward shift of demand raises both the price"
    " and the quantity.\n\n"
    "F. Higher prices of substitutes - This could also shift demand out, but the question"
    " describes the product itself becoming more popular.\n\n"
    "Therefore, the best answer is:"
)


def read(reply: str, options: dict[str, str] | None = MARKET, finish: str = "stop") -> Extracted:
    return read_choice(reply, "ABCDEFGHIJ", options, finish)


@pytest.mark.parametrize(
    "tail",
    [
        "\n\nE. Increased demand for the product",
        "\n\nE. Increased demand for the product.",
        "\n\n**E. Increased demand for the product**",
        # The option's text goes on into a reason on the same line.
        "\n\nE. Increased demand for the product - it alone raises both price and quantity.",
        # Explanation prose after it that names no other letter.
        "\n\nE. Increased demand for the product\n\nThis is the only option in which both the"
        " equilibrium price and quantity increase.",
    ],
)
def test_the_one_option_line_under_the_answer_phrase_is_the_answer(tail: str) -> None:
    """Confident: the reply states it as "the answer is" does, with the letter's own text, and
    nothing after it names another option; it is as settled as "The answer is (E)"."""
    got = read(WALK + tail)
    assert (got.letter, got.confident) == ("E", True)


def test_without_the_options_the_line_is_only_likely() -> None:
    """Without the options its text cannot be checked against the letter: the model confirms."""
    got = read(WALK + "\n\nE. Increased demand for the product", options=None)
    assert (got.letter, got.confident) == ("E", False)


@pytest.mark.parametrize(
    "tail",
    [
        # Two or more options re-listed under the phrase, a paragraph each or one a line.
        "\n\nE. Increased demand for the product\n\nF. Higher prices of substitutes",
        "\n\nE. Increased demand for the product\nF. Higher prices of substitutes",
        "\n\nE. Increased demand for the product\n\nF. Higher prices of substitutes\n\n"
        "G. Improved technology",
    ],
)
def test_options_re_listed_under_the_phrase_are_no_answer(tail: str) -> None:
    assert read(WALK + tail).letter is None


@pytest.mark.parametrize(
    "tail",
    [
        # The line's text is another option's (F's), or no option's: which one it meant is open.
        "\n\nE. Higher prices of substitutes",
        "\n\nE. Increased demand for the product and its substitutes",
        "\n\nE. Increased demand for the products",
        # Prose after it that names another letter.
        "\n\nE. Increased demand for the product\n\nHowever, F could be correct as well.",
    ],
)
def test_a_line_that_does_not_match_its_option_is_left_to_the_other_rules(tail: str) -> None:
    """Not E by this rule: the letter and the text disagree (or another letter comes after), so
    what the other rules make of it stands, and none of them settles it with confidence (a
    text of F's may go to the model as F)."""
    got = read(WALK + tail)
    assert got.letter != "E" and not got.confident


@pytest.mark.parametrize(
    "tail",
    [
        "",  # cut right after the phrase
        "\n\nE. Increased demand for",  # cut inside the option's text
    ],
)
def test_cut_off_after_the_phrase_is_no_answer(tail: str) -> None:
    assert read(WALK + tail, finish="length").letter is None


def test_a_closest_option_then_a_corrected_one_takes_the_correction() -> None:
    """ "The closest answer is:\\n\\nE. ...\\n\\nHowever, ..., the correct answer should be:\\n\\n
    D. ...": the first line has another option line below it, the second is the last word."""
    reply = (
        WALK + "\n\nE. Increased demand for the product\n\nHowever, since incomes fell, the"
        " correct answer should be:\n\nD. A fall in consumer income"
    )
    assert (read(reply).letter, read(reply).confident) == ("D", True)


def test_an_answer_that_should_be_another_is_the_corrected_one() -> None:
    """MMLU-Pro computer science 10696 (DeepSeek), shortened: "the correct answer is:" over C,
    then "The correct answer should be:" over F; "should be" labels the line as "is" does (C
    was read with confidence before)."""
    nmap = {"C": "Open, blocked, filtered", "F": "Open, filtered, unfiltered"}
    reply = (
        "Based on this information, the correct answer is:\nC. Open, blocked, filtered\n\n"
        'However, it\'s important to note that "blocked" is not a standard Nmap port state.'
        " The correct answer should be:\nF. Open, filtered, unfiltered\n\nIn this case,"
        ' "unfiltered" refers to a state where Nmap can reach the port.'
    )
    got = read(reply, nmap)
    assert (got.letter, got.confident) == ("F", True)


# MMLU-Pro business 722 (DeepSeek), shortened: a closest answer, its text an option's, then a
# different option announced by a phrase the rules do not read as an answer label.
RANGES = {
    "A": "250 < X < 850",
    "B": "100 < X < 700",
    "C": "350 < X < 900",
    "D": "0 < X < 600",
    "E": "300 < X < 900",
    "F": "150 < X < 750",
    "G": "200 < X < 800",
    "H": "X < 200",
    "I": "X > 800",
    "J": "400 < X < 1000",
}
BUSINESS_722 = (
    "To make a profit, the company needs to produce more than the breakeven point. Therefore,"
    " the inequality for the number of units to produce is:\n\nX > 250\n\nComparing this"
    " inequality to the given options, the closest answer is:\n\nA. 250 < X < 850\n\nHowever,"
    " this answer includes a range that is not necessary for making a profit. The correct answer"
    " should be:\n\nX > 250\n\nUnfortunately, this exact answer is not available in the given"
    " options. The closest option that represents making a profit is:\n\nI. X > 800\n\nWhile"
    " this option is not the exact answer, it does represent a scenario where the company is"
    " making a profit, as it requires producing more than the breakeven point."
)

# MMLU-Pro engineering 11809 (DeepSeek), shortened: the closest option, then an "answer" whose
# text is no option's, then "not listed".
FM = {
    "A": "Maximum phase deviation is 3 radians and instantaneous frequency deviation is 120 Hertz",
    "B": "Maximum phase deviation is 5 radians and instantaneous frequency deviation is 66.6 Hertz",
    "F": "Maximum phase deviation is 5 radians and instantaneous frequency deviation is 80 Hertz",
}
ENGINEERING_11809 = (
    "The instantaneous frequency deviation is 657.34 Hz.\n\nComparing this with the options,"
    " none of them match exactly, but the closest option is:\n\nF. Maximum phase deviation is 5"
    " radians and instantaneous frequency deviation is 80 Hertz\n\nHowever, the correct answer"
    " should be:\n\nA. Maximum phase deviation is 7 radians and instantaneous frequency"
    " deviation is 657.34 Hertz\n\nSince the options provided do not match the correct answer, we"
    " must conclude that the correct answer is not listed among the options."
)

# MMLU-Pro economics 7497 (DeepSeek), shortened: the options listed again under the phrase.
STATEMENTS = {
    "A": "II, III and IV only",
    "B": "II and III only",
    "C": "I and II only",
    "D": "I and IV only",
    "E": "I and III only",
    "F": "I III and IV only",
    "G": "II and IV only",
    "H": "I, II and III only",
    "I": "III and IV only",
}
ECONOMICS_7497 = (
    "IV. The government should not worry about maintaining aggregate demand at an adequate"
    " level: Classical economists believed in laissez-faire economics.\n\nBased on this analysis,"
    " the correct answer is:\n\nOptions: A. II, III and IV only\nB. II and III only\nC. I and II"
    " only\nD. I and IV only\nE. I and III only\nF. I III and IV only\nG. II and IV only\nH. I,"
    " II and III only\nI. III and IV only\n\nThe correct answer is (I) III and IV only, as"
    " classical economists generally believed that input and output prices will stay in line"
    " with each other."
)


@pytest.mark.parametrize(
    ("reply", "options"),
    [
        (BUSINESS_722, RANGES),
        (ENGINEERING_11809, FM),
        (ECONOMICS_7497, STATEMENTS),
    ],
)
def test_real_replies_that_re_list_options_after_the_phrase_stay_unsettled(
    reply: str, options: dict[str, str]
) -> None:
    """The naive rule (the line after "answer is:") read 722 as A and 11809 as A, with
    confidence; neither is what the reply settles on, and 7497 lists all its options there."""
    got = read(reply, options)
    assert got.letter is None or not got.confident
    assert got.letter != "A"


def test_a_value_is_not_read_inside_a_longer_number() -> None:
    """ "E. 0.5" under the phrase where option E is "0": not E's own text."""
    values = {"A": "0.25", "B": "1", "E": "0", "F": "0.5"}
    reply = "A. 0.25 is too small.\n\nB. 1 is too large.\n\nThe best answer is:\n\nE. 0.5"
    got = read_choice(reply, "ABEF", values, "stop")
    assert got.letter != "E" and not got.confident
