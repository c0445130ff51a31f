"""Keys are found on the line an author would edit, even around multi-line values."""

from __future__ import annotations

from bot.services.coursepack.problems import Problem
from bot.services.coursepack.toml_source import TomlDocument, parse_toml

QUIZ = '''\
title = "Check"
description = """
[[questions]]
answer = "a line of text, not a key"
"""

[[questions]]
text = "First"
options = [
    "a",
    "b",
]
answer = "a"

[[questions]]
"text" = "Second"
answer = "b"
'''


def parsed(text: str) -> TomlDocument:
    document = parse_toml(text, "quiz.toml")
    assert isinstance(document, TomlDocument)
    return document


def test_keys_of_each_array_table_entry_are_found_on_their_own_lines() -> None:
    document = parsed(QUIZ)
    assert document.line_of(("questions", 0, "answer")) == 13
    assert document.line_of(("questions", 1, "answer")) == 17
    assert document.line_of(("questions", 1, "text")) == 16


def test_lines_inside_multi_line_strings_and_arrays_are_not_mistaken_for_keys() -> None:
    document = parsed(QUIZ)
    assert document.line_of(("questions", 0)) == 7
    assert document.line_of(("questions", 0, "options", 1)) == 9


def test_a_missing_key_is_placed_on_its_table_header() -> None:
    assert parsed(QUIZ).line_of(("questions", 1, "options")) == 15


def test_a_syntax_error_reports_the_line_counted_from_where_the_text_starts_in_its_file() -> None:
    problem = parse_toml('title = "x"\nobjectives = [\n', "01-intro/01-hello.md", first_line=2)
    assert isinstance(problem, Problem)
    assert problem.line == 4
    assert problem.message.startswith("invalid TOML:")
