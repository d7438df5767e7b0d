"""The grounding check, with the phrasings a teacher and a process document really use."""

from __future__ import annotations

from decimal import Decimal

import pytest

from doctune.curate.grounding import (
    GroundingChecker,
    canonical_unit,
    check_grounding,
    extract_quantities,
    normalise,
    readings,
)
from doctune.foundation.records import Chunk

BOOTS = (
    "In the Boots process isobutylbenzene is acylated with acetic anhydride and aluminium "
    "chloride (1.1 equivalents) at 0–5 °C. After 2 h, 4-isobutylacetophenone is isolated in "
    "85 % yield."
)
BHC = (
    "The BHC route hydrogenates 4-isobutylacetophenone over Raney nickel at 70 °C and 5 bar "
    "for 4 h. Carbonylation of the alcohol follows at 130 °C and 65 bar CO with 0.5 mol% "
    "palladium; ibuprofen (206.28 g/mol) forms with 99 % selectivity."
)


def D(*values: str) -> frozenset[Decimal]:
    return frozenset(Decimal(v) for v in values)


@pytest.mark.parametrize(
    ("text", "unit", "values"),
    [
        ("heated to 40 °C", "°C", [D("40")]),
        ("heated to 40°C", "°C", [D("40")]),
        ("heated to 40 ° C", "°C", [D("40")]),
        ("heated to 40 ℃", "°C", [D("40")]),
        ("heated to 40 ºC", "°C", [D("40")]),
        ("heated to 40 degrees Celsius", "°C", [D("40")]),
        ("kept at 30–40 °C", "°C", [D("30"), D("40")]),
        ("kept between 30 and 40 °C", "°C", [D("30"), D("40")]),
        ("from 30 °C to 40 °C", "°C", [D("30"), D("40")]),
        ("cooled to −10 °C", "°C", [D("-10")]),
        ("stirred for 12 h", "h", [D("12")]),
        ("stirred for 2–3 hours", "h", [D("2"), D("3")]),
        ("0.21 mol of isobutylbenzene", "mol", [D("0.21")]),
        ("molar mass 206.28 g/mol", "g/mol", [D("206.28")]),
        ("molar mass 206,28 g mol⁻¹", "g/mol", [D("206.28")]),
        ("a 2 M solution", "mol/L", [D("2")]),
        ("0,5 mol/L NaOH", "mol/L", [D("0.5")]),
        ("77 % yield", "%", [D("77")]),
        ("77% yield", "%", [D("77")]),
        ("77 percent yield", "%", [D("77")]),
        ("5 wt% water", "%", [D("5")]),
        ("0.5 mol% Pd", "%", [D("0.5")]),
        ("65 bar CO", "bar", [D("65")]),
        ("2.5 MPa hydrogen", "MPa", [D("2.5")]),
        ("300 rpm", "rpm", [D("300")]),
        ("1.05 eq. of NBS", "eq", [D("1.05")]),
        ("1.05 equivalents of NBS", "eq", [D("1.05")]),
        ("250 cm³ of toluene", "mL", [D("250")]),
        ("1.5 × 10⁻³ mol", "mol", [D("0.0015")]),
        ("1.5e-3 mol", "mol", [D("0.0015")]),
        ("½ h", "h", [D("0.5")]),
        ("a 12\u202f500 L reactor", "L", [D("12500")]),
        ("heated at 2 °C/min", "°C/min", [D("2")]),
        ("40 ± 2 °C", "°C", [D("40"), D("2")]),
        ("at 30, 40 and 50 °C", "°C", [D("30"), D("40"), D("50")]),
    ],
)
def test_quantities_are_read_with_unit_and_values(text: str, unit: str, values: list) -> None:
    (quantity,) = extract_quantities(text)
    assert quantity.unit == unit
    assert list(quantity.values) == values


def test_ratio_and_ph_are_quantities() -> None:
    ratio, ph = extract_quantities("a 1:1.05 molar ratio, then acidified to pH 1–2")
    assert (ratio.unit, ratio.values) == ("ratio", (frozenset({(Decimal(1), Decimal("1.05"))}),))
    assert (ph.unit, ph.values) == ("pH", (D("1"), D("2")))


@pytest.mark.parametrize(
    "text",
    [
        "C10H14 is isobutylbenzene",  # formula subscripts are not quantities
        "1,2-dichloroethane is the solvent",
        "Step 3 of 6",
        "the route was patented in the 1960s",
        "it takes 3 months",
        "Table 2 lists the solvents",
    ],
)
def test_numbers_without_a_unit_are_not_quantities(text: str) -> None:
    assert extract_quantities(text) == []


def test_a_comma_does_not_give_a_bare_number_the_next_unit() -> None:
    (quantity,) = extract_quantities("Table 2, 40 °C")
    assert quantity.values == (D("40"),)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("1,000", D("1000", "1")),  # English thousands, or a German decimal comma
        ("1.050", D("1050", "1.05")),
        ("0.210", D("0.21")),
        ("12 500", D("12500", "500")),
        ("1,000,000", D("1000000")),
        ("1.000,5", D("1000.5")),
        ("1,5", D("1.5")),
        ("206.28", D("206.28")),
    ],
)
def test_ambiguous_separators_give_every_reading(number: str, expected: frozenset) -> None:
    assert readings(number) == expected


