"""Letter extraction on the phrasings models really produce."""

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


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # Structured answers: the field decides, prose and other keys do not.
        ('```json\n{"why": "not option B", "answer": "D"}\n```', "stop", "D", True),
        ("```yaml\nquestion: which catalyst\nanswer: 'C'\n```", "stop", "C", True),
        ('{"answer": "A or C"}', "stop", None, True),
        ('{"answer": null, "reason": "no slide"}', "stop", None, True),
        ("## Final answer\n\n**B**", "stop", "B", True),
        ("<answer>C</answer>", "stop", "C", True),
        ("- [ ] A. 1 g\n- [x] B. 2 g\n- [ ] C. 3 g", "stop", "B", False),
        # A base model looping on its answer before the cut: its first answer, settled only
        # when the loop repeats it alone; a loop that is not led by its first answer is none.
        (" D D D D D D D D D D D", "length", "D", True),
        (
            " The answer is C. The answer is C. The answer is A. The answer is C.",
            "length",
            "C",
            False,
        ),
        (" The answer is A. The answer is B. The answer is C.", "length", None, True),
        # Ordinals, forced choices, refusals, other languages.
        ("The right answer is the second one, since the ratio is 1:1.", "stop", "B", True),
        ("I would pick D if forced to, though the question is badly worded.", "stop", "D", True),
        ("The answer is either B or C; I need the slide to tell.", "stop", None, True),
        (
            "If it is 50 bar the answer is C, if 165 bar D. I'd rather not guess.",
            "stop",
            None,
            True,
        ),
        ("N/A", "stop", None, True),
        ("A ist falsch, B auch. Richtig ist also Antwort C.", "stop", "C", True),
        ("Por lo tanto, la respuesta correcta es la D.", "stop", "D", True),
        ("Вариант А неверен. Значит, правильный ответ — В.", "stop", "B", True),
        ("The answer is A. Sorry, a typo: the answer is B.", "stop", "B", True),
        # Taken back, doubted, or sharing a rejection: no commitment.
        ("The answer is B. Wait, no, it isn't. Hmm.", "stop", None, False),
        ("I think it's A. Actually, I'm not sure it's A at all.", "stop", None, False),
        ("Both B and C are wrong, and so is A. D is also wrong.", "stop", None, True),
        ("I wouldn't say B.", "stop", None, True),
        ("Option C is tempting, but the excess rules it out.", "stop", None, True),
        ("A common wrong answer is B.", "stop", None, True),
        ("Die Antwort ist nicht A.", "stop", None, True),
        ("La réponse n'est pas A.", "stop", None, True),
        # A pick out of a pair is one answer, not two.
        ("I eliminated A and B; between C and D, C fits better.", "stop", "C", True),
    ],
)
def test_second_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, finish_reason=finish)
    assert (read.letter, read.confident) == (expected, confident)


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # The option's whole text, stated outright and alone: as sure as its letter.
        ("So the answer is sodium chloride.", "stop", "B", True),
        # Its head only, or letters left open beside it: the model reads it.
        ("Either B or C could be meant; water dissolves it best.", "stop", None, False),
        # A base model continuing "Answer:" with the text, cut while rambling on.
        (
            " Sodium\n\nchloride is what crystallises first when the brine is evaporated, and",
            "length",
            "B",
            False,
        ),
        # The article of an option's text is not option A.
        ("Answer: A sodium chloride solution.", "stop", "B", True),
        # An answer stated in words the rules cannot map goes to the model, not to "none".
        ("正确选项为：氯化钠。", "stop", None, False),
    ],
)
def test_option_texts_second_round(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    options = {"A": "sodium", "B": "sodium chloride", "C": "water", "D": "ethanol"}
    read = read_choice(reply, "ABCD", options, finish)
    assert (read.letter, read.confident) == (expected, confident)


UNITS = {"A": "90 °C", "B": "100 °C", "C": "118 °C", "D": "373 °C"}


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # Cut off while it was still reasoning: a conclusion reached on the way is no answer.
        ("<think>Acetic acid boils at 118 °C, so C. Let me also check", "length", None, True),
        (
            "<think>It boils at 118 °C. So the answer is C. Double-check:</think>",
            "length",
            None,
            True,
        ),
        (
            "Acetic acid boils at 118 °C. C is my best guess, but the pressure is not given, so",
            "length",
            None,
            True,
        ),
        # A correction after the trace, across the </think> boundary.
        ("<think>118 °C, so C.</think>\n\nB. Sorry, I meant C.", "stop", "C", True),
        # Pointers and other languages that state the answer.
        ("Boiling point of acetic acid → 118 °C → C", "stop", "C", True),
        # An arrow inside a sentence is a scheme, not a pointer to the answer.
        ("A → B is the first step; the answer is C.", "stop", "C", True),
        # A lower-case letter before a phrase is a symbol, unless an answer label names it.
        ("Speed: correct: c in SI units. Answer: B", "stop", "B", True),
        ("The answer is c in my view.", "stop", "C", True),
        # A hedge about memory is no condition on the question.
        ("If I recall correctly, the answer is B.", "stop", "B", True),
        ("If the pressure were 2 atm, the answer would be C.", "stop", None, True),
        ("👉 **C**", "stop", "C", True),
        ("Essigsäure siedet bei 118 °C. Also C.", "stop", "C", True),
        ("Je choisis la réponse C.", "stop", "C", True),
        ("No es A, no es B. La opción correcta es la C.", "stop", "C", True),
        # A bare value without its unit names the one option that has it.
        ("118", "stop", "C", True),
        ("100.", "stop", "B", True),
        # Q/A form: "A:" labels the answer, it is not option A.
        ("**Q:** At what temperature does acetic acid boil?\n\n**A:** 118 °C.", "stop", "C", True),
        # JSON records, one marked correct.
        (
            '[{"option": "A", "correct": false}, {"option": "C", "correct": true}]',
            "stop",
            "C",
            True,
        ),
        # Letters of a formula are no options; a reply that cannot decide gives none.
        ("Q = C + D·T at 118 °C, i.e. option C.", "stop", "C", True),
        ("Sie siedet bei 118 °C. Antwort C ist richtig.", "stop", "C", True),
        ("【答案】C", "stop", "C", True),
        ("Ich kann mich zwischen B und C nicht entscheiden.", "stop", None, False),
        ("C and B are both correct, depending on the pressure.", "stop", None, True),
        # An open "whether" leaves its letters open; "regardless of whether" does not.
        ("It depends on whether B or C is meant.", "stop", None, True),
        ("Regardless of whether the flask is dry, the answer is C.", "stop", "C", True),
        # A statement revised to a hedge settles neither.
        ("The answer is C, but wait, maybe D.", "stop", None, False),
        # Rejections alone choose nothing; with the last option's value stated, they do.
        ("Not A, not B, not D.", "stop", None, True),
        ("Sie liegt bei 118 Grad. Nicht A, nicht B, nicht D.", "stop", "C", False),
        # Named in a script no option uses: only a model can map it.
        ("醋酸的沸点是一百一十八度。", "stop", None, False),
    ],
)
def test_third_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "ABCD", UNITS, finish)
    assert (read.letter, read.confident) == (expected, confident)


