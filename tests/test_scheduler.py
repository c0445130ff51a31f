"""The reminder jobs of `bot.scheduler` on a real database: when they run, how the sender drains a backlog, and two
bot processes (each with its own engine, its own connections, as two processes have) planning, sending and
telling nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, insert, select

from bot import metrics, scheduler
from bot.clock import FixedClock
from bot.config import Settings
from bot.services import delivery, outbox, quizzes
from bot.services.outbox import Claimed
from db.models import (
    AttemptStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    QuizAttempt,
    ReminderPreference,
    User,
)
from db.session import Database
from tests.conftest import on_postgresql_only
from tests.services.course_fixtures import ALICE, GUILD, enroll, import_course, seed_people, set_reminder, tiny_package

STUDENTS = 60
FIRST_STUDENT = 10_000
# Monday 2026-11-23 09:00 UTC: every student's reminder (all on UTC) is due.
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def second_process(database: Database) -> AsyncIterator[Database]:
    """Another engine on the same database: its own pool and connections, as a second bot process has."""
    other = Database.from_url(database.engine.url)
    yield other
    await other.dispose()


def bot_process(
    database: Database, settings: Settings, sent: list[int], *, send_takes: float = 0.0, **reminder_settings: int
) -> Any:
    """What the scheduled jobs use of a bot: its database, clock, settings and senders. The sender records the
    row it was handed and, `send_takes` seconds later, reports it sent, as `Remind.deliver` does once Discord
    answered. Batches of 7, 3 at a time, unless `reminder_settings` say otherwise."""

    async def deliver(claimed: Claimed) -> None:
        sent.append(claimed.id)
        await asyncio.sleep(send_takes)  # also lets the other process's sends and claims interleave with these
        async with database.session_scope() as session:
            await outbox.mark_sent(session, claimed.id, now=MONDAY_9)

    batches = settings.reminders.model_copy(update={"claim_batch_size": 7, "send_concurrency": 3, **reminder_settings})
    return SimpleNamespace(
        db=database,
        clock=FixedClock(MONDAY_9),
        settings=settings.model_copy(update={"reminders": batches}),
        notification_senders=dict.fromkeys(NotificationKind, deliver),
    )


async def statuses(database: Database) -> list[NotificationStatus]:
    async with database.session_scope() as session:
        return list(await session.scalars(select(Notification.status).order_by(Notification.id)))


async def students_due_at_nine(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    students = range(FIRST_STUDENT, FIRST_STUDENT + STUDENTS)
    async with database.session_scope() as session:
        await session.execute(insert(User), [{"id": user_id, "display_name": f"s{user_id}"} for user_id in students])
        await session.execute(
            insert(ReminderPreference),
            [
                {
                    "guild_id": GUILD,
                    "user_id": user_id,
                    "course_id": 1,
                    "local_time": time(9),
                    "weekdays": 127,
                    "next_fire_at": MONDAY_9,
                    "last_planned_day": date(2026, 11, 22),
                }
                for user_id in students
            ],
        )


def test_the_planner_runs_before_each_minute_and_the_sender_on_it(settings: Settings) -> None:
    bot = SimpleNamespace(scheduler=AsyncIOScheduler(timezone="UTC"), settings=settings)
    scheduler.install_jobs(bot)  # type: ignore[arg-type]
    now = datetime(2026, 11, 23, 8, 59, 17, 250_000, tzinfo=UTC)

    def next_runs(job_id: str) -> list[datetime]:
        trigger, runs = bot.scheduler.get_job(job_id).trigger, [now]
        for _ in range(3):
            runs.append(trigger.get_next_fire_time(None, runs[-1] + timedelta(microseconds=1)))
        return [run.astimezone(UTC).replace(tzinfo=None) for run in runs[1:]]

    assert [f"{run:%H:%M:%S}" for run in next_runs("reminders.plan")] == ["08:59:50", "09:00:50", "09:01:50"]
    assert [f"{run:%H:%M:%S}" for run in next_runs("outbox.send")] == ["08:59:30", "09:00:00", "09:00:30"]


async def test_the_planner_plans_the_minute_ahead_and_the_sender_sends_it_on_the_minute(
    database: Database, settings: Settings
) -> None:
    await students_due_at_nine(database)
    sent: list[int] = []
    bot = bot_process(database, settings, sent)
    bot.clock.set(MONDAY_9 - scheduler.PLAN_BEFORE_THE_MINUTE)

    await scheduler.plan_reminders(bot)
    await scheduler.send_notifications(bot)
    assert sent == [] and await statuses(database) == [NotificationStatus.PENDING] * STUDENTS

    bot.clock.set(MONDAY_9)
    await scheduler.send_notifications(bot)
    assert len(sent) == STUDENTS


async def test_one_run_drains_a_backlog_batch_after_batch(database: Database, settings: Settings) -> None:
    await students_due_at_nine(database)
    sent: list[int] = []
    bot = bot_process(database, settings, sent)

    await scheduler.plan_reminders(bot)
    await scheduler.send_notifications(bot)

    assert len(sent) == len(set(sent)) == STUDENTS  # batches of 7: one run, many claims
    assert await statuses(database) == [NotificationStatus.SENT] * STUDENTS


async def test_a_run_stops_claiming_when_its_time_is_up_and_sends_all_it_claimed(
    database: Database, settings: Settings
) -> None:
    await students_due_at_nine(database)
    sent: list[int] = []
    bot = bot_process(database, settings, sent, send_takes=0.2, send_concurrency=7)
    bot.settings = bot.settings.model_copy(
        update={"scheduler": bot.settings.scheduler.model_copy(update={"send_every_seconds": 1})}
    )

    await scheduler.plan_reminders(bot)
    await scheduler.send_notifications(bot)

    assert 7 <= len(sent) < STUDENTS  # a second of sends at 0.2 s each, 7 at a time: a few batches, not all
    assert await statuses(database) == [NotificationStatus.SENT] * len(sent) + [NotificationStatus.PENDING] * (
        STUDENTS - len(sent)
    )


async def test_two_processes_plan_and_send_every_reminder_once(
    database: Database, second_process: Database, settings: Settings
) -> None:
    on_postgresql_only(database)
    await students_due_at_nine(database)
    sent_by_first: list[int] = []
    sent_by_second: list[int] = []
    first = bot_process(database, settings, sent_by_first)
    second = bot_process(second_process, settings, sent_by_second)

    await asyncio.gather(scheduler.plan_reminders(first), scheduler.plan_reminders(second))
    await asyncio.gather(scheduler.send_notifications(first), scheduler.send_notifications(second))

    assert sent_by_first and sent_by_second  # both processes took part
    assert len(sent_by_first) + len(sent_by_second) == len(set(sent_by_first) | set(sent_by_second)) == STUDENTS
    async with database.session_scope() as session:
        rows = (await session.execute(select(Notification.status, Notification.attempts))).all()
        keys = await session.scalar(select(func.count(func.distinct(Notification.dedupe_key))))
    assert len(rows) == keys == STUDENTS
    assert set(rows) == {(NotificationStatus.SENT, 1)}


async def test_a_pause_is_told_once_whichever_process_the_student_talks_to(
    database: Database, second_process: Database
) -> None:
    await students_due_at_nine(database)
    await enroll(database, ALICE, "TINY")
    await set_reminder(database, ALICE, now=MONDAY_9)
    for _ in range(delivery.PAUSE_AFTER_FAILURES):  # the first process fails to reach her three times
        async with database.session_scope() as session:
            paused = await delivery.record_delivery(session, user_id=ALICE, guild_id=GUILD, delivered=False)
    assert paused

    async with second_process.session_scope() as session:  # the second one started after the pause
        assert await delivery.untold_pauses(session) == {(GUILD, ALICE)}
        told = await delivery.take_pause_notice(session, user_id=ALICE, guild_id=GUILD)
    async with database.session_scope() as session:
        told_again = await delivery.take_pause_notice(session, user_id=ALICE, guild_id=GUILD)
        untold = await delivery.untold_pauses(session)
        failed_again = await delivery.record_delivery(session, user_id=ALICE, guild_id=GUILD, delivered=False)

    assert told == delivery.PAUSED_REASON
    assert told_again is None and untold == set()
    assert not failed_again  # already paused: a later failure neither pauses nor tells again
    async with database.session_scope() as session:
        assert await delivery.untold_pauses(session) == set()


# -- several processes: one leads each run of a job ------------------------------------------------------------


def job_runs(job_id: str, outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("coursebot_job_runs_total", {"job": job_id, "outcome": outcome}) or 0.0


class Process(SimpleNamespace):
    """A `bot_process` the scheduler may keep per-process state about (a hashable, weakly referable key)."""

    __hash__ = object.__hash__


def installed(bot: Any) -> dict[str, Any]:
    """The jobs `install_jobs` registers for `bot`, by id, as the scheduler would call them."""
    bot.scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.install_jobs(bot)
    return {job.id: functools.partial(job.func, *job.args) for job in bot.scheduler.get_jobs()}


async def test_one_process_leads_each_run_of_a_job(database: Database, second_process: Database) -> None:
    async with (
        scheduler.leading(database, "quiz.abandon_stale") as first,
        scheduler.leading(second_process, "quiz.abandon_stale") as meanwhile,
        scheduler.leading(second_process, "tutor.end_idle") as another_job,
    ):
        pass
    async with scheduler.leading(second_process, "quiz.abandon_stale") as afterwards:
        pass

    assert first and another_job and afterwards
    # SQLite is one process: there, whoever asks leads.
    assert meanwhile is (database.backend == "sqlite")


async def test_every_job_runs_under_its_lock_but_those_about_the_process_itself(
    database: Database, second_process: Database, settings: Settings
) -> None:
    on_postgresql_only(database, "SQLite is one process: no lock")
    forgot: list[bool] = []
    bot = Process(**vars(bot_process(database, settings, [])), forget_seen=lambda: forgot.append(True))
    jobs = installed(bot)
    skipped_before = {job_id: job_runs(job_id, "skipped") for job_id in jobs}

    async with contextlib.AsyncExitStack() as other_process_running_them:
        for job_id in jobs:
            assert await other_process_running_them.enter_async_context(scheduler.leading(second_process, job_id))
        for run in jobs.values():
            await run()

    led_elsewhere = {job_id for job_id in jobs if job_runs(job_id, "skipped") == skipped_before[job_id] + 1}
    assert led_elsewhere == set(jobs) - scheduler.EVERY_PROCESS
    assert set(jobs) >= scheduler.EVERY_PROCESS
    assert not forgot  # the process's own job ran, and found nobody erased


async def test_two_processes_running_the_reminder_jobs_together_send_each_once(
    database: Database, second_process: Database, settings: Settings
) -> None:
    on_postgresql_only(database)
    await students_due_at_nine(database)
    sent_by_first: list[int] = []
    sent_by_second: list[int] = []
    first = installed(Process(**vars(bot_process(database, settings, sent_by_first, send_takes=0.01))))
    second = installed(Process(**vars(bot_process(second_process, settings, sent_by_second, send_takes=0.01))))
    led_before = {job_id: job_runs(job_id, "done") for job_id in first}

    for job_id in ("reminders.plan", "nudges.plan", "outbox.send"):
        await asyncio.gather(first[job_id](), second[job_id]())

    assert sorted(sent_by_first + sent_by_second) == sorted(set(sent_by_first + sent_by_second))
    assert len(sent_by_first + sent_by_second) == STUDENTS
    assert await statuses(database) == [NotificationStatus.SENT] * STUDENTS
    assert all(job_runs(job_id, "done") >= led_before[job_id] + 1 for job_id in ("reminders.plan", "outbox.send"))


# A bot process leading the stale-attempt sweep (its job lock, its update), killed before it commits. Plain asyncpg:
# a process importing the bot takes seconds to start.
KILLED_MID_JOB = """
import asyncio, sys, asyncpg

