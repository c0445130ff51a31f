"""Parsing TOML with line numbers: where a syntax error is, and on which line each key was written.

`tomllib` returns plain values with no positions, so after a successful parse the source text is
scanned once more to note the line of every table header and `key =`, which lets a validation error
on `questions[2].answer` point at the line a person would edit.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.services.coursepack.problems import KeyPath, Problem

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOMLLIB_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


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
    """The parsed document, or the syntax error as a `Problem` with its line. `first_line` is the file
    line on which `text` starts, for TOML embedded in a larger file (lesson front matter)."""
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
    return TomlDocument(file, data, _find_key_lines(text, first_line))


@dataclass(slots=True)
class _ValueScan:
    """Whether the scan is inside a multi-line string or an unclosed array/inline table."""

    open_string: str | None = None
    bracket_depth: int = 0

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
            return
        parsed = _read_dotted_key(stripped, 0)
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


def _find_key_lines(text: str, first_line: int) -> dict[KeyPath, int]:
    finder = _KeyLineFinder()
    for offset, line in enumerate(text.split("\n")):
        finder.read_line(first_line + offset, line)
    return finder.key_lines


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
            if scan.open_string == '"""' and text[position] == "\\":
                position += 2
            elif text.startswith(scan.open_string, position):
                position += 3
                scan.open_string = None
            else:
                position += 1
            continue
        char = text[position]
        if char == "#":
            return
        if text.startswith('"""', position) or text.startswith("'''", position):
            scan.open_string = text[position : position + 3]
            position += 3
        elif char in "\"'":
            position = _end_of_single_line_string(text, position) + 1
        else:
            scan.bracket_depth += (char in "[{") - (char in "]}")
            position += 1


def _end_of_single_line_string(text: str, start: int) -> int:
    quote = text[start]
    position = start + 1
    while position < len(text) and text[position] != quote:
        position += 2 if quote == '"' and text[position] == "\\" else 1
    return position
