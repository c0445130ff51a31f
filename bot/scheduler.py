"""Periodic sweeps. Each job is a thin call into a service in its own unit of work; the state lives in our
tables, so a rerun (or a restart mid-run) does the same thing once, not twice.

Several bot processes may share one PostgreSQL database (docs/deploy.md): each installs every job, and each run
of a job is led by one of them, the one that takes the job's advisory lock (`leading`); the others skip that
run. The lock belongs to a database connection, so a process that dies mid-job releases it with its connection,
and what it left is what a rerun picks up (every job is written to be rerun).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from bot import metrics
from bot.services import nudges, outbox, privacy, quizzes, reminder_planner
from bot.services.analytics import digest as analytics_digest
from bot.services.analytics import snapshots as analytics_snapshots
from bot.services.outbox import Claimed
from bot.tutor import reembedding, sessions
from db.session import Database

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
# Per bot: the instant reminder routes were prepared up to (the next run prepares the reminders after it).
_routes_prepared_until: weakref.WeakKeyDictionary[CourseBot, datetime] = weakref.WeakKeyDictionary()
# Per bot: when the privacy maintenance last ran (erasures finished since then make the bot forget whom it saw).
_privacy_maintained_at: weakref.WeakKeyDictionary[CourseBot, datetime] = weakref.WeakKeyDictionary()
# How often each process looks for erasures finished by any process (a small read: the recent tombstones).
ERASURES_CHECKED_EVERY = timedelta(minutes=1)
# Per bot: when it last looked for erasures finished by any process.
_erasures_checked_at: weakref.WeakKeyDictionary[CourseBot, datetime] = weakref.WeakKeyDictionary()


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


async def reembed_materials(bot: CourseBot) -> None:
    """After an embedding model change: one bounded batch of the courses' chunks embedded with the new model."""
    progress = await reembedding.reembed_for_settings(bot.db, bot.settings)
    if progress is not None and progress.switched_courses:
        log.info("Course(s) %s now searched with the new embedding model", progress.switched_courses)


async def plan_reminders(bot: CourseBot) -> None:
    """Turn the study reminders due before the planner's next run into outbox rows (once per local day), each due
    at its own instant, so the sender sends it as its minute starts, not a planner run later. A transaction per
    `scheduler.reminders_plan_batch_size` reminders, so a busy minute never holds the event loop or the rows long."""
    every = bot.settings.scheduler
    run = await reminder_planner.plan_due_in_batches(
        bot.db,
        now=bot.clock.now() + timedelta(minutes=every.reminders_every_minutes),
        batch_size=every.reminders_plan_batch_size,
    )
    if run.reminders:
        log.info("Planned %d reminder(s) in %d transaction(s)", run.reminders, run.batches)


@runtime_checkable
class RoutePreparer(Protocol):
    """What the cog that owns reminders' Discord I/O offers (`cogs.remind.Remind`)."""

    async def prepare_routes(self, *, since: datetime, until: datetime) -> int: ...


async def prepare_reminder_routes(bot: CourseBot) -> None:
    """Ahead of the reminders of the next `reminders.prepare_routes_minutes`, open the DM channels and do the
    membership checks their sends would need (`Remind.prepare_routes`), so at their minute each is one request.
    Its own job, not a step of the sender: a run may take a minute or more of Discord's rate (2,000 first
    reminders in one minute are 4,000 requests), and the sender must start on the minute. Each run prepares the
    reminders that came into the window since the previous one (the whole window on a process's first run)."""
    preparer = next((cog for cog in bot.cogs.values() if isinstance(cog, RoutePreparer)), None)
    if preparer is None:
        return
    now = bot.clock.now()
    until = now + timedelta(minutes=bot.settings.reminders.prepare_routes_minutes)
    since = max(_routes_prepared_until.get(bot, now), now)
    if since >= until:
        return
    asked = await preparer.prepare_routes(since=since, until=until)
    _routes_prepared_until[bot] = until
    if asked:
        log.info("Prepared the routes to %d student(s) ahead of their reminders", asked)


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
    interval = bot.settings.scheduler.send_every_seconds
    run_ends = loop.time() + interval
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
        # Keep a round of sends and a tenth of the interval in hand: a batch that ends as the next run starts (a
        # slower batch on a busy machine, the backlog read below) would make that run skip its turn, 30 s lost.
        in_hand = settings.send_concurrency / per_second + interval / 10
        time_left = run_ends - loop.time() - in_hand
        limit = min(settings.claim_batch_size, int(per_second * time_left))
    if handled:
        log.info("Handled %d notification(s)", handled)
    async with bot.db.session_scope() as session:
        metrics.OUTBOX_BACKLOG.set(await outbox.backlog(session, now=bot.clock.now()))


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


async def forget_the_erased(bot: CourseBot) -> None:
    """Run by every process, not one: after an erasure finished in any process (or by the operator's CLI), forget
    whom this process saw, so the erased member's next command here writes their row again."""
    now = bot.clock.now()
    # The first run (one interval after start) looks back to before the start: whom the process saw came after.
    since = _erasures_checked_at.get(bot, now - 2 * ERASURES_CHECKED_EVERY)
    async with bot.db.session_scope() as session:
        tombstones = await privacy.erased_ids(session)
    _erasures_checked_at[bot] = now
    if any(finished is not None and finished >= since for _, _, finished in tombstones):
        bot.forget_seen()


async def snapshot_class_analytics(bot: CourseBot) -> None:
    """Write each course's last complete day of class analytics (once: a course that has it is skipped)."""
    async with bot.db.session_scope() as session:
        written = await analytics_snapshots.snapshot_due(session, now=bot.clock.now())
    if written.courses:
        log.info("Wrote yesterday's class analytics of %d course(s)", written.courses)