def test_normalise_unifies_typography() -> None:
    assert normalise("30\u201340\u00a0\u2103") == "30-40 °C"
    assert normalise("\u22125\u2009°C") == "-5 °C"
    assert canonical_unit("mol·L-1") == canonical_unit("mol/L") == canonical_unit("M") == "mol/L"


@pytest.mark.parametrize(
    ("answer", "source"),
    [
        ("The acylation runs at 40 °C.", "The acylation is run at 40°C."),
        ("It is run at 40 degrees Celsius.", "The acylation is run at 40 ° C."),
        ("The mixture is stirred for 12 hours.", "Stir the mixture for 12 h."),
        ("0.21 mol of NBS is needed.", "Use 0.210 mol of N-bromosuccinimide."),
        ("The molar ratio is 1 : 1.05.", "Isobutylbenzene and NBS are used at 1:1.05."),
        ("Ibuprofen has a molar mass of 206.28 g/mol.", "M = 206,28 g·mol⁻¹"),
        ("The pH is brought to 1–2.", "acidify to pH 1-2 with HCl"),
        ("The yield is 77%.", "The yield is 77 %."),
        ("It is held at 30-40 °C.", "held at 30 °C to 40 °C"),
        ("The upper limit is 40 °C.", "held at 30–40 °C"),
        ("It is cooled to −10 °C.", "cool to -10 °C"),
        ("The batch is 1,000 kg.", "a 1000 kg batch"),
        ("The reactor holds 12 500 L.", "a 12\u202f500 L reactor"),
        ("1.5 × 10⁻³ mol of catalyst is used.", "0.0015 mol of catalyst"),
        ("A 2 M solution is used.", "a 2 mol/L solution"),
        ("250 mL of toluene is added.", "add 250 cm³ of toluene"),
        ("The hydrolysis takes 0,5 h.", "hydrolysis: 0.5 h"),
        ("Palladium is used at 5 mol%.", "palladium (5 mol %)"),
        ("The pressure is 65 bar.", "65 barg of carbon monoxide"),
        ("Ibuprofen melts at 75-77 °C.", "melting_point_c: 75-77"),  # unit in the field name
        ("Its molar mass is 206.28 g/mol.", "molar_mass_g_per_mol: 206.28"),
        ("NBS is used at 1.05 equivalents.", "a 1:1.05 molar ratio of substrate to NBS"),
        ("Ibuprofen is a non-steroidal anti-inflammatory drug.", "no numbers here at all"),
    ],
)
def test_grounded_answers_pass(answer: str, source: str) -> None:
    assert check_grounding(answer, [source]) == []


@pytest.mark.parametrize(
    ("answer", "source", "missing"),
    [
        ("The acylation runs at 45 °C.", "run at 40 °C", "45 °C"),
        ("The acylation runs at 40 °C.", "run for 40 h at reflux", "40 °C"),
        ("It is held at 30-45 °C.", "held at 30–40 °C", "30-45 °C"),
        ("0.22 mol of NBS is needed.", "0.21 mol of NBS", "0.22 mol"),
        ("The molar ratio is 1:1.1.", "a 1:1.05 ratio", "1:1.1"),
        ("The pH is brought to pH 3.", "acidify to pH 1-2", "pH 3"),
        ("The yield is 80 %.", "The yield is 77 %.", "80 %"),
        ("Its molar mass is 206.3 g/mol.", "206.28 g/mol", "206.3 g/mol"),  # no rounding
        ("It takes 0.5 h.", "it takes 30 min", "0.5 h"),  # no unit conversion
        ("It is cooled to 10 °C.", "cool to −10 °C", "10 °C"),  # the sign counts
        ("It takes 2 h.", "it takes 2 min", "2 h"),
        ("It takes 1,5 h.", "it takes 15 h", "1,5 h"),
    ],
)
def test_ungrounded_answers_name_what_is_missing(answer: str, source: str, missing: str) -> None:
    assert check_grounding(answer, [source]) == [missing]


def test_only_the_missing_quantities_are_reported() -> None:
    answer = (
        "Isobutylbenzene is acylated at 0-5 °C with 1.1 equivalents of AlCl3; after 2 h the "
        "ketone is isolated in 92 % yield, and hydrogenation at 70 °C and 5 bar takes 6 h."
    )
    assert check_grounding(answer, [BOOTS, BHC]) == ["92 %", "6 h"]


def test_checker_uses_the_records_chunks_only() -> None:
    chunks = {
        "c1": Chunk(
            id="c1",
            doc_id="d",
            path="boots.md",
            index=0,
            text=BOOTS,
            start=0,
            end=1,
            n_tokens=60,
            sha256="x",
        ),
        "c2": Chunk(
            id="c2",
            doc_id="d",
            path="bhc.md",
            index=1,
            text=BHC,
            start=1,
            end=2,
            n_tokens=60,
            sha256="y",
        ),
    }
    checker = GroundingChecker(chunks)
    answer = "Carbonylation runs at 130 °C and 65 bar."
    assert checker.check(answer, ["c1", "c2"]).ok
    wrong_chunk = checker.check(answer, ["c1"])
    assert wrong_chunk.missing == ["130 °C", "65 bar"]
    unknown = checker.check(answer, ["c9"])
    assert not unknown.ok and unknown.unknown_chunks == ["c9"]
    assert "chunks not found: c9" in unknown.detail
    assert checker.check("No numbers in this answer.", ["c9"]).ok
