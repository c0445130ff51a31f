"""CSV files the bot hands out, written so that opening one in a spreadsheet app never runs a formula.

Excel, LibreOffice and Google Sheets read a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return as a formula, so a display name such as `=HYPERLINK(...)` would run in the instructor's spreadsheet.
Such text cells get a leading single quote (OWASP's rule for CSV injection), which the apps show as text.
Every CSV the bot writes goes through `csv_bytes`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: object) -> object:
    """The value as a CSV cell no spreadsheet evaluates; numbers and other non-text values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A UTF-8 CSV file: the header row, then `rows`, every text cell made inert."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([inert_cell(cell) for cell in header])
    writer.writerows([inert_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue().encode()
