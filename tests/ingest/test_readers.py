"""Markdown, TXT, HTML, DOCX, CSV and JSONL readers: sections, blocks, offsets, records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_samples import write_docx, write_pdf

from doctune.ingest.document import Extracted, ReadError
from doctune.ingest.readers import read_document


def read(tmp_path: Path, name: str, content: str | bytes) -> list[Extracted]:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return read_document(path, path.read_bytes())


def blocks(doc: Extracted) -> list[tuple[bool, tuple[str, ...], str]]:
    return [(b.heading, b.section, doc.text[b.start : b.end]) for b in doc.blocks]


MARKDOWN = """---
title: front matter is not text
---
# Procedure

Charge the reactor with isobutylbenzene
(26.8 g, 0.200 mol) and dichloromethane.

## Step 1: Bromination

- Add bromine (33.6 g) over 2 h.
- Keep the mixture at 30-40 °C.

| Reagent | Amount |
|---------|-------:|
| Bromine | 0.210 mol |

Setext heading
--------------

```
code line one

code line two
```

***

Final paragraph.
"""


def test_markdown_sections_lists_tables(tmp_path: Path) -> None:
    (doc,) = read(tmp_path, "p.md", MARKDOWN)
    assert blocks(doc) == [
        (True, ("Procedure",), "Procedure"),
        (
            False,
            ("Procedure",),
            "Charge the reactor with isobutylbenzene (26.8 g, 0.200 mol) and dichloromethane.",
        ),
        (True, ("Procedure", "Step 1: Bromination"), "Step 1: Bromination"),
        (
            False,
            ("Procedure", "Step 1: Bromination"),
            "- Add bromine (33.6 g) over 2 h.\n- Keep the mixture at 30-40 °C.",
        ),
        (
            False,
            ("Procedure", "Step 1: Bromination"),
            "| Reagent | Amount |\n| Bromine | 0.210 mol |",
        ),
        (True, ("Procedure", "Setext heading"), "Setext heading"),
        (False, ("Procedure", "Setext heading"), "```\ncode line one\ncode line two\n```"),
        (False, ("Procedure", "Setext heading"), "Final paragraph."),
    ]
    assert "front matter" not in doc.text
    assert doc.page_starts == {} and doc.part == ""


def test_text_paragraphs_and_headings(tmp_path: Path) -> None:
    text = (
        "BACKGROUND OF THE INVENTION\n\nIbuprofen is an analgesic.\nIt is made industrially.\n\n"
        "2.1 Prior Art\nThe Boots process has six steps.\n\n\n12 h at 40 °C\n"
    )
    (doc,) = read(tmp_path, "p.txt", text)
    assert blocks(doc) == [
        (True, ("BACKGROUND OF THE INVENTION",), "BACKGROUND OF THE INVENTION"),
        (
            False,
            ("BACKGROUND OF THE INVENTION",),
            "Ibuprofen is an analgesic. It is made industrially.",
        ),
        (True, ("BACKGROUND OF THE INVENTION", "2.1 Prior Art"), "2.1 Prior Art"),
        (
            False,
            ("BACKGROUND OF THE INVENTION", "2.1 Prior Art"),
            "The Boots process has six steps.",
        ),
        (False, ("BACKGROUND OF THE INVENTION", "2.1 Prior Art"), "12 h at 40 °C"),
    ]


def test_text_in_windows_1252_and_binary_refused(tmp_path: Path) -> None:
    (doc,) = read(tmp_path, "latin.txt", "Reaction at 40 °C.".encode("cp1252"))
    assert doc.text == "Reaction at 40 °C."
    with pytest.raises(ReadError, match="binary"):
        read(tmp_path, "bin.txt", b"\x00\x01\x02 not text")


HTML = """<!doctype html><html><head><title>T</title><style>p {color: red}</style>
<script>var hidden = "must not appear";</script></head>
<body><nav><a href="/">Home</a></nav>
<h1>Carbonylation</h1>
<!-- a comment that is not text -->
<p>Palladium catalyses the <b>carbonylation</b> of 1-(4-isobutylphenyl)ethanol<br>at 130 °C.</p>
<div>Loose text in a div.<p>Then a paragraph.</p></div>
<h2>Conditions</h2>
<ul><li>CO at 5.5 MPa</li><li>PdCl<sub>2</sub>(PPh<sub>3</sub>)<sub>2</sub><ul><li>nested 0.3 mol %</li></ul></li></ul>
<table><caption>Yields</caption><tr><th>Step</th><th>Yield</th></tr><tr><td>Carbonylation</td><td>96 %</td></tr></table>
</body></html>"""


def test_html_headings_paragraphs_lists_tables(tmp_path: Path) -> None:
    (doc,) = read(tmp_path, "p.html", HTML)
    assert blocks(doc) == [
        (True, ("Carbonylation",), "Carbonylation"),
        (
            False,
            ("Carbonylation",),
            "Palladium catalyses the carbonylation of 1-(4-isobutylphenyl)ethanol at 130 °C.",
        ),
        (False, ("Carbonylation",), "Loose text in a div."),
        (False, ("Carbonylation",), "Then a paragraph."),
        (True, ("Carbonylation", "Conditions"), "Conditions"),
        (False, ("Carbonylation", "Conditions"), "- CO at 5.5 MPa"),
        (False, ("Carbonylation", "Conditions"), "- PdCl2(PPh3)2"),
        (False, ("Carbonylation", "Conditions"), "- nested 0.3 mol %"),
        (False, ("Carbonylation", "Conditions"), "Yields\nStep | Yield\nCarbonylation | 96 %"),
    ]
    # List items follow each other line by line.
    assert "- CO at 5.5 MPa\n- PdCl2(PPh3)2\n- nested 0.3 mol %" in doc.text
    for hidden in ("must not appear", "color: red", "Home", "comment"):
        assert hidden not in doc.text


def test_docx_headings_lists_tables(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "w.docx")
    (doc,) = read_document(path, path.read_bytes())
    title = "Ibuprofen Hydrolysis"
    assert blocks(doc) == [
        (True, (title,), title),
        (True, (title, "Conditions"), "Conditions"),
        (
            False,
            (title, "Conditions"),
            "The methyl ester is hydrolysed with 2 M sodium hydroxide at 20-40 °C for 4 h.",
        ),
        (False, (title, "Conditions"), "- Methanol is removed below 40 °C before acidification."),
        (
            False,
            (title, "Conditions"),
            "- The solution is acidified with 6 M hydrochloric acid to pH 1-2.",
        ),
        (True, (title, "Conditions", "Yields"), "Yields"),
        (
            False,
            (title, "Conditions", "Yields"),
            "Stage | Yield\nCrude | 94 %\nRecrystallised | 87 %",
        ),
        (True, (title, "Safety"), "Safety"),
        (
            False,
            (title, "Safety"),
            "Hydrochloric acid is corrosive; wear goggles and gloves at all times.",
        ),
    ]


def test_docx_corrupt_and_ole(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"not a valid \.docx"):
        read(tmp_path, "bad.docx", b"PK\x03\x04 broken zip")
    with pytest.raises(ReadError, match="password-protected or legacy"):
        read(tmp_path, "locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)


CSV = """name,CAS number,formula,molar mass (g/mol),boiling point (°C)
Isobutylbenzene,538-93-2,C10H14,134.22,172.8
Bromine,7726-95-6,Br2,159.81,58.8
,,,,
"Methyl 2-chloropropionate",17639-93-9,C4H7ClO2,122.55,"132-133"
"""


def test_csv_one_record_one_document(tmp_path: Path) -> None:
    docs = read(tmp_path, "substances.csv", CSV)
    assert [d.part for d in docs] == ["#1", "#2", "#3"]
    assert docs[1].text == (
        "name: Bromine\nCAS number: 7726-95-6\nformula: Br2\nmolar mass (g/mol): 159.81\n"
        "boiling point (°C): 58.8"
    )
    assert docs[1].blocks[0].section == ("Bromine",)
    assert {d.doc_id for d in docs} == {None}  # ingest names each by path and part, not bytes


def test_csv_semicolon_and_bad_row(tmp_path: Path) -> None:
    docs = read(tmp_path, "s.csv", "name;value\nA;1,5\nB;2,5\n")
    assert docs[0].text == "name: A\nvalue: 1,5"
    with pytest.raises(ReadError, match="line 3: 4 fields, the header has 2"):
        read(tmp_path, "bad.csv", "name,value\nA,1\nB,2,3,4\n")


def test_jsonl_records_flattened(tmp_path: Path) -> None:
    lines = [
        {
            "name": "Ibuprofen",
            "properties": {"mp": "75-78 °C", "pKa": 4.9},
            "hazards": ["H302", "H335"],
        },
        {"title": "THF", "peroxides": True, "notes": None},
    ]
    docs = read(
        tmp_path, "db.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n"
    )
    assert (
        docs[0].text
        == "name: Ibuprofen\nproperties.mp: 75-78 °C\nproperties.pKa: 4.9\nhazards: H302; H335"
    )
    assert docs[1].text == "title: THF\nperoxides: true"
    assert docs[1].blocks[0].section == ("THF",)
    with pytest.raises(ReadError, match="line 2: invalid JSON"):
        read(tmp_path, "bad.jsonl", '{"a": 1}\n{"a": \n')
    with pytest.raises(ReadError, match="line 1: a record must be a JSON object"):
        read(tmp_path, "list.jsonl", "[1, 2]\n")


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"unsupported format '\.rtf'"):
        read(tmp_path, "x.rtf", "{\\rtf1}")


def test_html_declared_legacy_charset(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Bromination at 30-40 °C.</p></body></html>'
    (doc,) = read(tmp_path, "legacy.html", page.encode("cp1252"))
    assert doc.text == "Bromination at 30-40 °C."


def test_a_pdf_corpus_never_imports_the_html_and_word_readers(make_project) -> None:
    """Readers load with their first file: a fresh process ingesting PDFs and Markdown has
    neither bs4 nor python-docx (nor pdfminer, which only undecodable pages need) loaded."""
    files = {"a.pdf": lambda p: write_pdf(p), "b.md": "# Notes\n\n" + "Some text. " * 20}
    ctx = make_project(files, workers=1)  # read in the process whose modules are listed
    script = (
        "import asyncio, json, sys\n"
        "from doctune.context import RunContext\n"
        "from doctune.ingest import stage\n"
        f"asyncio.run(stage.run(RunContext({str(ctx.project_dir)!r}, show_progress=False)))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "doctune.ingest.pdf" in loaded and "pypdfium2" in loaded  # the PDF was read
    for module in ("bs4", "docx", "pdfminer", "doctune.ingest.html", "doctune.ingest.docx"):
        assert module not in loaded
