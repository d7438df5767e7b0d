"""The units the grounding check knows: chemistry and process engineering.

Each canonical unit lists its spellings as regular expressions (case-sensitive: M is molar, m is
metre). Spellings of one physical unit share a canonical name (M = mol/L, cm3 = mL), so "2 M" in an
answer is grounded by "2 mol/L" in the source. Compounds ("g/mol", "mol·L-1", "g mol-1", "°C/min")
are a unit over one of DENOMINATORS. Text reaches these patterns normalised (see
`grounding.normalise`): "μ" for micro, "-" for every dash, "m3" for "m³".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Canonical unit -> its spellings (regular expressions, case-sensitive: M is molar, m is metre).
# Spellings that mean the same physical unit share a canonical name (M = mol/L, cm3 = mL).
# Bare "C", "t" and "d" are left out: after a number they are too often something else.
UNITS: dict[str, tuple[str, ...]] = {
    # temperature
    "°C": (r"°\s?C", r"deg\.?\s?C", r"degrees?\s(?:C|Celsius|centigrade)", r"oC", r"celsius"),
    "°F": (r"°\s?F", r"degrees?\s(?:F|Fahrenheit)"),
    "K": (r"K", r"kelvin"),
    "°": (r"°", r"degrees?"),
    # time
    "h": (r"h", r"hrs?", r"hours?"),
    "min": (r"min", r"mins", r"minutes?"),
    "s": (r"s", r"secs?", r"seconds?"),
    "day": (r"days?",),
    "week": (r"weeks?",),
    # amount of substance
    "mol": (r"mol", r"moles?"),
    "mmol": (r"mmol", r"millimoles?"),
    "kmol": (r"kmol", r"kilomoles?"),
    "μmol": (r"μmol", r"umol", r"micromoles?"),
    "eq": (r"eq\.?", r"equiv\.?", r"equivalents?", r"molar\sequivalents?"),
    # mass
    "g": (r"g", r"gr", r"grams?"),
    "kg": (r"kg", r"kilograms?", r"kilos?"),
    "mg": (r"mg", r"milligrams?"),
    "μg": (r"μg", r"ug", r"mcg", r"micrograms?"),
    "t": (r"tonnes?", r"tons?", r"metric\stons?"),
    # volume
    "L": (r"L", r"l", r"litres?", r"liters?", r"dm3"),
    "mL": (r"mL", r"ml", r"millilitres?", r"milliliters?", r"cm3", r"cc"),
    "μL": (r"μL", r"μl", r"uL", r"microlitres?", r"microliters?"),
    "m3": (r"m3", r"cubic\smetres?", r"cubic\smeters?"),
    # fractions: the number is what is checked, so every kind of percent is one unit
    "%": (
        r"%",
        r"percent",
        r"per\scent",
        r"wt\.?\s?%",
        r"w/w\s?%",
        r"vol\.?\s?%",
        r"v/v\s?%",
        r"mol\s?%",
        r"mol-%",
        r"%\s?\((?:w/w|w/v|v/v|mol/mol)\)",
        r"%\s?(?:w/w|w/v|v/v|ee)",
    ),
    "ppm": (r"ppm",),
    "ppb": (r"ppb",),
    # pressure (gauge and absolute are one unit here, like the kinds of percent)
    "bar": (r"bar", r"barg", r"bara", r"bar\s?\([ga]\)"),
    "mbar": (r"mbar",),
    "MPa": (r"MPa",),
    "kPa": (r"kPa",),
    "hPa": (r"hPa",),
    "Pa": (r"Pa",),
    "atm": (r"atm", r"atmospheres?"),
    "psi": (r"psi", r"psig", r"psia"),
    "Torr": (r"[Tt]orr",),
    "mmHg": (r"mm\s?Hg",),
    # concentration
    "mol/L": (r"M", r"molar"),
    "mmol/L": (r"mM", r"millimolar"),
    "N": (r"N",),  # normality, "2 N HCl"
    "g/mol": (r"Da", r"daltons?"),
    "kg/mol": (r"kDa",),
    # energy, power
    "kJ": (r"kJ",),
    "MJ": (r"MJ",),
    "J": (r"J",),
    "kcal": (r"kcal",),
    "kWh": (r"kWh",),
    "kW": (r"kW",),
    "MW": (r"MW",),
    "W": (r"W",),
    # stirring, frequency, viscosity
    "rpm": (r"rpm", r"RPM", r"r/min", r"revolutions\sper\sminute"),
    "Hz": (r"Hz",),
    "kHz": (r"kHz",),
    "MHz": (r"MHz",),
    "cP": (r"cP", r"mPa\s?·?\s?s"),
    # length
    "m": (r"m", r"metres?", r"meters?"),
    "cm": (r"cm",),
    "mm": (r"mm",),
    "μm": (r"μm", r"um", r"microns?"),
    "nm": (r"nm",),
}

# Units that may follow "/" (or "·X-1", " X-1") to make a compound: g/mol, mol/L, L/h, °C/min.
DENOMINATORS = ("h", "min", "s", "day", "mol", "mmol", "g", "kg", "mg", "L", "mL", "m3", "m2")
# Units written before the number: "pH 1-2", "pKa of 4.4".
PREFIX_UNITS = ("pH", "pKa")
RATIO = "ratio"


def _alternation(patterns: Iterable[str]) -> str:
    # Longest spelling first: regex alternation takes the first that matches, not the longest.
    return "|".join(sorted(set(patterns), key=len, reverse=True))


_SIMPLE = _alternation(p for spellings in UNITS.values() for p in spellings)
_DENOM = _alternation(p for name in DENOMINATORS for p in UNITS.get(name, (name,)))
UNIT_PATTERN = rf"(?:{_SIMPLE})(?:\s?/\s?(?:{_DENOM})|\s?·\s?(?:{_DENOM})-1|\s(?:{_DENOM})-1)?"
_COMPOUND = re.compile(
    rf"(?P<num>{_SIMPLE})(?:\s?/\s?(?P<den>{_DENOM})|\s?·\s?(?P<den2>{_DENOM})-1|\s(?P<den3>{_DENOM})-1)?"
)
_SPELLINGS = [(re.compile(p), name) for name, spellings in UNITS.items() for p in spellings] + [
    (re.compile(d), d) for d in DENOMINATORS if d not in UNITS
]


@lru_cache(maxsize=4096)
def canonical_unit(raw: str) -> str:
    """The canonical name of a unit as written ("g mol-1" -> "g/mol", "M" -> "mol/L")."""
    match = _COMPOUND.fullmatch(raw)
    if match is None:
        return raw.replace(" ", "")
    numerator = _simple_name(match.group("num"))
    denominator = match.group("den") or match.group("den2") or match.group("den3")
    if denominator is None:
        return numerator
    return f"{numerator}/{_simple_name(denominator)}"


def _simple_name(raw: str) -> str:
    for pattern, name in _SPELLINGS:
        if pattern.fullmatch(raw):
            return name
    return raw