async def plan_weekly_digests(bot: CourseBot) -> None:
    """On Mondays from `analytics.digest_hour` in each guild's zone, plan last week's digest to each course's staff
    (once per course, week and recipient); the outbox sender delivers it."""
    async with bot.db.session_scope() as session:
        planned = await analytics_digest.plan_digests(
            session, now=bot.clock.now(), hour=bot.settings.analytics.digest_hour
        )
    if planned:
        log.info("Planned %d weekly digest(s)", planned)


# What became due when time moved: the console runs these in order after `clock +1d`.
DUE_JOBS = (plan_reminders, plan_nudges, snapshot_class_analytics, send_notifications, maintain_privacy)


async def run_due_jobs(bot: CourseBot) -> None:
    for job in DUE_JOBS:
        await job(bot)


# Jobs about this process's own memory: every process runs them.
EVERY_PROCESS = frozenset({"privacy.forget_erased"})


def job_lock_key(job_id: str) -> int:
    """The advisory lock of `job_id`: a stable signed 64-bit number (PostgreSQL's `bigint` lock space)."""
    digest = hashlib.blake2b(f"coursebot.job:{job_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@asynccontextmanager
async def leading(database: Database, job_id: str) -> AsyncIterator[bool]:
    """Whether this process leads this run of `job_id`: True while it holds the job's lock, False when another
    process holds it (that process is running the job now). On SQLite, always True: one process uses it.

    The lock is PostgreSQL's session advisory lock, taken without waiting on a connection kept for the run (in
    autocommit: no transaction, no snapshot held across the job): the server releases it when the connection
    ends, so a process killed mid-job never leaves it held.
    """
    if database.backend != "postgresql":
        yield True
        return
    key = job_lock_key(job_id)
    async with database.engine.connect() as connection:
        locking = await connection.execution_options(isolation_level="AUTOCOMMIT")
        leader = bool(await locking.scalar(select(func.pg_try_advisory_lock(key))))
        if not leader:
            yield False
            return
        try:
            yield True
        finally:
            try:
                await locking.scalar(select(func.pg_advisory_unlock(key)))
            except DBAPIError:
                # The connection broke, and the lock went with it; the pool must not reuse it.
                await connection.invalidate()
                log.warning("Lost the database connection holding the lock of job %s", job_id)


def run_once_across_processes(
    job_id: str, job: Callable[[CourseBot], Awaitable[None]]
) -> Callable[[CourseBot], Awaitable[None]]:
    """`job`, run only by the process that leads this run (`leading`), timed and counted in `bot.metrics`."""

    async def run(bot: CourseBot) -> None:
        async with leading(bot.db, job_id) as leader:
            if not leader:
                metrics.JOB_RUNS.labels(job_id, "skipped").inc()
                return
            started = asyncio.get_running_loop().time()
            try:
                await job(bot)
            except Exception:
                metrics.JOB_RUNS.labels(job_id, "failed").inc()
                raise
            finally:
                metrics.JOB_SECONDS.labels(job_id).observe(asyncio.get_running_loop().time() - started)
            metrics.JOB_RUNS.labels(job_id, "done").inc()

    run.__name__ = run.__qualname__ = job.__name__
    return run


def _observe_lag(event: JobSubmissionEvent) -> None:
    if event.scheduled_run_times:
        late = datetime.now(UTC) - min(event.scheduled_run_times)
        metrics.JOB_LAG.labels(event.job_id).observe(max(late.total_seconds(), 0.0))


def install_jobs(bot: CourseBot) -> None:
    """Register every periodic job on the bot's scheduler (started by `setup_hook`): one run at a time each, and a
    run missed while the bot was busy or down is made up once, not once per missed interval. With several
    processes on one database, each run is done by one of them (`run_once_across_processes`)."""
    every = bot.settings.scheduler
    jobs: list[tuple[str, Callable[[CourseBot], Awaitable[None]], dict[str, Any]]] = [
        ("quiz.abandon_stale", abandon_stale_quiz_attempts, {"minutes": every.quiz_sweep_every_minutes}),
        ("tutor.end_idle", end_idle_tutor_sessions, {"minutes": every.tutor_inactivity_every_minutes}),
        ("tutor.reembed", reembed_materials, {"minutes": bot.settings.tutor.reembed_every_minutes}),
        (
            "reminders.plan",
            plan_reminders,
            {"minutes": every.reminders_every_minutes, "start_date": ON_THE_MINUTE - PLAN_BEFORE_THE_MINUTE},
        ),
        ("nudges.plan", plan_nudges, {"minutes": every.reminders_every_minutes}),
        ("reminders.prepare_routes", prepare_reminder_routes, {"seconds": every.send_every_seconds}),
        ("outbox.send", send_notifications, {"seconds": every.send_every_seconds, "start_date": ON_THE_MINUTE}),
        ("privacy.maintain", maintain_privacy, {"minutes": every.privacy_every_minutes}),
        ("privacy.forget_erased", forget_the_erased, {"seconds": ERASURES_CHECKED_EVERY.total_seconds()}),
        ("analytics.snapshot", snapshot_class_analytics, {"minutes": bot.settings.analytics.every_minutes}),
        ("analytics.digest", plan_weekly_digests, {"minutes": bot.settings.analytics.every_minutes}),
    ]
    for job_id, job, interval in jobs:
        bot.scheduler.add_job(
            job if job_id in EVERY_PROCESS else run_once_across_processes(job_id, job),
            "interval",
            **interval,
            args=[bot],
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
    bot.scheduler.add_listener(_observe_lag, EVENT_JOB_SUBMITTED)
