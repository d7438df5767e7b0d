"""Option tables the letter-extraction tests share (test_letters*.py)."""

UNITS = {"A": "90 °C", "B": "100 °C", "C": "118 °C", "D": "373 °C"}

# Ten options, as MMLU-Pro's questions have: letters up to J.
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