async def main():
    connection = await asyncpg.connect(sys.argv[1])
    assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", int(sys.argv[2]))
    async with connection.transaction():
        await connection.execute("UPDATE quiz_attempts SET status = 'ABANDONED' WHERE status = 'IN_PROGRESS'")
        print("mid-job", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_process_killed_mid_job_leaves_nothing_half_done_and_the_next_run_does_it(
    database: Database, second_process: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    on_postgresql_only(database, "SQLite is one process: no other process to kill")
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    await seed_people(database)
    await import_course(database, tiny_package())
    await enroll(database, ALICE, "TINY")
    async with database.session_scope() as session:
        await quizzes.start(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", quiz_slug="check", now=MONDAY_9)
    swept_at = MONDAY_9 + quizzes.STALE_AFTER + timedelta(minutes=1)
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    lock = str(scheduler.job_lock_key("quiz.abandon_stale"))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_MID_JOB, url, lock, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"mid-job\n"
        survivor = bot_process(second_process, settings, [])
        survivor.clock.set(swept_at)
        sweep = installed(survivor)["quiz.abandon_stale"]
        skipped = job_runs("quiz.abandon_stale", "skipped")
        await sweep()  # the killed process still leads this run
        assert job_runs("quiz.abandon_stale", "skipped") == skipped + 1
    finally:
        child.kill()
        await child.wait()

    # The server ends the dead process's session, and its lock and transaction with it: wait for the lock.
    async with asyncio.timeout(30), second_process.engine.connect() as waiting:
        await waiting.execute(select(func.pg_advisory_lock(int(lock))))
        await waiting.execute(select(func.pg_advisory_unlock(int(lock))))
    done = job_runs("quiz.abandon_stale", "done")
    await sweep()
    assert job_runs("quiz.abandon_stale", "done") == done + 1
    async with database.session_scope() as session:
        assert (await session.scalars(select(QuizAttempt.status))).all() == [AttemptStatus.ABANDONED]
    assert "Abandoned 1 stale quiz attempt(s)" in caplog.text  # the killed process's update was rolled back
