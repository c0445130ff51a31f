"""A small TOML emitter for the values a course package uses: strings, integers, booleans, aware
datetimes, arrays, and tables one level deep (deeper tables are written inline)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def dumps_toml(document: Mapping[str, Any], *, multiline_strings: bool = True) -> str:
    """TOML text that `tomllib.loads` turns back into `document`, None values left out.

    Keys keep their order, except that a table's plain values come before its sub-tables, as TOML
    requires. With `multiline_strings`, strings holding a newline are written as `\"\"\"` blocks (for
    readable explanations); without, every string stays on one line (for `+++` front matter, where a
    line of a string must never read as the closing `+++`).
    Raises ValueError for a value TOML cannot hold, such as a naive datetime.
    """
    lines: list[str] = []
    _write_table(lines, (), document, multiline_strings)
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any], multiline: bool) -> None:
    sub_tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays_of_tables: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in table.items():
        if value is None:
            continue
        if not path and isinstance(value, Mapping):
            sub_tables.append((key, value))
        elif not path and _is_array_of_tables(value):
            arrays_of_tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value, multiline=multiline)}")
    for key, sub_table in sub_tables:
        lines.extend(["", f"[{_key(key)}]"])
        _write_table(lines, (*path, key), sub_table, multiline)
    for key, entries in arrays_of_tables:
        for entry in entries:
            lines.extend(["", f"[[{_key(key)}]]"])
            _write_table(lines, (*path, key), entry, multiline)


def _is_array_of_tables(value: Any) -> bool:
    return _is_array(value) and len(value) > 0 and all(isinstance(entry, Mapping) for entry in value)


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _basic_string(key)


def _value(value: Any, *, multiline: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _multiline_string(value) if multiline and "\n" in value else _basic_string(value)
    if isinstance(value, datetime):
        return _datetime(value)
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items() if item is not None)
        return f"{{ {pairs} }}" if pairs else "{}"
    if _is_array(value):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise ValueError(f"TOML cannot hold a {type(value).__name__}: {value!r}")


def _basic_string(text: str) -> str:
    return '"' + "".join(_escape(char) for char in text) + '"'


def _multiline_string(text: str) -> str:
    # Every quote is escaped, so the text can never contain a closing `"""`; the newline after the
    # opening delimiter is dropped by TOML, so the text's own first character survives.
    return '"""\n' + "".join("\n" if char == "\n" else _escape(char) for char in text) + '"""'


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{ord(char):04X}"
    return char


def _datetime(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"TOML datetimes here must carry a time zone: {moment!r}")
    if offset % timedelta(minutes=1):
        raise ValueError(f"TOML offsets are whole minutes: {moment!r}")
    return moment.isoformat()
