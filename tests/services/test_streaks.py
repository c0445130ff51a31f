"""Streaks count local days in the user's own zone, bridge one missed day with a freeze, and pay milestones once.

The day arithmetic (`advance`) is tested directly and by properties over random activity in random zones;
the service is tested on both backends: local dates across DST, zone changes, milestones, races, calendar.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.clock import local_date
from bot.config import StreakSettings
from bot.services import streaks
from bot.services.streaks import DayOutcome, MilestoneReached, StreakState
from db.models import ActivityEvent, Guild, User, XPEvent
from db.session import Database

GUILD, ALICE, BOB = 1001, 2001, 2002
RULES = StreakSettings(freeze_every_days=7, max_freezes=2)
MILESTONES = {7: 25, 30: 100}
NOV_1 = date(2026, 11, 1)


def day(number: int) -> date:
    """November `number`, 2026."""
    return NOV_1 + timedelta(days=number - 1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def advance_through(days: list[date], rules: StreakSettings = RULES) -> tuple[StreakState, list[DayOutcome]]:
    state, outcomes = StreakState(), []
    for today in days:
        state, outcome = streaks.advance(state, today, rules)
        outcomes.append(outcome)
    return state, outcomes


# The day arithmetic


def test_consecutive_days_extend_the_streak_and_a_day_counts_once() -> None:
    state, outcomes = advance_through([day(1), day(2), day(2), day(3)])
    assert (state.current, state.longest, state.total_active_days) == (3, 3, 3)
    assert [outcome.counted for outcome in outcomes] == [True, True, False, True]


def test_a_gap_without_a_freeze_starts_a_new_streak() -> None:
    state, outcomes = advance_through([day(1), day(2), day(3), day(5)])
    assert (state.current, state.longest, state.total_active_days) == (1, 3, 4)
    assert outcomes[-1] == DayOutcome(counted=True, lost_streak=3)


def test_one_missed_day_spends_a_freeze_and_the_streak_goes_on() -> None:
    rules = StreakSettings(freeze_every_days=2, max_freezes=1)
    state, outcomes = advance_through([day(1), day(2), day(4), day(6)], rules)
    # Day 2 earns the freeze, day 3 spends it (day 4 continues at 3), day 5 has none left: a new streak.
    assert outcomes[1].freeze_earned
    assert outcomes[2] == DayOutcome(counted=True, freeze_spent_on=day(3))
    assert outcomes[3] == DayOutcome(counted=True, lost_streak=3)
    assert (state.current, state.longest, state.freezes_available, state.freeze_used_on) == (1, 3, 0, day(3))


def test_two_missed_days_break_the_streak_whatever_the_freezes() -> None:
    rules = StreakSettings(freeze_every_days=1, max_freezes=2)
    state, outcomes = advance_through([day(1), day(2), day(5)], rules)
    assert outcomes[-1].lost_streak == 2 and outcomes[-1].freeze_spent_on is None
    assert (state.current, state.freezes_available) == (1, 2)


def test_freezes_are_earned_every_n_days_up_to_the_cap() -> None:
    state, outcomes = advance_through([day(number) for number in range(1, 29)])
    assert [index + 1 for index, outcome in enumerate(outcomes) if outcome.freeze_earned] == [7, 14]
    assert (state.current, state.freezes_available) == (28, 2)


def test_a_lowered_cap_stops_earning_but_takes_nothing_away() -> None:
    held = StreakState(current=6, longest=6, last_activity_date=day(6), total_active_days=6, freezes_available=3)
    state, outcome = streaks.advance(held, day(7), StreakSettings(freeze_every_days=7, max_freezes=2))
    assert not outcome.freeze_earned and state.freezes_available == 3


def test_an_earlier_date_counts_nothing() -> None:
    state, _ = advance_through([day(1), day(2), day(3)])
    assert streaks.advance(state, day(2), RULES) == (state, DayOutcome(counted=False))


def test_the_shown_streak_survives_while_today_can_still_extend_it() -> None:
    without_freeze = StreakState(current=5, longest=5, last_activity_date=day(10), total_active_days=5)
    with_freeze = replace(without_freeze, freezes_available=1)
    assert [streaks.current_as_of(with_freeze, day(number)) for number in (10, 11, 12, 13)] == [5, 5, 5, 0]
    assert [streaks.current_as_of(without_freeze, day(number)) for number in (10, 11, 12)] == [5, 5, 0]
    assert streaks.current_as_of(StreakState(), day(1)) == 0


# Properties of the day arithmetic over random activity in random zones

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Pacific/Chatham",
]
# Near the 2026 DST transitions of New York (Mar 8, Nov 1), Paris (Mar 29, Oct 25) and Lord Howe (Apr 5, Oct 4).
STARTS = [utc("2026-03-05T12:00"), utc("2026-03-26T12:00"), utc("2026-04-02T12:00"), utc("2026-10-01T12:00")]
rules_strategy = st.builds(StreakSettings, freeze_every_days=st.integers(1, 8), max_freezes=st.integers(0, 3))
# Gaps from a minute to four days: same-day repeats, next days, one missed day and longer breaks all occur.
gaps = st.lists(st.integers(1, 4 * 24 * 60), min_size=1, max_size=60)


def instants(start: datetime, gap_minutes: list[int]) -> list[datetime]:
    moments, moment = [], start
    for minutes in gap_minutes:
        moment += timedelta(minutes=minutes)
        moments.append(moment)
    return moments


def assert_invariants(state: StreakState, rules: StreakSettings, counted: list[date]) -> None:
    assert state.total_active_days == len(counted)
    assert 0 <= state.freezes_available <= rules.max_freezes
    assert 1 <= state.current <= state.total_active_days
    assert state.longest >= state.current


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.sampled_from(STARTS), gap_minutes=gaps, rules=rules_strategy)
def test_in_one_zone_every_local_day_counts_exactly_once(
    zone: str, start: datetime, gap_minutes: list[int], rules: StreakSettings
) -> None:
    state, counted, longest_seen = StreakState(), [], 0
    for moment in instants(start, gap_minutes):
        state, outcome = streaks.advance(state, local_date(moment, zone), rules)
        if outcome.counted:
            counted.append(local_date(moment, zone))
        longest_seen = max(longest_seen, state.current)
        assert_invariants(state, rules, counted)
    assert counted == sorted({local_date(moment, zone) for moment in instants(start, gap_minutes)})
    assert state.longest == longest_seen


@settings(max_examples=150, deadline=None)
@given(
    start=st.sampled_from(STARTS),
    steps=st.lists(st.tuples(st.integers(1, 4 * 24 * 60), st.sampled_from(ZONES)), min_size=1, max_size=60),
    rules=rules_strategy,
)
def test_moving_between_zones_never_counts_a_day_twice_nor_loses_a_later_one(
    start: datetime, steps: list[tuple[int, str]], rules: StreakSettings
) -> None:
    state, counted = StreakState(), []
    for moment, zone in zip(instants(start, [gap for gap, _ in steps]), [zone for _, zone in steps], strict=True):
        today = local_date(moment, zone)
        state, outcome = streaks.advance(state, today, rules)
        # Counted exactly when the date is later than every counted one: nothing twice, nothing later lost.
        assert outcome.counted == (not counted or today > counted[-1])
        if outcome.counted:
            counted.append(today)
        if outcome.freeze_spent_on is not None:  # only ever on the one day between two counted days
            assert counted[-2] + timedelta(days=1) == outcome.freeze_spent_on == today - timedelta(days=1)
        assert_invariants(state, rules, counted)


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.sampled_from(STARTS), gap_minutes=gaps)
def test_without_freezes_the_streak_is_the_last_run_of_consecutive_days(
    zone: str, start: datetime, gap_minutes: list[int]
) -> None:
    rules = StreakSettings(freeze_every_days=1, max_freezes=0)
    state = StreakState()
    for moment in instants(start, gap_minutes):
        state, _ = streaks.advance(state, local_date(moment, zone), rules)
    days = sorted({local_date(moment, zone) for moment in instants(start, gap_minutes)})
    run = 1
    while run < len(days) and days[-run - 1] == days[-run] - timedelta(days=1):
        run += 1
    assert state.current == run


# The service, on both backends


async def seed(database: Database) -> None:
    async with database.session_scope() as session:
        session.add_all(
            [
                Guild(id=GUILD, name="School", time_zone="Europe/Paris"),
                User(id=ALICE, display_name="Alice"),
                User(id=BOB, display_name="Bob"),
            ]
        )


async def record(
    database: Database,
    at: datetime,
    zone: str = "UTC",
    *,
    user_id: int = ALICE,
    guild_id: int | None = GUILD,
    rules: StreakSettings = RULES,
    seen: StreakState | None = None,
) -> streaks.StreakUpdate:
    async with database.session_scope() as session:
        return await streaks.record_activity(
            session,
            user_id=user_id,
            at=at,
            time_zone=zone,
            rules=rules,
            milestones=MILESTONES,
            guild_id=guild_id,
            seen=seen,
        )


async def view(database: Database, today: date, user_id: int = ALICE) -> streaks.StreakView:
    async with database.session_scope() as session:
        return await streaks.streak_view(session, user_id=user_id, today_local=today)


async def test_new_york_nights_across_the_fall_back_are_consecutive_days(database: Database) -> None:
    await seed(database)
    # 23:30 every night, Oct 30 to Nov 2: EDT (UTC-4) until Nov 1 at 02:00, EST (UTC-5) after.
    nights = ["2026-10-31T03:30", "2026-11-01T03:30", "2026-11-02T04:30", "2026-11-03T04:30"]
    updates = [await record(database, utc(night), "America/New_York") for night in nights]
    assert [update.day for update in updates] == [date(2026, 10, 30), date(2026, 10, 31), day(1), day(2)]
    assert updates[-1].streak.current == 4


async def test_new_yorks_25_hour_day_counts_once(database: Database) -> None:
    await seed(database)
    # 00:30 EDT and 23:30 EST on Nov 1 are 24 hours apart and the same day.
    first = await record(database, utc("2026-11-01T04:30"), "America/New_York")
    second = await record(database, utc("2026-11-02T04:30"), "America/New_York")
    assert (first.day, second.day, second.outcome.counted) == (day(1), day(1), False)


async def test_paris_23_hour_day_lets_the_next_day_start_an_hour_early(database: Database) -> None:
    await seed(database)
    # Mar 29 loses an hour: 22:30 UTC is 23:30 CET on Mar 28, but 00:30 CEST on Mar 30.
    moments = ["2026-03-28T22:30", "2026-03-29T21:30", "2026-03-29T22:30"]
    updates = [await record(database, utc(moment), "Europe/Paris") for moment in moments]
    assert [update.day for update in updates] == [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
    assert updates[-1].streak.current == 3


async def test_the_same_hour_is_two_days_in_kiritimati_and_one_in_pago_pago(database: Database) -> None:
    await seed(database)
    for moment in ("2026-11-16T09:30", "2026-11-16T10:30"):
        kiritimati = await record(database, utc(moment), "Pacific/Kiritimati", user_id=ALICE)
        pago_pago = await record(database, utc(moment), "Pacific/Pago_Pago", user_id=BOB)
    # UTC+14 crosses midnight between the two; UTC-11 is still on the evening before.
    assert (kiritimati.day, kiritimati.streak.current) == (day(17), 2)
    assert (pago_pago.day, pago_pago.streak.current) == (day(15), 1)


async def test_moving_west_never_repairs_a_gap(database: Database) -> None:
    await seed(database)
    await record(database, utc("2026-11-16T01:00"), "Asia/Tokyo")  # Monday in Tokyo
    broken = await record(database, utc("2026-11-18T01:00"), "Asia/Tokyo")  # Wednesday: Tuesday was missed
    assert broken.outcome.lost_streak == 1 and broken.streak.current == 1
    # In Los Angeles it is Tuesday again, then Wednesday again: neither counts.
    for moment in ("2026-11-18T02:00", "2026-11-19T01:00"):
        replay = await record(database, utc(moment), "America/Los_Angeles")
        assert not replay.outcome.counted and replay.streak.current == 1
    thursday = await record(database, utc("2026-11-19T20:00"), "America/Los_Angeles")
    assert (thursday.day, thursday.streak.current, thursday.streak.total_active_days) == (day(19), 2, 3)


async def test_a_milestone_pays_once_per_streak(database: Database) -> None:
    await seed(database)
    week = [await record(database, utc(f"2026-11-{number:02d}T10:00")) for number in range(1, 8)]
    assert week[-1].milestone == MilestoneReached(days=7, xp_awarded=25)
    assert all(update.milestone is None for update in week[:-1])
    replay = await record(database, utc("2026-11-07T10:00"))
    assert replay.milestone is None and not replay.outcome.counted
    # A broken streak rebuilt to 7 days earns the bonus again.
    rebuilt = [await record(database, utc(f"2026-11-{number:02d}T10:00")) for number in range(10, 17)]
    assert rebuilt[-1].milestone == MilestoneReached(days=7, xp_awarded=25)
    async with database.session_scope() as session:
        awards = (await session.execute(select(XPEvent.source_key, XPEvent.amount, XPEvent.guild_id))).all()
    assert sorted(awards) == [(f"streak:{ALICE}:7:2026-11-07", 25, GUILD), (f"streak:{ALICE}:7:2026-11-16", 25, GUILD)]


async def test_without_a_guild_a_milestone_is_reached_but_pays_nothing(database: Database) -> None:
    await seed(database)
    updates = [await record(database, utc(f"2026-11-{number:02d}T10:00"), guild_id=None) for number in range(1, 8)]
    assert updates[-1].milestone == MilestoneReached(days=7, xp_awarded=0)
    async with database.session_scope() as session:
        assert (await session.scalars(select(XPEvent))).all() == []


async def test_simultaneous_activities_count_once(database: Database) -> None:
    await seed(database)
    await record(database, utc("2026-11-15T10:00"))
    # The streak row exists: only its lock keeps eight racing read-modify-writes from all counting Nov 16.
    at = utc("2026-11-16T10:00")
    updates = await asyncio.gather(*(record(database, at + timedelta(seconds=second)) for second in range(8)))
    assert sum(update.outcome.counted for update in updates) == 1
    async with database.session_scope() as session:
        kinds = (await session.scalars(select(ActivityEvent.kind).where(ActivityEvent.user_id == ALICE))).all()
    assert kinds == ["streak_day", "streak_day"]
    shown = await view(database, day(16))
    assert (shown.current, shown.total_active_days) == (2, 2)


async def test_the_first_activities_of_a_user_race_to_create_one_streak(database: Database) -> None:
    await seed(database)
    at = utc("2026-11-16T10:00")
    updates = await asyncio.gather(*(record(database, at + timedelta(seconds=second)) for second in range(8)))
    assert sum(update.outcome.counted for update in updates) == 1
    assert (await view(database, day(16))).total_active_days == 1


async def test_activities_racing_from_the_same_read_count_once(database: Database) -> None:
    await seed(database)
    first = await record(database, utc("2026-11-15T10:00"))
    # Each caller read the streak as it stood after Nov 15 (as a quiz answer does) and stores with compare-and-set.
    at = utc("2026-11-16T10:00")
    updates = await asyncio.gather(
        *(record(database, at + timedelta(seconds=second), seen=first.streak) for second in range(8))
    )
    assert sum(update.outcome.counted for update in updates) == 1
    shown = await view(database, day(16))
    assert (shown.current, shown.total_active_days) == (2, 2)


async def test_a_day_counted_after_the_caller_read_the_streak_is_not_counted_again(database: Database) -> None:
    await seed(database)
    first = await record(database, utc("2026-11-15T10:00"))
    await record(database, utc("2026-11-16T09:00"))  # another activity, after the caller's read
    late = await record(database, utc("2026-11-16T10:00"), seen=first.streak)
    assert not late.outcome.counted
    async with database.session_scope() as session:
        kinds = (await session.scalars(select(ActivityEvent.kind).where(ActivityEvent.user_id == ALICE))).all()
    assert kinds == ["streak_day", "streak_day"]


async def test_first_activities_racing_from_no_streak_at_all_create_one(database: Database) -> None:
    await seed(database)
    at = utc("2026-11-16T10:00")
    updates = await asyncio.gather(
        *(record(database, at + timedelta(seconds=second), seen=StreakState()) for second in range(8))
    )
    assert sum(update.outcome.counted for update in updates) == 1
    assert (await view(database, day(16))).total_active_days == 1


async def test_the_calendar_shows_active_and_frozen_days(database: Database) -> None:
    await seed(database)
    rules = StreakSettings(freeze_every_days=2, max_freezes=1)
    for number in (1, 2, 4, 5):  # Nov 3 is covered by the freeze earned on Nov 2
        await record(
            database, datetime(2026, 11, number, 9, tzinfo=ZoneInfo("Europe/Paris")), "Europe/Paris", rules=rules
        )
    shown = await view(database, day(6))
    assert shown.last_28_days[-7:] == (False, True, True, True, True, True, False)  # Oct 31 .. Nov 6
    assert not any(shown.last_28_days[:-7])
    assert (shown.current, shown.longest, shown.total_active_days, shown.freezes_available) == (4, 4, 4, 1)
    # Two days later the freeze could still save it; three days later it is gone.
    assert (await view(database, day(7))).current == 4
    assert (await view(database, day(8))).current == 0


async def test_a_user_never_seen_has_an_empty_streak(database: Database) -> None:
    await seed(database)
    shown = await view(database, day(6), user_id=BOB)
    assert (shown.current, shown.longest, shown.total_active_days, shown.freezes_available) == (0, 0, 0, 0)
    assert shown.last_28_days == (False,) * 28


async def test_the_streak_shown_now_is_the_one_of_the_users_own_date(database: Database) -> None:
    await seed(database)
    async with database.session_scope() as session:
        (await session.get(User, ALICE)).time_zone = "Pacific/Kiritimati"
    await record(database, utc("2026-11-01T09:00"), "Pacific/Kiritimati")  # 23:00 on Nov 1 there

    async def shown_at(moment: str) -> streaks.StreakToday:
        async with database.session_scope() as session:
            return await streaks.streak_today(session, user_id=ALICE, now=utc(moment))

    late_on_the_next_day, the_day_after = await shown_at("2026-11-02T09:00"), await shown_at("2026-11-02T10:00")
    assert (late_on_the_next_day.view.current, late_on_the_next_day.time_zone) == (1, "Pacific/Kiritimati")
    # 10:00 UTC on Nov 2 is already Nov 3 in Kiritimati: a day missed, no freeze, the streak is gone.
    assert the_day_after.view.current == 0
