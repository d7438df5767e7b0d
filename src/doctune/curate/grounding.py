"""The grounding check: every number-with-unit in an answer must occur in its source chunks.

A teacher that invents a temperature or a yield writes a plausible number with a unit; this is the
cheapest reliable signal of it. Both texts are normalised first (Unicode forms, degree signs,
minus signs and dashes, superscripts, thousands separators, decimal commas), then quantities are
read as (unit, values) and compared by value, so "40°C", "40 ° C" and "40 degrees Celsius" are the
same quantity and "0.210 mol" is "0.21 mol".

What counts as found, and why:
- a value with its unit anywhere in the sources, or as an endpoint of a range or list there
  ("30-40 °C" grounds "40 °C"); a range or list in the answer needs each of its values;
- a value that the sources state with no unit at all (tables and `field: value` records put the
  unit in the column name, "molar mass (g/mol): 206.28"); a source value with a different unit
  does not count;
- a number whose separators are ambiguous ("1,050" is 1050 in English and 1.05 in German) is any
  of its readings;
- ratios ("1:1.05") are compared as a whole; their terms also count as bare numbers.
No unit conversion: "0.5 h" is not grounded by "30 min". The answer should say what the source says.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from doctune.curate.units import PREFIX_UNITS, RATIO, UNIT_PATTERN, canonical_unit
from doctune.foundation.records import Chunk

_NUMBER = r"(?:\d{1,3}(?:[,. ']\d{3}(?!\d))+(?:[.,]\d+)?|\d+(?:[.,]\d+)?|\.\d+)"
_PREFIX = "|".join(PREFIX_UNITS)
_RATIO_NUM = r"\d+(?:[.,]\d+)?"
_ATOM = re.compile(
    rf"(?<![\w.,])"
    rf"(?:(?P<prefix>{_PREFIX})\b(?P<gap>(?:(?!{_PREFIX})[^\d.;!?]){{0,30}}?))?"
    rf"(?:(?P<ratio>{_RATIO_NUM}(?:(?::| : ){_RATIO_NUM})+)"
    rf"|(?P<sign>[-+])?(?P<num>{_NUMBER})"
    rf"(?:\s?[×x·*]\s?10\^(?P<exp>[-+]?\d+)|[eE](?P<eexp>[-+]?\d+))?)"
    rf"(?:\s?(?P<unit>{UNIT_PATTERN})(?![A-Za-z0-9μ]))?"
)
# What may stand between two numbers of one range or list: "30-40", "30 to 40", "1, 2 and 3".
_CONNECTOR = re.compile(r"\s?(?:-|to|and|or|bis|until|through|±|\+/-|,|, and|, or)\s?")
_COMMA_ONLY = re.compile(r"\s?,\s?")

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_FRACTIONS = {"½": "0.5", "¼": "0.25", "¾": "0.75"}
_NARROW_SPACE_THOUSANDS = re.compile(r"(?<=\d)[\u00a0\u2009\u202f\u2007](?=\d{3}(?!\d))")


def normalise(text: str) -> str:
    """One spelling for what differs only in typography; both sides of the check go through it."""
    # Before NFKC, which would turn º into "o", superscripts into plain digits ("10³" into "103")
    # and narrow spaces (SI thousands separators) into ordinary ones.
    for char, value in _FRACTIONS.items():
        text = text.replace(char, value)
    text = text.replace("º", "°").replace("˚", "°")
    text = _NARROW_SPACE_THOUSANDS.sub("", text)
    text = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+", lambda m: "^" + m.group().translate(_SUPERSCRIPTS), text)
    text = unicodedata.normalize("NFKC", text)  # ℃ -> °C, µ -> μ, full-width digits -> digits
    text = text.translate(_DASHES).replace("⋅", "·").replace("∙", "·")
    text = re.sub(r"(?<=[A-Za-zμ])\^", "", text)  # unit exponents: m^3 -> m3, L^-1 -> L-1
    return re.sub(r"\s+", " ", text).strip()


def readings(number: str) -> frozenset[Decimal]:
    """Every value a written number can mean. "1,050" and "1.050" are 1050 (thousands) or 1.05
    (decimal); "12 500" is 12500, or 500 with 12 a separate count ("12 500 L reactors")."""
    grouped = re.fullmatch(r"(\d{1,3})((?:[,. ']\d{3})+)([.,]\d+)?", number)
    if grouped is None:
        return frozenset({Decimal(number.replace(",", "."))})
    head, groups, decimals = grouped.groups()
    separators = set(groups[::4])
    out: set[Decimal] = set()
    separator = groups[0]
    if len(separators) == 1 and not (decimals and decimals[0] == separator):
        if head != "0":  # "0,500" is never five hundred
            digits = head + groups.replace(separator, "")
            out.add(Decimal(digits + (decimals or "").replace(",", ".")))
        if separator in ".," and len(groups) == 4 and not decimals:
            out.add(Decimal(f"{head}.{groups[1:]}"))
        if separator == " " and not groups[-3:].startswith("0"):
            out.add(Decimal(groups[-3:]))
    if not out:  # inconsistent separators: the digits as one integer, the best guess there is
        out.add(Decimal(re.sub(r"\D", "", number)))
    return frozenset(out)


Value = Hashable  # a Decimal, or a tuple of Decimals for a ratio


@dataclass(frozen=True)
class Quantity:
    """Numbers with one unit as written in the (normalised) text: "30-40 °C" is one quantity
    with two values. Each value is the set of its readings."""

    text: str
    unit: str
    values: tuple[frozenset[Value], ...]


@dataclass
class _Atom:
    start: int
    end: int
    values: frozenset[Value]
    unit: str | None
    prefix: bool = False
    ratio: bool = False


def _atom(match: re.Match[str]) -> _Atom | None:
    if match.group("ratio"):
        terms = re.split(r"\s?:\s?", match.group("ratio"))
        value = tuple(Decimal(t.replace(",", ".")) for t in terms)
        return _Atom(match.start(), match.end(), frozenset({value}), RATIO, ratio=True)
    try:
        values = readings(match.group("num"))
    except InvalidOperation:
        return None
    exponent = match.group("exp") or match.group("eexp")
    if exponent is not None:
        values = frozenset(v.scaleb(int(exponent)) for v in values)
    if match.group("sign") == "-":
        values = frozenset(-v for v in values)
    unit, prefix = None, False
    if match.group("unit") and not _is_decade(match):
        # A unit after the number wins over a "pH" some words before it.
        unit = canonical_unit(match.group("unit"))
    elif match.group("prefix"):
        unit, prefix = match.group("prefix"), True
    start = match.start("sign") if match.group("sign") else match.start("num")
    if prefix:
        start = match.start("prefix")
    return _Atom(start, match.end(), frozenset(values), unit, prefix=prefix)


def _is_decade(match: re.Match[str]) -> bool:
    """ "the 1960s" is a decade, not 1960 seconds."""
    number = match.group("num")
    return (
        match.group("unit") == "s"
        and match.end("num") == match.start("unit")
        and re.fullmatch(r"1[5-9]\d0|20\d0", number) is not None
    )


def _atoms(text: str) -> list[_Atom]:
    atoms = []
    for match in _ATOM.finditer(text):
        atom = _atom(match)
        if atom is not None:
            atoms.append(atom)
    return atoms


def _chains(text: str, atoms: list[_Atom]) -> list[list[_Atom]]:
    """Runs of numbers joined by range or list connectors. A comma joins two bare numbers only
    ("30, 40 and 50 °C"), never a number to a quantity ("Table 2, 40 °C")."""
    chains: list[list[_Atom]] = []
    for atom in atoms:
        if chains and not atom.ratio and not chains[-1][-1].ratio:
            prev = chains[-1][-1]
            gap = text[prev.end : atom.start]
            joined = _CONNECTOR.fullmatch(gap) is not None
            if joined and _COMMA_ONLY.fullmatch(gap) and (prev.unit or atom.unit):
                joined = False
            if joined:
                chains[-1].append(atom)
                continue
        chains.append([atom])
    return chains


def _inherit_units(chain: list[_Atom]) -> None:
    # "30-40 °C": a unit after the last number belongs to all; "pH 1-2": a unit before the first.
    for i, atom in enumerate(chain):
        if atom.unit is not None:
            continue
        after = next((a.unit for a in chain[i + 1 :] if a.unit and not a.prefix), None)
        before = next((a.unit for a in reversed(chain[:i]) if a.prefix), None)
        atom.unit = after or before


def extract(text: str) -> tuple[list[Quantity], list[frozenset[Value]]]:
    """The quantities of a text, and the readings of its numbers that have no unit."""
    normal = normalise(text)
    quantities: list[Quantity] = []
    bare: list[frozenset[Value]] = []
    for chain in _chains(normal, _atoms(normal)):
        _inherit_units(chain)
        run: list[_Atom] = []
        for atom in [*chain, None]:
            if run and (atom is None or atom.unit != run[-1].unit):
                if run[-1].unit is None:
                    bare.extend(a.values for a in run)
                else:
                    span = normal[run[0].start : run[-1].end]
                    quantities.append(Quantity(span, run[-1].unit, tuple(a.values for a in run)))
                run = []
            if atom is not None:
                run.append(atom)
    return quantities, bare


def extract_quantities(text: str) -> list[Quantity]:
    """Every number-with-unit of `text`, in order."""
    return extract(text)[0]


@dataclass
class SourceIndex:
    """The values a source text states, by unit, and those it states with no unit."""

    by_unit: dict[str, set[Value]] = field(default_factory=lambda: defaultdict(set))
    bare: set[Value] = field(default_factory=set)

    @classmethod
    def of(cls, text: str) -> SourceIndex:
        index = cls()
        quantities, bare = extract(text)
        for quantity in quantities:
            for value in quantity.values:
                index.by_unit[quantity.unit].update(value)
                if quantity.unit == RATIO:  # the terms of "1:1.05" are numbers of the text too
                    for terms in value:
                        index.bare.update(terms)  # type: ignore[arg-type]
        for value in bare:
            index.bare.update(value)
        return index

    def states(self, unit: str, value: frozenset[Value]) -> bool:
        if value & self.by_unit.get(unit, set()):
            return True
        return unit != RATIO and bool(value & self.bare)


def ungrounded(answer: str, sources: Sequence[SourceIndex]) -> list[str]:
    """The quantities of `answer` (as normalised text) that no source states; [] when grounded."""
    missing = []
    for quantity in extract_quantities(answer):
        found = all(any(s.states(quantity.unit, v) for s in sources) for v in quantity.values)
        if not found:
            missing.append(quantity.text)
    return missing


def check_grounding(answer: str, sources: Iterable[str]) -> list[str]:
    """`ungrounded` against source texts: the answer's quantities not found in any of them."""
    return ungrounded(answer, [SourceIndex.of(text) for text in sources])


@dataclass
class GroundingResult:
    missing: list[str]
    unknown_chunks: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def detail(self) -> str:
        text = "not in the source chunks: " + "; ".join(self.missing)
        if self.unknown_chunks:
            text += f" (chunks not found: {', '.join(self.unknown_chunks)})"
        return text


class GroundingChecker:
    """Checks records against their source chunks; each chunk is read into an index once."""

    def __init__(self, chunks: Mapping[str, Chunk]) -> None:
        self.chunks = chunks
        self._indexes: dict[str, SourceIndex] = {}

    def index(self, chunk_id: str) -> SourceIndex | None:
        if chunk_id not in self._indexes:
            chunk = self.chunks.get(chunk_id)
            if chunk is None:
                return None
            self._indexes[chunk_id] = SourceIndex.of(chunk.text)
        return self._indexes[chunk_id]

    def check(self, answer: str, chunk_ids: Sequence[str]) -> GroundingResult:
        indexes = [self.index(c) for c in chunk_ids]
        unknown = [c for c, i in zip(chunk_ids, indexes, strict=True) if i is None]
        missing = ungrounded(answer, [i for i in indexes if i is not None])
        return GroundingResult(missing, unknown if missing else [])
