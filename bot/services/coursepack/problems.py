"""How a course package reports what is wrong with it: every problem, with file and line."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.errors import CourseError
from bot.services.coursepack.model import COURSE_CODE_PATTERN, SLUG_PATTERN

KeyPath = tuple[str | int, ...]
"""A path into a validated document as pydantic reports it: keys, and array positions from 0."""

# Leaves room in a 2,000-character Discord message for the bot's own framing around the list.
_MESSAGE_BUDGET = 1_700
_MAX_LISTED = 15


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing an author must fix. `file` is relative to the package root, with `/` separators;
    `line` is 1-based, or None when the problem is about the file (or package) as a whole."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class PackageInvalid(CourseError):
    """A course package that cannot be loaded. `problems` holds all of them, in file and line order;
    `str()` lists as many as fit in a Discord message, then says how many more there are."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0)))
        super().__init__(_summarise(self.problems))


def _summarise(problems: tuple[Problem, ...]) -> str:
    count = len(problems)
    lines = [f"The course package has {count} problem{'s' if count != 1 else ''} to fix:"]
    length = len(lines[0])
    for listed, problem in enumerate(problems):
        entry = f"- {_clip(str(problem), 300)}"
        if listed == _MAX_LISTED or length + len(entry) + 1 > _MESSAGE_BUDGET:
            lines.append(f"…and {count - listed} more.")
            break
        lines.append(entry)
        length += len(entry) + 1
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PATTERN_MEANINGS = {
    SLUG_PATTERN: "must be a slug: lowercase letters, digits, `-` and `_`, at most 64 characters",
    COURSE_CODE_PATTERN: "must be a course code such as `PY101`: uppercase letters, digits and `-`, 2 to 20 of them",
    r"\S": "must not be empty",
}


def problems_from_validation_error(
    error: ValidationError,
    file: str,
    line_of: Callable[[KeyPath], int | None],
    *,
    ignore_keys: Collection[str] = (),
) -> list[Problem]:
    """One `Problem` per pydantic error, worded for an author, placed on the line `line_of` gives for
    the error's location (a key path into the validated document). Errors under a top-level key in
    `ignore_keys` are left out (the caller reports those itself)."""
    return [
        Problem(file, line_of(tuple(detail["loc"])), _describe(detail))
        for detail in error.errors()
        if not (detail["loc"] and detail["loc"][0] in ignore_keys)
    ]


def _describe(detail: ErrorDetails) -> str:
    location = tuple(detail["loc"])
    keys = [part for part in location if isinstance(part, str)]
    key = f"`{keys[-1]}`" if keys else "the file"
    if location and isinstance(location[-1], int):
        key += f" item {location[-1] + 1}"
    context = _context(location)
    kind = detail["type"]
    if kind == "missing":
        text = f"{key} is required"
    elif kind == "extra_forbidden":
        text = f"unknown key {key}"
    elif kind == "timezone_aware":
        text = f"{key} needs a time zone, such as 2025-09-01T09:00:00Z or 2025-09-01T09:00:00+02:00"
    elif kind == "string_pattern_mismatch":
        pattern = (detail.get("ctx") or {}).get("pattern", "")
        text = f"{key} {_PATTERN_MEANINGS.get(pattern, detail['msg'])}, not {detail['input']!r}"
    elif kind in ("enum", "literal_error"):
        text = f"{key}: {detail['msg']}, not {detail['input']!r}"
    elif kind == "value_error":
        text = f"{key} {detail['msg'].removeprefix('Value error, ')}"
    elif isinstance(detail["input"], str | int | float):
        text = f"{key}: {detail['msg']}, not {detail['input']!r}"
    else:
        text = f"{key}: {detail['msg']}"
    return f"{text} (in {context})" if context else text


def _context(location: tuple[str | int, ...]) -> str:
    """`questions #2` for a key inside the second `[[questions]]` table, and so on outwards."""
    places = [
        f"{location[index - 1]} #{part + 1}"
        for index, part in enumerate(location[:-1])
        if isinstance(part, int) and index > 0
    ]
    return ", ".join(reversed(places))
