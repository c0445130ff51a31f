"""Wall-clock times in a student's zone: once per local day, across DST gaps, repeats and zone changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import local_date, local_instant, next_local_occurrence

EVERY_DAY = frozenset(range(7))
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # DST switches at midnight: 00:00-00:59 does not exist on the spring day
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Pacific/Apia",
]
# Near the 2026 transitions of New York (Mar 8, Nov 1), Paris (Mar 29, Oct 25), Lord Howe (Apr 5, Oct 4),
# Santiago (Apr 5, Sep 6).
STARTS = [
    datetime(2026, 3, 5, 12, tzinfo=UTC),
    datetime(2026, 3, 26, 12, tzinfo=UTC),
    datetime(2026, 4, 2, 12, tzinfo=UTC),
    datetime(2026, 9, 3, 12, tzinfo=UTC),
    datetime(2026, 10, 1, 12, tzinfo=UTC),
    datetime(2026, 10, 29, 12, tzinfo=UTC),
]
wall_times = st.builds(time, hour=st.integers(0, 23), minute=st.sampled_from([0, 1, 15, 29, 30, 45, 59]))
weekday_sets = st.frozensets(st.integers(0, 6), min_size=1)


def wall(instant: datetime, zone: str) -> time:
    return instant.astimezone(ZoneInfo(zone)).time()


def test_a_time_skipped_by_spring_forward_fires_at_the_first_valid_minute() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    instant = local_instant(date(2026, 3, 8), time(2, 30), "America/New_York")
    assert instant == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert wall(instant, "America/New_York") == time(3, 0)


def test_a_time_repeated_by_fall_back_fires_at_its_first_occurrence() -> None:
    # New York, 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert local_instant(date(2026, 11, 1), time(1, 30), "America/New_York") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_a_zone_change_does_not_fire_twice_on_one_local_day() -> None:
    # Fired at 09:00 in Tokyo on Dec 5 (00:00 UTC); the student moves to New York, where it is still Dec 4.
    fired = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    day, instant = next_local_occurrence(
        fired, at=time(9), weekdays=EVERY_DAY, time_zone="America/New_York", not_before_day=date(2026, 12, 6)
    )
    assert (day, wall(instant, "America/New_York")) == (date(2026, 12, 6), time(9))


def occurrences(
    start: datetime, at: time, weekdays: frozenset[int], zone: str, count: int
) -> list[tuple[date, datetime]]:
    fired, after, not_before = [], start, None
    for _ in range(count):
        day, instant = next_local_occurrence(after, at=at, weekdays=weekdays, time_zone=zone, not_before_day=not_before)
        fired.append((day, instant))
        after, not_before = instant, day + timedelta(days=1)
    return fired


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.sampled_from(STARTS), at=wall_times, weekdays=weekday_sets)
def test_every_chosen_local_day_fires_once_at_its_time(
    zone: str, start: datetime, at: time, weekdays: frozenset[int]
) -> None:
    fired = occurrences(start, at, weekdays, zone, count=20)
    days = [day for day, _ in fired]
    instants = [instant for _, instant in fired]
    # Each chosen weekday once, in order, none skipped between the first and the last.
    expected, day = [], days[0]
    while day <= days[-1]:
        if day.weekday() in weekdays:
            expected.append(day)
        day += timedelta(days=1)
    assert days == expected
    assert instants == sorted(instants) and len(set(instants)) == len(instants)
    assert instants[0] > start
    for day, instant in fired:
        local = instant.astimezone(ZoneInfo(zone))
        if local.time() != at:
            # Only a wall-clock time that does not exist that day moves, and only to the next valid minute.
            skipped = datetime.combine(day, at).replace(tzinfo=ZoneInfo(zone))
            assert skipped.astimezone(UTC).astimezone(ZoneInfo(zone)).time() != at
            before = instant - timedelta(minutes=1)
            assert before.astimezone(ZoneInfo(zone)).replace(tzinfo=None) < datetime.combine(day, at)
        else:
            # A wall-clock time that happens twice (clocks fall back) fires at its first occurrence.
            assert local.fold == 0


@settings(max_examples=200, deadline=None)
@given(
    start=st.sampled_from(STARTS),
    at=wall_times,
    moves=st.lists(st.tuples(st.sampled_from(ZONES), st.integers(0, 3)), min_size=2, max_size=12),
)
def test_changing_zones_never_fires_twice_for_one_local_day(
    start: datetime, at: time, moves: list[tuple[str, int]]
) -> None:
    after, not_before, days = start, None, []
    for zone, extra_fires in moves:
        for _ in range(1 + extra_fires):
            day, instant = next_local_occurrence(
                after, at=at, weekdays=EVERY_DAY, time_zone=zone, not_before_day=not_before
            )
            assert instant > after and day >= local_date(after, zone) - timedelta(days=1)
            days.append(day)
            after, not_before = instant, day + timedelta(days=1)
    assert days == sorted(set(days))
