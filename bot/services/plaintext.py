"""Plain text from people: the characters the bot refuses to store, and strips from what it shows back.

- Control characters (C0, DEL and C1): PostgreSQL cannot store NUL at all, and the rest have no place in a name
  or a title. Multi-line text (a prompt, a form's paragraph) keeps tab and line breaks.
- Bidirectional overrides and isolates (U+202A to U+202E, U+2066 to U+2069): text echoed back with them displays in
  another order than it was written in, so a name can pose as something else.

The same rules hold on SQLite and PostgreSQL, so neither stores what the other would refuse.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def unsafe_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of `text` the bot refuses to store, or None when there is none."""
    found = (_UNSAFE_IN_MULTILINE if multiline else _UNSAFE).search(text)
    return found.group() if found else None


def describe_character(character: str) -> str:
    """How a message names an (invisible) character: `U+202E`."""
    return f"U+{ord(character):04X}"


def without_unsafe_characters(text: str) -> str:
    """`text` with every refused character dropped (line breaks and tabs too), for names that can't be refused."""
    return _UNSAFE.sub("", text)
