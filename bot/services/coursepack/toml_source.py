"""Parsing TOML with line numbers: where a syntax error is, and on which line each key was written.

`tomllib` returns plain values with no positions, so before parsing, the source text is scanned once
to note the line of every table header and `key =`, which lets a validation error on
`questions[2].answer` point at the line a person would edit. The same scan measures how deeply arrays
and inline tables nest: `tomllib` recurses once per level, so `x = [[[[…` would otherwise end in a
RecursionError rather than a problem on its line. Text longer than `MAX_TOML_CHARACTERS` is refused
unread, which keeps parsing (about 1 MB a second) and its memory bounded.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.services.coursepack.problems import KeyPath, Problem

MAX_TOML_CHARACTERS = 1_000_000
MAX_NESTING = 16
"""Arrays and inline tables inside one another; the package format itself needs at most 2."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Possessive (`++`, `*+`): a long line that is no assignment fails in one pass, without backtracking.
_BARE_KEY_ASSIGNMENT = re.compile(r"([A-Za-z0-9_-]++(?:[ \t]*+\.[ \t]*+[A-Za-z0-9_-]++)*+)[ \t]*+=")
_TOMLLIB_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")
# What the value scan stops at: everything else is skipped at the speed of the regex engine.
_VALUE_MARK = re.compile(r"""[#"'\[\]{}]""")
_STRING_END = {'"""': re.compile(r'\\.|"""'), "'''": re.compile("'''"), '"': re.compile(r'\\.|"')}
# Python refuses to turn longer digit strings into an int (and tomllib lets that ValueError out).
_TOO_MANY_DIGITS = re.compile(rf"[0-9_]{{{sys.get_int_max_str_digits() + 1},}}")


