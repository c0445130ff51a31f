"""Study reminders on both backends: preferences, the planner, the outbox and what a reminder says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.errors import InvalidInput, NotEnrolled
from bot.services import delivery, outbox, reminders, streaks
from bot.services.outbox import Claimed
from bot.services.reminders import EVERY_DAY, ReminderMessage
from db.models import Notification, NotificationKind, NotificationStatus, ReminderPreference, User
from db.session import Database
from tests.services.course_fixtures import ALICE, BOB, GUILD, enroll, import_course, move, seed_people, tiny_package

PARIS = "Europe/Paris"
# Monday 2026-11-23, 08:00 UTC = 09:00 in Paris.
MONDAY_9_PARIS = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MINUTES_5 = timedelta(minutes=5)


async def course_with_students(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    for student in (ALICE, BOB):
        await enroll(database, student, "TINY")
    async with database.session_scope() as session:
        (await session.get(User, ALICE)).time_zone = PARIS  # type: ignore[union-attr]


async def set_reminder(
    database: Database, user_id: int = ALICE, *, at: str = "09:00", days: str | None = None, now: datetime
) -> reminders.ReminderView:
    async with database.session_scope() as session:
        return await reminders.set_reminder(
            session,
            guild_id=GUILD,
            user_id=user_id,
            course_code=None,
            at=reminders.parse_time(at),
            days=reminders.parse_days(days),
            now=now,
        )


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
    async with database.session_scope() as session:
        with pytest.raises(NotEnrolled):
            await reminders.set_reminder(
                session,
                guild_id=GUILD,
                user_id=ALICE,
                course_code="NOPE",
                at=time(9),
                days=EVERY_DAY,
                now=MONDAY_9_PARIS,
            )


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

    async with database.session_scope() as session:
        await streaks.record_activity(
            session,
            user_id=ALICE,
            at=MONDAY_9_PARIS,
            time_zone=PARIS,
            rules=streaks.StreakSettings(),
            milestones={},
            guild_id=GUILD,
        )
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
