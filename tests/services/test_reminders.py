"""Study reminders on both backends: preferences, the planner, the outbox and what a reminder says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, NotEnrolled
from bot.services import delivery, outbox, reminder_planner, reminders
from bot.services.outbox import Claimed
from bot.services.reminder_planner import PlannedBatch, PlannerRun
from bot.services.reminders import EVERY_DAY, ReminderMessage
from db.models import Notification, NotificationKind, NotificationStatus, ReminderPreference, User
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    GUILD,
    class_of_two,
    import_course,
    move,
    seed_people,
    set_reminder,
    study,
    tiny_package,
)

PARIS = "Europe/Paris"
# Monday 2026-11-23, 08:00 UTC = 09:00 in Paris.
MONDAY_9_PARIS = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MINUTES_5 = timedelta(minutes=5)


async def course_with_students(database: Database) -> None:
    await class_of_two(database, tiny_package())
    async with database.session_scope() as session:
        (await session.get(User, ALICE)).time_zone = PARIS  # type: ignore[union-attr]


async def plan(database: Database, now: datetime) -> int:
    async with database.session_scope() as session:
        return await reminders.plan_due(session, now=now)


async def claim(database: Database, now: datetime, limit: int = 100) -> list[Claimed]:
    async with database.session_scope() as session:
        return await outbox.claim_due(session, now=now, limit=limit)


async def outbox_rows(database: Database) -> list[tuple[str, NotificationStatus]]:
    async with database.session_scope() as session:
        rows = await session.execute(select(Notification.dedupe_key, Notification.status).order_by(Notification.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_times_and_days_are_read_as_people_write_them() -> None:
    assert reminders.parse_time("9:05") == time(9, 5)
    assert reminders.parse_time("18.30") == time(18, 30)
    assert reminders.parse_days(None) == EVERY_DAY
    assert reminders.parse_days("weekdays") == frozenset(range(5))
    assert reminders.parse_days("Mon, wed,FRIDAY") == frozenset({0, 2, 4})
    for bad in ("25:00", "9", "noon", "09:60"):
        with pytest.raises(InvalidInput, match="HH:MM"):
            reminders.parse_time(bad)
    for bad in ("mo", "someday", "mon,funday", ","):
        with pytest.raises(InvalidInput, match="mon,wed,fri"):
            reminders.parse_days(bad)
    assert reminders.describe_days(frozenset({0, 2, 4})) == "mon,wed,fri"
    assert reminders.describe_days(EVERY_DAY) == "every day"


async def test_a_reminder_fires_at_the_students_local_time_on_the_chosen_days(database: Database) -> None:
    await course_with_students(database)

    view = await set_reminder(database, at="09:00", days="mon,wed", now=MONDAY_9_PARIS + timedelta(minutes=1))

    # Monday 09:00 has just passed in Paris: the next is Wednesday 09:00 Paris time.
    assert view.next_local == datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo(PARIS))
    async with database.session_scope() as session:
        zone, shown = await reminders.reminders_of(session, guild_id=GUILD, user_id=ALICE)
    assert zone == PARIS and [(v.course_code, v.local_time, v.days) for v in shown] == [
        ("TINY", time(9), frozenset({0, 2}))
    ]


async def test_a_reminder_needs_an_enrollment(database: Database) -> None:
    await course_with_students(database)
    with pytest.raises(NotEnrolled):
        await set_reminder(database, at="09:00", course="NOPE", now=MONDAY_9_PARIS)


async def test_the_planner_plans_each_local_day_once_and_moves_on(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, at="09:00", now=MONDAY_9_PARIS - timedelta(hours=1))

    assert await plan(database, MONDAY_9_PARIS - timedelta(minutes=1)) == 0  # not due yet
    assert await plan(database, MONDAY_9_PARIS) == 1
    assert await plan(database, MONDAY_9_PARIS + timedelta(minutes=5)) == 0  # a rerun plans nothing
    assert await plan(database, MONDAY_9_PARIS + timedelta(days=1)) == 1
    assert await outbox_rows(database) == [
        (f"reminder:{ALICE}:1:2026-11-23", NotificationStatus.PENDING),
        (f"reminder:{ALICE}:1:2026-11-24", NotificationStatus.PENDING),
    ]


async def test_a_reminder_missed_by_hours_is_not_sent_late(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, at="09:00", now=MONDAY_9_PARIS - timedelta(hours=1))

    assert await plan(database, MONDAY_9_PARIS + timedelta(hours=5)) == 0  # the bot was down all morning
    assert await plan(database, MONDAY_9_PARIS + timedelta(days=1)) == 1  # but tomorrow's comes
    assert [key for key, _ in await outbox_rows(database)] == [f"reminder:{ALICE}:1:2026-11-24"]


async def test_a_time_zone_change_moves_reminders_but_never_repeats_a_local_day(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, at="09:00", now=MONDAY_9_PARIS - timedelta(hours=1))
    await plan(database, MONDAY_9_PARIS)  # Monday planned in Paris

    # She flies to New York the same morning: it is still Monday 04:00 there, but Monday is done.
    async with database.session_scope() as session:
        (await session.get(User, ALICE)).time_zone = "America/New_York"  # type: ignore[union-attr]
        await reminders.reschedule_user(session, user_id=ALICE, now=MONDAY_9_PARIS + timedelta(minutes=1))
        preference = await session.scalar(select(ReminderPreference))
    assert preference is not None and preference.next_fire_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


async def test_claimed_rows_are_sent_at_most_once(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, now=MONDAY_9_PARIS - timedelta(hours=1))
    await plan(database, MONDAY_9_PARIS)

    first = await claim(database, MONDAY_9_PARIS)
    assert [c.user_id for c in first] == [ALICE] and first[0].attempts == 1
    assert await claim(database, MONDAY_9_PARIS) == []  # claimed once, never again
    # The sender dies before reporting: later the row is FAILED, not sent again.
    async with database.session_scope() as session:
        stopped = [
            await outbox.fail_interrupted(session, now=MONDAY_9_PARIS + timedelta(minutes=after), older_than=MINUTES_5)
            for after in (1, 10)
        ]
    assert stopped == [0, 1]
    assert await outbox_rows(database) == [(f"reminder:{ALICE}:1:2026-11-23", NotificationStatus.FAILED)]
    assert await claim(database, MONDAY_9_PARIS + timedelta(hours=1)) == []


async def test_a_send_that_sent_nothing_is_retried_then_given_up(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, now=MONDAY_9_PARIS - timedelta(hours=1))
    await plan(database, MONDAY_9_PARIS)

    now, retried = MONDAY_9_PARIS, []
    for _ in range(outbox.MAX_ATTEMPTS):
        (claimed,) = await claim(database, now)
        async with database.session_scope() as session:
            retried.append(await outbox.retry(session, claimed, error="503", now=now, delay=timedelta(minutes=1)))
        assert await claim(database, now) == []  # not before its new due time
        now += timedelta(minutes=1)
    assert retried == [True, True, False]
    assert (await outbox_rows(database))[0][1] is NotificationStatus.FAILED


async def test_a_reminder_tells_where_you_are_and_is_skipped_on_a_day_you_studied(database: Database) -> None:
    await course_with_students(database)
    await move(database, ALICE, "next", now=MONDAY_9_PARIS - timedelta(days=3))  # intro
    await move(database, ALICE, "next", now=MONDAY_9_PARIS - timedelta(days=3))  # setup
    await move(database, ALICE, "next", now=MONDAY_9_PARIS - timedelta(days=3))  # the quiz "check"
    await set_reminder(database, now=MONDAY_9_PARIS - timedelta(hours=1))
    await plan(database, MONDAY_9_PARIS)
    (claimed,) = await claim(database, MONDAY_9_PARIS)

    async with database.session_scope() as session:
        message = await reminders.compose(session, claimed)
    assert message == ReminderMessage(
        guild_id=GUILD,
        course_code="TINY",
        course_title="Course TINY",
        current_title="Check",
        next_title="Wrap up",
        quiz_to_pass="Check",
        done=2,
        total=4,
        streak_days=0,
    )

    await study(database, at=MONDAY_9_PARIS, zone=PARIS)
    async with database.session_scope() as session:
        assert await reminders.compose(session, claimed) == "already studied that day"


async def test_three_failed_deliveries_in_a_row_pause_a_students_reminders(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, now=MONDAY_9_PARIS - timedelta(hours=1))

    paused = []
    for delivered in (False, False, True, False, False, False):
        async with database.session_scope() as session:
            paused.append(await delivery.record_delivery(session, user_id=ALICE, guild_id=GUILD, delivered=delivered))
    assert paused == [False, False, False, False, False, True]
    async with database.session_scope() as session:
        _, (view,) = await reminders.reminders_of(session, guild_id=GUILD, user_id=ALICE)
    assert view.next_at is None and "couldn't reach you" in (view.paused_reason or "")
    assert await plan(database, MONDAY_9_PARIS + timedelta(days=2)) == 0
    await set_reminder(database, now=MONDAY_9_PARIS + timedelta(days=2))  # setting it again resumes
    assert await plan(database, MONDAY_9_PARIS + timedelta(days=3)) == 1


async def test_turning_reminders_off_stops_them(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, now=MONDAY_9_PARIS - timedelta(hours=1))
    async with database.session_scope() as session:
        assert await reminders.turn_off(session, guild_id=GUILD, user_id=ALICE, course_code=None) == ["TINY"]
    assert await plan(database, MONDAY_9_PARIS) == 0


async def test_two_planners_and_two_senders_never_duplicate(database: Database) -> None:
    await course_with_students(database)
    for student in (ALICE, BOB):
        await set_reminder(database, student, now=MONDAY_9_PARIS - timedelta(days=1))
    now = MONDAY_9_PARIS + timedelta(hours=1)  # 09:00 in both zones (Bob's is UTC) has passed

    planned = await asyncio.gather(plan(database, now), plan(database, now))
    claimed = await asyncio.gather(claim(database, now, limit=1), claim(database, now, limit=1), claim(database, now))

    assert sum(planned) == 2
    ids = [c.id for batch in claimed for c in batch]
    assert len(ids) == len(set(ids)) == 2
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == 2
    assert {(c.kind, c.payload["day"]) for batch in claimed for c in batch} == {
        (NotificationKind.REMINDER, "2026-11-23")
    }


async def test_a_reminder_planned_before_it_was_turned_off_or_paused_is_skipped(database: Database) -> None:
    await course_with_students(database)
    for student in (ALICE, BOB):
        await set_reminder(database, student, now=MONDAY_9_PARIS - timedelta(days=1))
    await plan(database, MONDAY_9_PARIS + timedelta(hours=1))
    async with database.session_scope() as session:
        await reminders.turn_off(session, guild_id=GUILD, user_id=ALICE, course_code=None)
        for _ in range(delivery.PAUSE_AFTER_FAILURES):
            await delivery.record_delivery(session, user_id=BOB, guild_id=GUILD, delivered=False)

    reasons = []
    for claimed in await claim(database, MONDAY_9_PARIS + timedelta(hours=1)):
        async with database.session_scope() as session:
            reasons.append(await reminders.compose(session, claimed))
    assert reasons == ["reminder turned off or paused"] * 2


# The planner in bounded transactions: students in a few zones, at a few times, on a few day sets.
BATCH_STUDENTS = range(10_000, 10_012)
BATCH_ZONES = ("UTC", PARIS, "America/New_York", "Asia/Kathmandu")
BATCH_TIMES = (time(6, 30), time(9, 0), time(10, 45))
BATCH_DAYS = (127, 31, 0b1010101)
# Monday 11:00 UTC: some reminders came due in the last two hours, some earlier (stale), some are still to come.
BATCH_NOW = MONDAY_9_PARIS + timedelta(hours=3)


async def students_with_varied_reminders(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    async with database.session_scope() as session:
        session.add_all(
            User(id=user_id, display_name=f"s{user_id}", time_zone=BATCH_ZONES[n % len(BATCH_ZONES)])
            for n, user_id in enumerate(BATCH_STUDENTS)
        )
        await session.flush()
        for n, user_id in enumerate(BATCH_STUDENTS):
            zone, at = BATCH_ZONES[n % len(BATCH_ZONES)], BATCH_TIMES[n % len(BATCH_TIMES)]
            weekdays = BATCH_DAYS[n % len(BATCH_DAYS)]
            fire_at = reminder_planner.next_fire_at(
                at, weekdays, zone, after=MONDAY_9_PARIS - timedelta(hours=6), last_planned_day=None
            )
            session.add(
                ReminderPreference(
                    guild_id=GUILD, user_id=user_id, course_id=1, local_time=at, weekdays=weekdays, next_fire_at=fire_at
                )
            )


async def planner_state(database: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """(every outbox row as planned, every preference's next instant and last planned day)."""
    async with database.session_scope() as session:
        rows = await session.execute(
            select(
                Notification.dedupe_key,
                Notification.kind,
                Notification.status,
                Notification.guild_id,
                Notification.user_id,
                Notification.course_id,
                Notification.payload,
                Notification.due_at,
            ).order_by(Notification.dedupe_key)
        )
        preferences = await session.execute(
            select(
                ReminderPreference.user_id, ReminderPreference.next_fire_at, ReminderPreference.last_planned_day
            ).order_by(ReminderPreference.user_id)
        )
        return [tuple(row) for row in rows], [tuple(row) for row in preferences]


async def still_due(database: Database) -> int:
    async with database.session_scope() as session:
        due = await session.scalar(select(func.count()).where(ReminderPreference.next_fire_at <= BATCH_NOW))
    return due or 0


async def test_a_batch_of_one_plans_what_one_big_batch_plans(database: Database) -> None:
    await students_with_varied_reminders(database)
    due = await still_due(database)
    async with database.session_scope() as session:
        before = (await session.execute(select(ReminderPreference.id, ReminderPreference.next_fire_at))).all()

    one_by_one = await reminder_planner.plan_due_in_batches(database, now=BATCH_NOW, batch_size=1)
    planned_one_by_one = await planner_state(database)
    async with database.session_scope() as session:
        await session.execute(delete(Notification))
        for preference_id, fire_at in before:
            preference = await session.get(ReminderPreference, preference_id)
            preference.next_fire_at, preference.last_planned_day = fire_at, None  # type: ignore[union-attr]
    at_once = await reminder_planner.plan_due_in_batches(database, now=BATCH_NOW, batch_size=100)

    assert (one_by_one.batches, at_once.batches) == (due + 1, 1)  # the last batch comes back short
    assert 0 < one_by_one.reminders == at_once.reminders < due  # the stale ones moved on without a reminder
    assert await planner_state(database) == planned_one_by_one
    outbox_rows, _ = planned_one_by_one
    assert len(outbox_rows) == at_once.reminders and await still_due(database) == 0
    assert all(key == f"reminder:{user}:1:{payload['day']}" for key, _, _, _, user, _, payload, _ in outbox_rows)
    assert {(kind, status) for _, kind, status, *_ in outbox_rows} == {
        (NotificationKind.REMINDER, NotificationStatus.PENDING)
    }


async def test_batches_commit_one_by_one_and_a_crash_between_them_plans_the_rest_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await students_with_varied_reminders(database)
    due = await still_due(database)
    plan_batch, seen_before_batch = reminder_planner.plan_batch, []

    async def crashing_second_batch(session: AsyncSession, *, now: datetime, limit: int) -> PlannedBatch:
        seen_before_batch.append(await still_due(database))  # what other connections see: committed batches
        batch = await plan_batch(session, now=now, limit=limit)
        if len(seen_before_batch) == 2:
            raise RuntimeError("the process died mid-batch")
        return batch

    monkeypatch.setattr(reminder_planner, "plan_batch", crashing_second_batch)
    with pytest.raises(RuntimeError, match="died"):
        await reminder_planner.plan_due_in_batches(database, now=BATCH_NOW, batch_size=2)
    assert seen_before_batch == [due, due - 2]  # the first batch was committed before the second began
    assert await still_due(database) == due - 2  # the second batch's work went with its transaction
    first_batch_rows = len((await planner_state(database))[0])

    monkeypatch.setattr(reminder_planner, "plan_batch", plan_batch)
    rest = await reminder_planner.plan_due_in_batches(database, now=BATCH_NOW, batch_size=2)

    outbox_rows, _ = await planner_state(database)
    assert await still_due(database) == 0
    assert len(outbox_rows) == first_batch_rows + rest.reminders == len({row[0] for row in outbox_rows})
    assert await reminder_planner.plan_due_in_batches(database, now=BATCH_NOW, batch_size=2) == PlannerRun(0, 1)