@pytest.mark.parametrize(
    ("reply", "expected", "rule"),
    [
        # The first sentence names one option; the rest explains the others.
        (
            "Acetic acid boils at 118 °C. Water boils at 100 °C, and 373 °C is a unit mix-up.",
            "C",
            "option text opens",
        ),
        # The one option set in bold among plain ones.
        (
            "| value | note |\n|---|---|\n| 100 °C | water |\n| **118 °C** | acetic acid |\n\nSee the row in bold.",
            "C",
            "option text emphasised",
        ),
    ],
)
def test_option_texts_third_round(reply: str, expected: str, rule: str) -> None:
    read = read_choice(reply, "ABCD", UNITS, "stop")
    assert (read.letter, read.confident, read.rule) == (expected, False, rule)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "reply",
    [
        "Not A, not B, not D. " + "1" * 200_000,
        "**" * 100_000 + "118 °C",
        "Q: " + "x" * 200_000 + "?\n\nA: " + "y" * 1000,
        "C + " * 50_000 + "D",
    ],
)
def test_third_round_rules_stay_linear(reply: str) -> None:
    assert read_choice(reply, "ABCD", UNITS, "stop").kind in (
        "letter",
        "none",
        "ambiguous",
        "cut_off",
    )


@pytest.mark.parametrize(
    ("reply", "finish", "expected", "confident"),
    [
        # Corrections: "— wait, no." withdraws; the answer after it, in apposition, replaces it.
        (
            "The answer is B) 100 °C — wait, no. That is water. Acetic acid boils at 118 °C, C.",
            "stop",
            "C",
            True,
        ),
        ("The answer is B — wait, no.", "stop", None, False),
        (
            "Je pense que la réponse est B, mais je n'en suis pas sûr. En fait, l'acide acétique"
            " bout à 118 °C, donc c'est la C.",
            "stop",
            "C",
            True,
        ),
        # A structured answer's key wins over letters that key the explanation's entries.
        (
            "answer: C\nexplanation: acetic acid boils at 118 °C\nalternatives:\n  B: fits water",
            "stop",
            "C",
            True,
        ),
        # Two options named, then no decision, in Japanese, Spanish and English.
        (
            "答えは選択肢B「100 °C」かC「118 °C」のどちらかですが、どちらか一つには決められません。",
            "stop",
            None,
            False,
        ),
        ("No puedo elegir ninguna con seguridad.", "stop", None, True),
        (
            "I first thought C, but I'm not sure it's C. I'll refrain from picking.",
            "stop",
            None,
            False,
        ),
        # What a letter stands for is no verdict on it.
        ('The option "C" refers to 118 °C, "B" to 100 °C.', "stop", None, False),
        # A value identified with an option ("which is option B") weighs less than the answer.
        (
            "The answer is C. Water boils at 100 °C, which is option B, but that is another liquid.",
            "stop",
            "C",
            True,
        ),
        # A hedged guess is a weak answer; doubt first keeps it a question.
        ("Probably C? Maybe.", "stop", "C", False),
        ("Not sure, maybe C?", "stop", None, True),
        # Labels in German, Chinese, French and LaTeX.
        ("Die richtige Lösung ist also C.", "stop", "C", True),
        ("Somit ist Option C korrekt.", "stop", "C", True),
        ("醋酸的沸点是118 °C，即选项C。", "stop", "C", True),
        ("B ist falsch, also ist C richtig.", "stop", "C", True),
        ("끓는점은 118 °C이므로 C가 맞습니다.", "stop", "C", True),
        ("A resposta correta é a letra C, 118 °C.", "stop", "C", True),
        ("So it boils at 118 °C, which corresponds to option C.", "stop", "C", True),
        ("L'acide acétique bout à 118 °C : réponse C.", "stop", "C", True),
        ("$\\therefore$ the answer is $\\boxed{\\mathrm{C}}$.", "stop", "C", True),
        # A Cyrillic С rejected in its short form ("неверен") leaves nothing chosen.
        ("Вариант С неверен, 118 °C слишком мало.", "stop", None, True),
        # Arrows map facts onto option texts; the sentence that answers names one.
        (
            "Water → 100 °C. Acetic acid → 118 °C. So for acetic acid the value is 118 °C.",
            "stop",
            "C",
            False,
        ),
        # A cut reply rambling long after its answer was not reconsidering it.
        (
            "The correct answer is C. "
            + "Acetic acid is a carboxylic acid. " * 20
            + "However, its",
            "length",
            "C",
            True,
        ),
        # An option text given as an example is no answer; the one left is.
        (
            "It boils at 118 °C at sea level; lower up a mountain, e.g. about 100 °C.",
            "stop",
            "C",
            False,
        ),
        # An answer in words of its own outweighs an option text named on the way.
        (
            "Water boils at 100 °C. So the answer here is the carboxylic acid's value.",
            "stop",
            None,
            False,
        ),
        # A letter alone a paragraph below a verdict list concludes it; right under a
        # restated list that was cut, it is the list's next marker.
        (
            "- A) 90 °C — water up a mountain\n- B) 100 °C — water\n- C) 118 °C — acetic acid ✓"
            "\n- D) 373 °C — a kelvin mix-up\n\n**C**",
            "stop",
            "C",
            True,
        ),
        ("A. 90 °C\nB. 100 °C\nC. 118 °C\nD", "length", None, True),
        # A restatement the reply announces is this question, not a next one.
        (
            "Let's restate the question first.\n\nQuestion: At what temperature does acetic acid"
            " boil?\nA) 90 °C\nB) 100 °C\nC) 118 °C\nD) 373 °C\n\nIt boils at 118 °C, so the"
            " answer is C.",
            "stop",
            "C",
            True,
        ),
    ],
)
def test_fourth_round_phrasings(
    reply: str, finish: str, expected: str | None, confident: bool
) -> None:
    read = read_choice(reply, "ABCD", UNITS, finish)
    assert (read.letter, read.confident) == (expected, confident)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "reply",
    [
        "answer: C\n" + "B: fits\n" * 50_000,
        "C, " * 100_000,
        "Let's restate it. " * 20_000 + "\n\nQuestion: x\nA) 1\nB) 2\nC) 3\n" * 2_000,
        "The answer is " + "x " * 100_000 + ", C.",
        "The answer is C. " + "wait, no. " * 50_000,
    ],
)
def test_fourth_round_rules_stay_linear(reply: str) -> None:
    assert read_choice(reply, "ABCD", UNITS, "length").kind in (
        "letter",
        "none",
        "ambiguous",
        "cut_off",
    )


STEPS = {"A": "2 steps", "B": "6 steps", "C": "3 steps", "D": "5 steps"}


@pytest.mark.parametrize(
    ("reply", "expected", "rule"),
    [
        # A small number in words names the option that writes it in digits.
        ("The BHC route takes three steps.", "C", "option text"),
        # So both count: a verdict on one letter and a value in words for another are unsettled.
        ("Six steps (B) is the Boots count. The BHC process has three steps.", None, None),
        (
            "Some count three steps. I don't think any single option is right.",
            None,
            "no option right",
        ),
    ],
)
def test_number_words_name_options(reply: str, expected: str | None, rule: str | None) -> None:
    read = read_choice(reply, "ABCD", STEPS, "stop")
    assert read.letter == expected
    assert rule is None or read.rule == rule


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
TEN = {
    "A": "0.78",
    "B": "100 °C",
    "C": "118 °C",
    "D": "$614.58",
    "E": "22.3 $\\mathrm{~m}^2$",
    "F": "-12",
    "G": "2.06 eV",
    "H": "1.2 atm",
    "I": "6",
    "J": "3.5",
}


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
