"""Periodic sweeps. Each job is a thin call into a service in its own unit of work; the state lives in our
tables, so a rerun (or a restart mid-run) does the same thing once, not twice."""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from bot.services import nudges, outbox, quizzes, reminders
from bot.services.outbox import Claimed
from bot.tutor import tutor

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)

# A row SENDING for longer than this was claimed by a sender that stopped (a crash between send and report).
INTERRUPTED_AFTER = timedelta(minutes=10)
# A claimed row no sender in this process knows (its cog not loaded): claimed again after this delay, 3 times.
UNKNOWN_KIND_DELAY = timedelta(minutes=5)
# How far back nudge planning looks on a process's first run, or after the clock jumped: a nudge later than
# this is not worth sending.
NUDGE_CATCH_UP = timedelta(hours=2)
# Per bot: the instant nudges were planned up to (the next window starts there).
_nudges_planned_until: weakref.WeakKeyDictionary[CourseBot, datetime] = weakref.WeakKeyDictionary()


async def abandon_stale_quiz_attempts(bot: CourseBot) -> None:
    async with bot.db.session_scope() as session:
        count = await quizzes.abandon_stale_attempts(session, now=bot.clock.now())
    if count:
        log.info("Abandoned %d stale quiz attempt(s)", count)


async def end_idle_tutor_sessions(bot: CourseBot) -> None:
    """End tutor sessions idle for `tutor.inactivity_minutes`; the tutor cog archives their threads."""
    idle_for = timedelta(minutes=bot.settings.tutor.inactivity_minutes)
    ended = await tutor.end_idle_sessions(bot.db, idle_for=idle_for, now=bot.clock.now())
    if ended:
        log.info("Ended %d idle tutor session(s)", len(ended))
        bot.dispatch("tutor_sessions_ended", ended)


async def plan_reminders(bot: CourseBot) -> None:
    """Turn the study reminders whose time has come into outbox rows (once per local day)."""
    async with bot.db.session_scope() as session:
        planned = await reminders.plan_due(session, now=bot.clock.now())
    if planned:
        log.info("Planned %d reminder(s)", planned)


async def plan_nudges(bot: CourseBot) -> None:
    """Plan the streak-at-risk and cohort-deadline nudges that came due since the previous run (a dedupe key per
    nudge, so overlapping windows plan nothing twice). A process's first run looks back `NUDGE_CATCH_UP`."""
    now = bot.clock.now()
    since = max(_nudges_planned_until.get(bot, now - NUDGE_CATCH_UP), now - NUDGE_CATCH_UP)
    if since >= now:
        return
    at = time(bot.settings.reminders.streak_nudge_hour)
    async with bot.db.session_scope() as session:
        planned = await nudges.plan_streak_nudges(session, since=since, now=now, at=at)
        planned += await nudges.plan_deadline_nudges(session, since=since, now=now)
    _nudges_planned_until[bot] = now
    if planned:
        log.info("Planned %d nudge(s)", planned)


async def send_notifications(bot: CourseBot) -> None:
    """Claim the due outbox rows and hand each to the sender registered for its kind, a few at a time.

    Each sender does its own Discord I/O outside any transaction and reports the outcome; one row failing (a
    rate limit, an outage, a bug) never stops the others.
    """
    now = bot.clock.now()
    async with bot.db.session_scope() as session:
        interrupted = await outbox.fail_interrupted(session, now=now, older_than=INTERRUPTED_AFTER)
    if interrupted:
        log.warning("%d notification(s) were interrupted mid-send; marked failed, not sent again", interrupted)
    async with bot.db.session_scope() as session:
        claimed = await outbox.claim_due(session, now=now, limit=bot.settings.reminders.claim_batch_size)
    if not claimed:
        return
    gate = asyncio.Semaphore(bot.settings.reminders.send_concurrency)

    async def send(notification: Claimed) -> None:
        sender = bot.notification_senders.get(notification.kind)
        async with gate:
            try:
                if sender is None:
                    async with bot.db.session_scope() as session:
                        await outbox.retry(
                            session, notification, error=f"no sender for {notification.kind} in this process",
                            now=bot.clock.now(), delay=UNKNOWN_KIND_DELAY,
                        )  # fmt: skip
                    return
                await sender(notification)
            except Exception:
                # The row stays SENDING; `fail_interrupted` marks it failed later without sending it twice.
                log.exception("Sending notification %d (%s) failed", notification.id, notification.kind)

    await asyncio.gather(*(send(notification) for notification in claimed))
    log.info("Handled %d notification(s)", len(claimed))


# What became due when time moved: the console runs these in order after `clock +1d`.
DUE_JOBS = (plan_reminders, plan_nudges, send_notifications)


async def run_due_jobs(bot: CourseBot) -> None:
    for job in DUE_JOBS:
        await job(bot)


def install_jobs(bot: CourseBot) -> None:
    """Register every periodic job on the bot's scheduler (started by `setup_hook`)."""
    bot.scheduler.add_job(
        abandon_stale_quiz_attempts, "interval", minutes=60, args=[bot], id="quiz.abandon_stale",
        replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
    bot.scheduler.add_job(
        end_idle_tutor_sessions, "interval", minutes=bot.settings.scheduler.tutor_inactivity_every_minutes,
        args=[bot], id="tutor.end_idle", replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
    bot.scheduler.add_job(
        plan_reminders, "interval", minutes=bot.settings.scheduler.reminders_every_minutes, args=[bot],
        id="reminders.plan", replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
    bot.scheduler.add_job(
        plan_nudges, "interval", minutes=bot.settings.scheduler.reminders_every_minutes, args=[bot],
        id="nudges.plan", replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
    bot.scheduler.add_job(
        send_notifications, "interval", seconds=bot.settings.scheduler.send_every_seconds, args=[bot],
        id="outbox.send", replace_existing=True, coalesce=True, max_instances=1,
    )  # fmt: skip
