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

MAX_PROBLEMS = 100
"""Problems a `PackageInvalid` holds; beyond them it only counts. An author fixes the first ones and
uploads again, and a package built to produce millions of problems cannot exhaust memory."""

# Leaves room in a 2,000-character Discord message for the bot's own framing around the list.
_MESSAGE_BUDGET = 1_700
_MAX_LISTED = 15
_SHOWN_VALUE = 60


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing an author must fix. `file` is relative to the package root, with `/` separators;
    `line` is 1-based, or None when the problem is about the file (or package) as a whole.

    A warning (`is_warning`) does not stop the package from loading: the item was read in the closest
    form Coursebot has (a GIFT question with partial credit, say), and the author should know."""

    file: str
    line: int | None
    message: str
    is_warning: bool = False

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {'warning: ' if self.is_warning else ''}{self.message}"


class PackageInvalid(CourseError):
    """A course package that cannot be loaded. `problems` holds the first `MAX_PROBLEMS` found, in file
    and line order, and `omitted` counts the others; `str()` lists as many as fit in a Discord message,
    then says how many more there are."""

    def __init__(self, problems: Iterable[Problem], *, omitted: int = 0) -> None:
        found = list(problems)
        kept = sorted(found[:MAX_PROBLEMS], key=lambda p: (p.file, p.line or 0))
        self.problems: tuple[Problem, ...] = tuple(kept)
        self.omitted = omitted + len(found) - len(kept)
        super().__init__(_summarise(self.problems, len(self.problems) + self.omitted))

    @property
    def count(self) -> int:
        """How many problems were found, listed or not."""
        return len(self.problems) + self.omitted


class ProblemLog:
    """Problems as they are found: the first `MAX_PROBLEMS` kept, the rest only counted."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.omitted = 0

    def __bool__(self) -> bool:
        return bool(self.problems)

    @property
    def is_full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def add(self, problem: Problem) -> None:
        if self.is_full:
            self.omitted += 1
        else:
            self.problems.append(problem)

    def error(self) -> PackageInvalid:
        return PackageInvalid(self.problems, omitted=self.omitted)


def _summarise(problems: tuple[Problem, ...], count: int) -> str:
    lines = [f"The course package has {count:,} problem{'s' if count != 1 else ''} to fix:"]
    length = len(lines[0])
    for listed, problem in enumerate(problems):
        entry = f"- {_clip(str(problem), 300)}"
        if listed == _MAX_LISTED or length + len(entry) + 1 > _MESSAGE_BUDGET:
            lines.append(f"…and {count - listed:,} more.")
            break
        lines.append(entry)
        length += len(entry) + 1
    else:
        if count > len(problems):
            lines.append(f"…and {count - len(problems):,} more.")
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
    ignore: Collection[KeyPath] = (),
) -> list[Problem]:
    """One `Problem` per pydantic error, worded for an author, placed on the line `line_of` gives for
    the error's location (a key path into the validated document). Errors at or under a key path in
    `ignore` are left out (the caller reports those itself)."""
    return [
        Problem(file, line_of(location), _describe(detail))
        for detail in error.errors(include_url=False)
        if not _is_ignored(location := tuple(detail["loc"]), ignore)
    ]


def count_validation_problems(error: ValidationError, *, ignore: Collection[KeyPath] = ()) -> int:
    """How many problems `problems_from_validation_error` would give, without wording them."""
    if not ignore:
        return error.error_count()
    details = error.errors(include_url=False, include_context=False, include_input=False)
    return sum(not _is_ignored(tuple(detail["loc"]), ignore) for detail in details)


def _is_ignored(location: KeyPath, ignore: Collection[KeyPath]) -> bool:
    return any(location[:length] in ignore for length in range(1, len(location) + 1))


def unknown_key_message(location: KeyPath) -> str:
    """What `problems_from_validation_error` says about a key the model does not have."""
    return _in_context(f"unknown key {_key_name(location)}", location)


def too_many_message(location: KeyPath, count: int, limit: int) -> str:
    """What `problems_from_validation_error` says about a list longer than its model allows."""
    return _in_context(f"{_key_name(location)} holds {count:,} entries; at most {limit:,} are allowed", location)


def _describe(detail: ErrorDetails) -> str:
    location = tuple(detail["loc"])
    key = _key_name(location)
    kind = detail["type"]
    value = detail["input"]
    limits = detail.get("ctx") or {}
    if kind == "missing":
        text = f"{key} is required"
    elif kind == "extra_forbidden":
        text = f"unknown key {key}"
    elif kind == "timezone_aware":
        text = f"{key} needs a time zone, such as 2025-09-01T09:00:00Z or 2025-09-01T09:00:00+02:00"
    elif kind == "string_pattern_mismatch":
        pattern = limits.get("pattern", "")
        text = f"{key} {_PATTERN_MEANINGS.get(pattern, detail['msg'])}, not {_shown(value)}"
    elif kind == "string_too_long":
        text = f"{key} is {len(value):,} characters long; at most {limits['max_length']:,} fit in the database"
    elif kind == "too_long":
        count = len(value) if hasattr(value, "__len__") else limits.get("actual_length") or 0
        return too_many_message(location, count, limits["max_length"])
    elif kind in ("enum", "literal_error"):
        text = f"{key}: {detail['msg']}, not {_shown(value)}"
    elif kind == "value_error":
        text = f"{key} {detail['msg'].removeprefix('Value error, ')}"
    elif isinstance(value, str | int | float):
        text = f"{key}: {detail['msg']}, not {_shown(value)}"
    else:
        text = f"{key}: {detail['msg']}"
    return _in_context(text, location)


def _key_name(location: KeyPath) -> str:
    """`options` for a key, `options` item 3 for an entry of a list, `the file` for the whole document."""
    keys = [part for part in location if isinstance(part, str)]
    key = f"`{_clip(keys[-1], _SHOWN_VALUE)}`" if keys else "the file"
    if location and isinstance(location[-1], int):
        key += f" item {location[-1] + 1}"
    return key


def _in_context(text: str, location: KeyPath) -> str:
    context = _context(location)
    return f"{text} (in {context})" if context else text


def _shown(value: object) -> str:
    """`value` as an author wrote it, cut short: a message must not repeat a megabyte of input."""
    if isinstance(value, int) and value.bit_length() > 256:  # repr() of a huge int is slow, past 4,300 digits refused
        return f"a number of {value.bit_length():,} bits"
    return _clip(repr(value), _SHOWN_VALUE)


def _context(location: tuple[str | int, ...]) -> str:
    """`questions #2` for a key inside the second `[[questions]]` table, and so on outwards."""
    places = [
        f"{location[index - 1]} #{part + 1}"
        for index, part in enumerate(location[:-1])
        if isinstance(part, int) and index > 0
    ]
    return ", ".join(reversed(places))
