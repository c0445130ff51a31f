"""The one source of "now". Services take `now` from here, so tests move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar date at `moment` for someone living in the IANA zone `time_zone`."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def local_instant(day: date, at: time, time_zone: str) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `time_zone`, for something that must happen once that day.

    A time that occurs twice (clocks fall back) is its first occurrence; a time that does not exist (clocks
    spring forward) is the first valid minute after it, so the day still gets its one occurrence.
    """
    zone = ZoneInfo(time_zone)
    wall = datetime.combine(day, at)
    for _ in range(24 * 60 + 1):  # a whole skipped day (Samoa, 2011) is the worst case
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            return instant
        wall = (wall + timedelta(minutes=1)).replace(second=0, microsecond=0)
    raise ValueError(f"no valid local time on or after {day} {at} in {time_zone}")


def next_local_occurrence(
    after: datetime, *, at: time, weekdays: frozenset[int], time_zone: str, not_before_day: date | None = None
) -> tuple[date, datetime]:
    """The first local day (weekday in `weekdays`, 0 = Monday) whose wall-clock `at` in `time_zone` falls after
    `after`, and that instant in UTC. Days before `not_before_day` are skipped, so a caller that remembers the
    last day it acted on never acts twice on one local day, even when the time zone changes in between."""
    if not weekdays:
        raise ValueError("at least one weekday is needed")
    day = local_date(after, time_zone) - timedelta(days=1)  # the instant may still be yesterday's wall-clock
    if not_before_day is not None:
        day = max(day, not_before_day)
    for _ in range(9):  # at most a week ahead, plus the day before and a skipped day
        if day.weekday() in weekdays:
            instant = local_instant(day, at, time_zone)
            if instant > after:
                return day, instant
        day += timedelta(days=1)
    raise AssertionError("unreachable: a week always holds one of the weekdays")
