"""Quiet hours and pause notices on both backends: whose quiet hours hold, on whose clock, and a paused student
told exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.errors import InvalidInput
from bot.services import delivery, reminders, tenancy
from bot.services.reminders import QuietHours
from db.session import Database
from tests.services.course_fixtures import ALICE, GUILD, INSTRUCTOR, set_reminder
from tests.services.test_reminders import MONDAY_9_PARIS, course_with_students

NIGHT = QuietHours(time(22), time(7))


def test_quiet_hours_are_read_as_people_write_them_and_may_run_past_midnight() -> None:
    assert reminders.parse_quiet_hours("22:00-07:00") == NIGHT
    assert reminders.parse_quiet_hours(" 22:00 to 7:00 ") == NIGHT
    assert reminders.parse_quiet_hours("off") is None
    for bad in ("22:00", "22:00-22:00", "late", "25:00-07:00"):
        with pytest.raises(InvalidInput, match="22:00-07:00"):
            reminders.parse_quiet_hours(bad)
    assert [NIGHT.covers(time(hour)) for hour in (21, 22, 23, 0, 6, 7, 12)] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert QuietHours(time(13), time(14)).covers(time(13, 30)) and not QuietHours(time(13), time(14)).covers(time(14))
    assert str(NIGHT) == "22:00-07:00"


async def quiet_at(database: Database, moment: datetime, default: str = "") -> bool:
    async with database.session_scope() as session:
        return await reminders.in_quiet_hours(session, user_id=ALICE, guild_id=GUILD, now=moment, default=default)


async def test_the_students_own_quiet_hours_beat_the_servers_which_beat_the_bots(database: Database) -> None:
    await course_with_students(database)  # Alice lives in Paris
    paris_23h = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)

    assert not await quiet_at(database, paris_23h)
    assert await quiet_at(database, paris_23h, default="22:00-07:00")  # the operator's default, on Alice's clock
    async with database.session_scope() as session:
        await tenancy.configure_guild(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, changes={"quiet_hours": "23:30-06:00"}
        )
    assert not await quiet_at(database, paris_23h, default="22:00-07:00")  # the server's hold instead
    async with database.session_scope() as session:
        await reminders.set_quiet_hours(session, user_id=ALICE, given="off")
        quiet = await reminders.quiet_hours_of(session, user_id=ALICE, guild_id=GUILD, default="")
    assert quiet.hours is None and quiet.chosen_by == "you"
    async with database.session_scope() as session:
        await reminders.set_quiet_hours(session, user_id=ALICE, given="default")
        quiet = await reminders.quiet_hours_of(session, user_id=ALICE, guild_id=GUILD, default="")
    assert quiet.hours == QuietHours(time(23, 30), time(6)) and quiet.chosen_by == "server"


async def test_a_paused_student_is_told_once_until_paused_again(database: Database) -> None:
    await course_with_students(database)
    await set_reminder(database, now=MONDAY_9_PARIS - timedelta(hours=1))

    async with database.session_scope() as session:
        for _ in range(delivery.PAUSE_AFTER_FAILURES):
            await delivery.record_delivery(session, user_id=ALICE, guild_id=GUILD, delivered=False)
        assert await delivery.untold_pauses(session) == {(GUILD, ALICE)}
        paused = await delivery.paused_students(session, guild_id=GUILD)
    assert [(student.user_id, student.course_code) for student in paused] == [(ALICE, "TINY")]

    async with database.session_scope() as session:
        told = await delivery.take_pause_notice(session, user_id=ALICE, guild_id=GUILD)
        again = await delivery.take_pause_notice(session, user_id=ALICE, guild_id=GUILD)
        untold = await delivery.untold_pauses(session)
    assert told is not None and "Allow direct messages" in told and again is None and untold == set()
