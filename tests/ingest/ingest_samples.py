"""Real documents written for the ingest tests: PDFs with fpdf2 (multi-page with headings and a
running header and footer, encrypted, image-only) and a DOCX with python-docx; how many entries the ingest cache holds.

A plain module next to the tests (pytest puts this folder on sys.path), so test modules import
these builders directly instead of importing conftest.
"""

from __future__ import annotations

from pathlib import Path

from doctune.ingest.cache import LOG

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

# Three sections over several pages; sentences are numbered so tests can find them.
SECTIONS = [
    ("1 Bromination", 27),
    ("2 Coupling", 30),
    ("2.1 Work-up", 12),
    ("3 Hydrolysis", 24),
]


def sentence(section: str, i: int) -> str:
    return (
        f"In {section.split(' ', 1)[1].lower()} step {i} the mixture is held at {30 + i % 10} °C "
        f"for {i + 1} h with a molar ratio of 1:1.{i:02d}."
    )


def paragraph(section: str, p: int) -> str:
    return " ".join(sentence(section, p * 3 + k) for k in range(3))


def write_pdf(
    path: Path,
    *,
    sections: list[tuple[str, int]] = SECTIONS,
    password: str | None = None,
    running: bool = True,
) -> Path:
    """A text PDF: a title, numbered headings (larger, bold, in the outline), paragraphs with
    space between them, a running header and a 'Page N' footer."""
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self) -> None:
            if running:
                self.set_font(family, "", 8)
                self.cell(0, 5, "Ibuprofen process notes - internal", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            if running:
                self.set_y(-15)
                self.set_font(family, "", 8)
                self.cell(0, 5, f"Page {self.page_no()}", align="C")

    pdf = Doc()
    family = "helvetica"
    if DEJAVU.is_file() and DEJAVU_BOLD.is_file():
        pdf.add_font("DejaVu", "", str(DEJAVU))
        pdf.add_font("DejaVu", "B", str(DEJAVU_BOLD))
        family = "DejaVu"
    pdf.add_page()
    pdf.set_font(family, "B", 18)
    pdf.multi_cell(0, 9, "Process Notes", new_x="LMARGIN", new_y="NEXT")
    for title, paragraphs in sections:
        level = title.split(" ", 1)[0].count(".")
        pdf.set_font(family, "B", 14 - 2 * level)
        pdf.start_section(title, level=level)
        pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 11)
        for p in range(paragraphs // 3):
            pdf.multi_cell(0, 5.5, paragraph(title, p), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    if password:
        from fpdf.enums import EncryptionMethod

        # RC4 needs no extra package; PDFium opens it like any encrypted PDF.
        pdf.set_encryption(
            owner_password="owner-" + password,
            user_password=password,
            encryption_method=EncryptionMethod.RC4,
        )
    pdf.output(str(path))
    return path


def write_image_pdf(path: Path, pages: int = 2) -> Path:
    """A scan: each page one image, no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(image).rectangle((20, 20, 380, 180), outline="black", width=4)
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.image(image, x=20, y=20, w=170)
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    from docx import Document

    doc = Document()
    doc.add_heading("Ibuprofen Hydrolysis", level=0)
    doc.add_heading("Conditions", level=1)
    doc.add_paragraph(
        "The methyl ester is hydrolysed with 2 M sodium hydroxide at 20-40 °C for 4 h."
    )
    doc.add_paragraph("Methanol is removed below 40 °C before acidification.", style="List Bullet")
    doc.add_paragraph(
        "The solution is acidified with 6 M hydrochloric acid to pH 1-2.", style="List Bullet"
    )
    doc.add_heading("Yields", level=2)
    table = doc.add_table(rows=3, cols=2)
    for row, (a, b) in zip(
        table.rows, [("Stage", "Yield"), ("Crude", "94 %"), ("Recrystallised", "87 %")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = a, b
    doc.add_heading("Safety", level=1)
    doc.add_paragraph("Hydrochloric acid is corrosive; wear goggles and gloves at all times.")
    doc.save(str(path))
    return path


def cache_rows(folder: Path) -> int:
    """Entries the ingest cache in `folder` holds whole (lines of its log that end)."""
    try:
        data = (folder / LOG).read_bytes()
    except FileNotFoundError:
        return 0
    return data.count(b"\n")
