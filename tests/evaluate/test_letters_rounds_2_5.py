"""Letter extraction, written held-out rounds 2-5: each case a phrasing first met in that round
(see tests/evaluate/data/README.md), kept as a regression test of the rule it added. Round 1 and
the phrasings the issue names are in test_letters.py."""

from __future__ import annotations

import pytest
from letter_options import UNITS

from doctune.evaluate.extraction import read_choice


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