@dataclass(frozen=True, slots=True)
class TomlDocument:
    """A parsed TOML text and the (file) line on which each table and key starts."""

    file: str
    data: dict[str, Any]
    key_lines: Mapping[KeyPath, int]

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its nearest enclosing key or table when `path` itself is absent
        (a missing key is reported on its table's header); None when nothing encloses it."""
        for length in range(len(path), 0, -1):
            line = self.key_lines.get(tuple(path[:length]))
            if line is not None:
                return line
        return None


def parse_toml(text: str, file: str, *, first_line: int = 1) -> TomlDocument | Problem:
    """The parsed document, or what stops it being read as a `Problem` with its line: a syntax error,
    text over `MAX_TOML_CHARACTERS` or values nested over `MAX_NESTING` deep. `first_line` is the file
    line on which `text` starts, for TOML embedded in a larger file (lesson front matter)."""
    if len(text) > MAX_TOML_CHARACTERS:
        message = (
            f"is {len(text):,} characters of TOML; at most {MAX_TOML_CHARACTERS:,} characters of TOML are read "
            "per file (put long text in lessons, after the front matter)"
        )
        return Problem(file, None if first_line == 1 else first_line, message)
    finder = _KeyLineFinder()
    for offset, line in enumerate(text.split("\n")):
        finder.read_line(first_line + offset, line)
    if finder.scan.too_deep_on is not None:
        message = f"arrays and inline tables are nested more than {MAX_NESTING} deep; the format needs at most 2"
        return Problem(file, finder.scan.too_deep_on, message)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        position = _TOMLLIB_POSITION.search(message)
        if position is None:
            line_count = text.count("\n") + 1
            return Problem(file, first_line + line_count - 1, f"invalid TOML: {message}")
        line, column = int(position[1]), int(position[2])
        reason = _TOMLLIB_POSITION.sub("", message)
        return Problem(file, first_line + line - 1, f"invalid TOML: {reason} (column {column})")
    except ValueError as error:  # not a TOMLDecodeError: Python's cap on the digits of an int
        digits = _TOO_MANY_DIGITS.search(text)
        if digits is None:
            return Problem(file, None, f"invalid TOML: {error}")
        line = first_line + text.count("\n", 0, digits.start())
        return Problem(file, line, "invalid TOML: a number with thousands of digits")
    except RecursionError:  # the nesting check above should make this unreachable; never a traceback
        return Problem(file, None, f"arrays and inline tables are nested more than {MAX_NESTING} deep")
    return TomlDocument(file, data, finder.key_lines)


@dataclass(slots=True)
class _ValueScan:
    """Whether the scan is inside a multi-line string or an unclosed array/inline table, and the first
    line on which arrays and inline tables nested deeper than `MAX_NESTING`."""

    open_string: str | None = None
    bracket_depth: int = 0
    line: int = 0
    too_deep_on: int | None = None

    @property
    def inside_value(self) -> bool:
        return self.open_string is not None or self.bracket_depth > 0


@dataclass(slots=True)
class _KeyLineFinder:
    key_lines: dict[KeyPath, int] = field(default_factory=dict)
    array_lengths: dict[KeyPath, int] = field(default_factory=dict)
    table: KeyPath = ()
    scan: _ValueScan = field(default_factory=_ValueScan)

    def read_line(self, line_number: int, line: str) -> None:
        self.scan.line = line_number
        if self.scan.inside_value:
            _scan_value(line, self.scan)
            return
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return
        if stripped.startswith("["):
            is_array = stripped.startswith("[[")
            parsed = _read_dotted_key(stripped, 2 if is_array else 1)
            if parsed is not None:
                self.table = self._resolve_table(parsed[0], is_array)
                self.key_lines.setdefault(self.table, line_number)
                if is_array:  # the array itself starts at its first table
                    self.key_lines.setdefault(self.table[:-1], line_number)
            return
        bare = _BARE_KEY_ASSIGNMENT.match(stripped)  # most lines: one pass in the regex engine
        parsed = (tuple(key.strip() for key in bare[1].split(".")), bare.end() - 1) if bare else None
        parsed = parsed or _read_dotted_key(stripped, 0)
        if parsed is None or not stripped[parsed[1] :].startswith("="):
            return
        keys, end = parsed
        self.key_lines.setdefault(self.table + keys, line_number)
        _scan_value(stripped[end + 1 :], self.scan)

    def _resolve_table(self, keys: tuple[str, ...], is_array: bool) -> KeyPath:
        path: KeyPath = ()
        for position, key in enumerate(keys):
            path += (key,)
            if is_array and position == len(keys) - 1:
                self.array_lengths[path] = self.array_lengths.get(path, 0) + 1
            if path in self.array_lengths:
                path += (self.array_lengths[path] - 1,)
        return path


def _read_dotted_key(text: str, start: int) -> tuple[tuple[str, ...], int] | None:
    """The parts of a dotted key such as `a."b c".d` starting at `start`, and the position after it."""
    keys: list[str] = []
    position = start
    while True:
        position = _skip_blanks(text, position)
        if position >= len(text):
            return None
        if text[position] in "\"'":
            quote = text[position]
            end = text.find(quote, position + 1)
            while quote == '"' and end > 0 and text[end - 1] == "\\":
                end = text.find(quote, end + 1)
            if end < 0:
                return None
            keys.append(text[position + 1 : end].replace('\\"', '"').replace("\\\\", "\\"))
            position = end + 1
        else:
            bare = _BARE_KEY.match(text, position)
            if bare is None:
                return None
            keys.append(bare[0])
            position = bare.end()
        position = _skip_blanks(text, position)
        if position < len(text) and text[position] == ".":
            position += 1
            continue
        return tuple(keys), position


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    return position


def _scan_value(text: str, scan: _ValueScan) -> None:
    """Advance `scan` over `text`, tracking multi-line strings and bracket nesting across lines."""
    position = 0
    while position < len(text):
        if scan.open_string is not None:
            position = _end_of_string(text, position, scan.open_string)
            if position < 0:
                return  # the string goes on to the next line
            scan.open_string = None
            continue
        mark = _VALUE_MARK.search(text, position)
        if mark is None or mark[0] == "#":
            return
        position = mark.start()
        if text.startswith(('"""', "'''"), position):
            scan.open_string = text[position : position + 3]
            position += 3
        elif mark[0] in "\"'":
            end = _end_of_string(text, position + 1, mark[0])
            position = len(text) if end < 0 else end
        else:
            scan.bracket_depth += 1 if mark[0] in "[{" else -1
            if scan.bracket_depth > MAX_NESTING and scan.too_deep_on is None:
                scan.too_deep_on = scan.line
            position += 1


def _end_of_string(text: str, start: int, quote: str) -> int:
    """The position just after the `quote` closing a string whose text starts at `start`, or -1 when
    the line ends first; backslash escapes are skipped in basic (double-quoted) strings."""
    if quote == "'":
        end = text.find(quote, start)
        return -1 if end < 0 else end + 1
    closing = _STRING_END[quote]
    while (match := closing.search(text, start)) is not None:
        if match[0] == quote:
            return match.end()
        start = match.end()
    return -1
