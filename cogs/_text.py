"""Discord text helpers: what the bot posts made safe and cut to Discord's sizes, and edits paced.

- `strip_mentions`: model or course text that cannot ping anyone when posted;
- `split_for_discord`: a text cut into messages (or embed descriptions) Discord accepts, code fences kept valid;
- `StreamThrottle`: when a message being streamed may be edited again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cogs._limits import MESSAGE_MAX

EDIT_INTERVAL_SECONDS = 1.0
ZERO_WIDTH_SPACE = "\u200b"

_MENTION = re.compile(r"@(?=everyone|here)|<(?=(?:@[!&]?|#)\d+>)", re.IGNORECASE)
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,})(.*)$")


def strip_mentions(text: str) -> str:
    """`text` with every `@everyone`, `@here`, `<@id>`, `<@!id>`, `<@&id>` and `<#id>` made inert.

    A zero-width space goes after the `@` or `<`, so the text reads the same but Discord parses no
    mention. Idempotent. (Bot messages also send `allowed_mentions=none`; this is the second lock.)
    """
    return _MENTION.sub(lambda match: match.group() + ZERO_WIDTH_SPACE, text)


@dataclass(frozen=True, slots=True)
class _Piece:
    """One message of a split: `reopen + body + close`, where `body` is a slice of the original text."""

    body: str
    reopen: str = ""  # the fence line (and newline) reopening a code block cut by the previous piece
    close: str = ""  # the newline and fence closing a code block this piece cuts

    def render(self) -> str:
        return self.reopen + self.body + self.close


@dataclass(frozen=True, slots=True)
class _Fence:
    """A fenced code block: a cut at `position` is inside it when `start < position < end`."""

    start: int  # where the opening line starts
    end: int  # where the closing fence line's text ends (past the text when unclosed)
    opening_line: str
    marker: str

    def contains(self, position: int) -> bool:
        return self.start < position < self.end


def split_for_discord(text: str, limit: int = MESSAGE_MAX) -> list[str]:
    """`text` as messages of at most `limit` characters each, in order.

    Cuts go, by preference, at a blank line, then at a line break, then at a space, else anywhere,
    and never inside a fenced code block when a boundary outside it is available in the second half
    of the message. When a code block must be cut, the piece closes the fence and the next piece
    reopens it with the same opening line (language included), so both render as code.
    Joining the pieces, without those added fence lines, gives back `text`, except for whitespace
    that Discord would drop anyway (trailing whitespace; whitespace-only stretches longer than
    `limit`). Text that is only whitespace gives no pieces.
    """
    return [piece.render() for piece in _plan_split(text, limit)]


def _plan_split(text: str, limit: int) -> list[_Piece]:
    if limit < 20:
        raise ValueError("limit must be at least 20 characters")
    fences = _fences_in(text)
    closing_room = max((len(fence.marker) + 1 for fence in fences), default=0)
    pieces: list[_Piece] = []
    start = 0
    reopen = ""
    while text[start:].strip():
        if len(reopen) + len(text) - start <= limit:
            pieces.append(_Piece(text[start:], reopen))
            break
        repair = len(reopen) + closing_room <= limit // 2  # false only for absurdly long fence lines
        if not repair:
            reopen = ""
        room = limit - (len(reopen) + closing_room if repair else 0)
        cut = _best_cut(text, start, start + room, fences)
        body = text[start:cut]
        fence = next((fence for fence in fences if fence.contains(cut)), None) if repair else None
        if body.strip():
            if fence is None:
                pieces.append(_Piece(body, reopen))
                reopen = ""
            else:
                close = fence.marker if body.endswith("\n") else "\n" + fence.marker
                pieces.append(_Piece(body, reopen, close))
                reopen = fence.opening_line + "\n"
        start = cut
    return pieces


def _fences_in(text: str) -> list[_Fence]:
    """The backtick-fenced code blocks of `text` (Discord renders no other kind); an unclosed one runs to the end."""
    fences: list[_Fence] = []
    position = 0
    opened: tuple[int, str, str] | None = None  # (start, opening line, marker)
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        match = _FENCE_LINE.match(content)
        if opened is None:
            if match:
                opened = (position, content, match.group(1))
        elif match and not match.group(2).strip() and len(match.group(1)) >= len(opened[2]):
            fences.append(_Fence(opened[0], position + len(content), opened[1], opened[2]))
            opened = None
        position += len(line)
    if opened is not None:
        fences.append(_Fence(opened[0], len(text) + 1, opened[1], opened[2]))
    return fences


def _best_cut(text: str, start: int, end: int, fences: list[_Fence]) -> int:
    """Where to end a piece that starts at `start` and may not reach past `end`; always after some visible text."""
    window = text[start:end]
    after_visible = start + len(window) - len(window.lstrip()) + 1
    preferences = [("\n\n", False), ("\n", False), (" ", False), ("\n", True), (" ", True)]
    for floor in (max(start + len(window) // 2, after_visible), after_visible):
        for separator, inside_code_allowed in preferences:
            for position in _positions_after(text, separator, start, end):
                if position < floor:
                    break
                if inside_code_allowed or not any(fence.contains(position) for fence in fences):
                    return position
    return end


def _positions_after(text: str, separator: str, start: int, end: int) -> Iterator[int]:
    """Positions just after each `separator` lying in `text[start:end]`, latest first."""
    index = text.rfind(separator, start, end)
    while index != -1:
        yield index + len(separator)
        index = text.rfind(separator, start, index)


class StreamThrottle:
    """Decides when a message being streamed may be edited again: at most once per `interval` seconds.

    The clock is injectable (any monotonic `() -> float`), so tests never sleep. The first edit is always
    allowed. The caller should send the final text regardless of the throttle.
    """

    def __init__(self, *, interval: float = EDIT_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        if interval < 0:
            raise ValueError("interval must not be negative")
        self._interval = interval
        self._clock = clock
        self._last_edit: float | None = None

    def seconds_until_next_edit(self) -> float:
        """0.0 when an edit may be sent now, else how long to wait."""
        if self._last_edit is None:
            return 0.0
        return max(0.0, self._last_edit + self._interval - self._clock())

    def may_edit_now(self) -> bool:
        return self.seconds_until_next_edit() == 0.0

    def record_edit(self) -> None:
        """Note that an edit was just sent."""
        self._last_edit = self._clock()

    def claim_edit(self) -> bool:
        """True, and the edit recorded, when an edit may be sent now; False otherwise."""
        if not self.may_edit_now():
            return False
        self.record_edit()
        return True
