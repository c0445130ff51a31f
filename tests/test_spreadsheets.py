"""CSV cells a spreadsheet app would run as formulas are written as text (OWASP's CSV injection rule)."""

from __future__ import annotations

import csv
import io

import pytest

from bot.spreadsheets import csv_bytes, inert_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("x","y")'])
def test_text_that_starts_a_formula_gets_a_leading_quote(text: str) -> None:
    assert inert_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Sam", "a=b", "", " =1", 42, -5, 3.5, None])
def test_plain_text_and_numbers_are_unchanged(value: object) -> None:
    assert inert_cell(value) == value


def test_a_csv_reads_back_with_every_cell_inert_and_quotes_intact() -> None:
    data = csv_bytes(["name", "xp"], [['=cmd|" /C calc"!A0', -3], ['Ana, the "great"', 10]])

    rows = list(csv.reader(io.StringIO(data.decode())))

    assert rows == [["name", "xp"], ['\'=cmd|" /C calc"!A0', "-3"], ['Ana, the "great"', "10"]]
