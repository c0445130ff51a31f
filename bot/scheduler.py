"""Periodic sweeps. Each job is a thin call into a service in its own unit of work; the state lives in our
tables, so a rerun (or a restart mid-run) does the same thing once, not twice."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.services import nudges, outbox, privacy, quizzes, reminders
from bot.services.outbox import Claimed
from bot.tutor import sessions

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
# Reminders fall on whole minutes, so the jobs serving them keep to the minute: the planner runs this long before
# each minute (planning its interval ahead), the sender on the minute, so a reminder leaves as its minute starts.
PLAN_BEFORE_THE_MINUTE = timedelta(seconds=10)
ON_THE_MINUTE = datetime(2026, 1, 1, tzinfo=UTC)  # any past whole minute: interval jobs count their runs from it
# Per bot: the instant nudges were planned up to (the next window starts there).
_nudges_planned_until: weakref.WeakKeyDictionary[CourseBot, datetime] = weakref.WeakKeyDictionary()
# Per bot: when the privacy maintenance last ran (erasures finished since then make the bot forget whom it saw).
_privacy_maintained_at: weakref.WeakKeyDictionary[CourseBot, datetime] = weakref.WeakKeyDictionary()


async def abandon_stale_quiz_attempts(bot: CourseBot) -> None:
    async with bot.db.session_scope() as session:
        count = await quizzes.abandon_stale_attempts(session, now=bot.clock.now())
    if count:
        log.info("Abandoned %d stale quiz attempt(s)", count)


async def end_idle_tutor_sessions(bot: CourseBot) -> None:
    """End tutor sessions idle for `tutor.inactivity_minutes`; the tutor cog archives their threads."""
    idle_for = timedelta(minutes=bot.settings.tutor.inactivity_minutes)
    ended = await sessions.end_idle_sessions(bot.db, idle_for=idle_for, now=bot.clock.now())
    if ended:
        log.info("Ended %d idle tutor session(s)", len(ended))
        bot.dispatch("tutor_sessions_ended", ended)


async def plan_reminders(bot: CourseBot) -> None:
    """Turn the study reminders due before the planner's next run into outbox rows (once per local day), each due
    at its own instant, so the sender sends it as its minute starts, not a planner run later."""
    ahead = timedelta(minutes=bot.settings.scheduler.reminders_every_minutes)
    async with bot.db.session_scope() as session:
        planned = await reminders.plan_due(session, now=bot.clock.now() + ahead)
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
    """Send what is due: claim due outbox rows and hand each to the sender registered for its kind,
    `reminders.send_concurrency` at a time, batch after batch while rows are due and this run has time before the
    next one (`scheduler.send_every_seconds`), so a backlog drains run after run and two runs never overlap. After
    the first batch, a batch is what the run can still send at the pace of the previous one.

    Each sender does its own Discord I/O outside any transaction and reports the outcome; one row failing (a
    rate limit, an outage, a bug) never stops the others. A rate limit or an outage puts the row back, due a
    little later (`Remind.deliver`); it is never dropped for it. Every row claimed is handed to its sender, even
    when the run's time is up: the time only decides whether to claim more.
    """
    loop, settings = asyncio.get_running_loop(), bot.settings.reminders
    run_ends = loop.time() + bot.settings.scheduler.send_every_seconds
    async with bot.db.session_scope() as session:
        interrupted = await outbox.fail_interrupted(session, now=bot.clock.now(), older_than=INTERRUPTED_AFTER)
    if interrupted:
        log.warning("%d notification(s) were interrupted mid-send; marked failed, not sent again", interrupted)
    gate = asyncio.Semaphore(settings.send_concurrency)
    limit, handled = settings.claim_batch_size, 0
    while limit > 0:
        batch_started = loop.time()
        async with bot.db.session_scope() as session:
            claimed = await outbox.claim_due(session, now=bot.clock.now(), limit=limit)
        await asyncio.gather(*(_send(bot, notification, gate) for notification in claimed))
        handled += len(claimed)
        if len(claimed) < limit:
            break  # nothing more is due
        per_second = len(claimed) / max(loop.time() - batch_started, 0.001)
        # Keep one round of sends in hand: a batch that ends as the next run starts would make it skip its turn.
        time_left = run_ends - loop.time() - settings.send_concurrency / per_second
        limit = min(settings.claim_batch_size, int(per_second * time_left))
    if handled:
        log.info("Handled %d notification(s)", handled)


async def _send(bot: CourseBot, notification: Claimed, gate: asyncio.Semaphore) -> None:
    sender = bot.notification_senders.get(notification.kind)
    async with gate:
        try:
            if sender is None:
                async with bot.db.session_scope() as session:
                    await outbox.retry(
                        session,
                        notification,
                        error=f"no sender for {notification.kind} in this process",
                        now=bot.clock.now(),
                        delay=UNKNOWN_KIND_DELAY,
                    )
                return
            await sender(notification)
        except Exception:
            # The row stays SENDING; `fail_interrupted` marks it failed later without sending it twice.
            log.exception("Sending notification %d (%s) failed", notification.id, notification.kind)


async def maintain_privacy(bot: CourseBot) -> None:
    """Purge the servers whose grace period ended, finish interrupted erasures and delete what outlived its
    retention (`[privacy]`), a batch per unit of work, one process at a time. After an erasure (here, by a member,
    or by the operator's CLI) the bot forgets whom it saw, so an erased member's next command writes their row."""
    now = bot.clock.now()
    every = timedelta(minutes=bot.settings.scheduler.privacy_every_minutes)
    since = _privacy_maintained_at.get(bot, now - every)
    done = await privacy.maintain(bot.db, settings=bot.settings.privacy, now=now, erased_since=since)
    _privacy_maintained_at[bot] = now
    if done.erased_since or done.purged_guilds:
        bot.forget_seen()
    if done.purged_guilds or done.erasures or done.retention:
        log.info(
            "Privacy: purged %d server(s), finished %d erasure(s), deleted past retention %s",
            len(done.purged_guilds),
            sum(erasure.finished for erasure in done.erasures),
            done.retention or "nothing",
        )


# What became due when time moved: the console runs these in order after `clock +1d`.
DUE_JOBS = (plan_reminders, plan_nudges, send_notifications, maintain_privacy)


async def run_due_jobs(bot: CourseBot) -> None:
    for job in DUE_JOBS:
        await job(bot)


def install_jobs(bot: CourseBot) -> None:
    """Register every periodic job on the bot's scheduler (started by `setup_hook`): one run at a time each, and a
    run missed while the bot was busy or down is made up once, not once per missed interval."""
    every = bot.settings.scheduler
    jobs: list[tuple[str, Callable[[CourseBot], Awaitable[None]], dict[str, Any]]] = [
        ("quiz.abandon_stale", abandon_stale_quiz_attempts, {"minutes": every.quiz_sweep_every_minutes}),
        ("tutor.end_idle", end_idle_tutor_sessions, {"minutes": every.tutor_inactivity_every_minutes}),
        (
            "reminders.plan",
            plan_reminders,
            {"minutes": every.reminders_every_minutes, "start_date": ON_THE_MINUTE - PLAN_BEFORE_THE_MINUTE},
        ),
        ("nudges.plan", plan_nudges, {"minutes": every.reminders_every_minutes}),
        ("outbox.send", send_notifications, {"seconds": every.send_every_seconds, "start_date": ON_THE_MINUTE}),
        ("privacy.maintain", maintain_privacy, {"minutes": every.privacy_every_minutes}),
    ]
    for job_id, job, interval in jobs:
        bot.scheduler.add_job(
            job, "interval", **interval, args=[bot], id=job_id, replace_existing=True, coalesce=True, max_instances=1
        )
