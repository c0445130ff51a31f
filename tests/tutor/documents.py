"""Small course documents for the materials and retrieval tests, and a PDF writer to wrap them in."""

from __future__ import annotations

LOOPS = """# Loops

A `for` loop repeats a block of code once for every item of a sequence, such as a list or a range.
Use `range(10)` to loop ten times. A `while` loop repeats as long as its condition stays true.
"""

VARIABLES = """# Variables

A variable is a name bound to a value. Assignment with `=` binds the name; reading the name gives the
value back. Names are case-sensitive, so `total` and `Total` are different variables.
"""

FUNCTIONS = """# Functions

A function is defined with `def`, takes parameters, and gives a result back with `return`.
Calling a function runs its body with the arguments bound to its parameters.
"""


def pdf_with_pages(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one page per entry, each line drawn in Helvetica, with a correct xref table."""
    page_count = len(pages)
    font_number = 3 + 2 * page_count
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (3 + 2 * n) for n in range(page_count)), page_count),
    ]
    for n, lines in enumerate(pages):
        drawn = b" T* ".join(b"(%s) Tj" % _pdf_string(line) for line in lines)
        stream = b"BT /F1 12 Tf 14 TL 72 720 Td " + drawn + b" ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (font_number, 4 + 2 * n)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")

    document = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(document))
        document += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(document)
    document += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    document += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    document += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(document)


def _pdf_string(line: str) -> bytes:
    return line.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
