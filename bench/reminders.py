"""Study reminders at scale: 100k students' reminder preferences over 50 time zones, ~2,000 due each minute.

Figures, on each backend, each beside its floor measured in the same run (a primary-key read in its own unit of
work, and the same row work in bare SQL: lock the rows, insert their outbox rows from them, move their instants):

- the planner. It plans a minute's ~2,000 due reminders in transactions of `[scheduler] reminders_plan_batch_size`
  (`reminder_planner.plan_due_in_batches`: one `plan_batch` per unit of work until a batch comes back short), so a
  "tick" here is one planner transaction: its p50/p99 (the transaction included) against the bare-SQL row work of
  one batch. And the whole minute, so nothing hides between transactions: its wall time (all batches) against the
  bare-SQL row work of the minute in one transaction, the longest CPU of one transaction in this process (on
  SQLite it includes the database engine, which runs in-process), and the longest stall of the event loop while
  the minute is planned, against the same ticker on an idle loop; SQL statements per planned reminder (an
  executemany counts as one statement, as the driver sends it);
- the outbox path without Discord (database side only: `claim_due` 200 at a time, then `mark_sent` per row in its
  own unit of work, 5 at a time, as the bot's sender does after each send): statements per sent reminder and
  sends per second;
- duplicates: two senders draining at once, and a sender that "crashes" after claiming (never reports), followed
  by `fail_interrupted` and a second sender: rows claimed twice must be 0;
- lateness without Discord: the planner runs at the minute and senders drain (the simulated clock moves with real
  time); the latest claim, and the latest reported send, after its due instant;
- the bot itself with Discord (`discord_minute`): the real jobs (`bot.scheduler`, on their schedule: routes
  prepared ahead, planner, sender) and the real delivery (`Remind.deliver`) against the offline Discord
  (`sandbox`), every request held to Discord's global limit of 50 requests per second: how late the last of the
  minute's ~2,000 reminders is, Discord requests made ahead and at the minute, and reminders sent twice;
- the streak-at-risk planner (`nudges.plan_streak_nudges`) at the minute one offset's zones reach 20:00.

Minutes don't need resetting: each minute's ~2,000 preferences are due in their own minute (T0 + k minutes), so the
planner at T0 + k plans exactly those, as the bot's minute-by-minute planner would. The machine these run on is
shared: absolute times move between runs, the ratios to their floors much less.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, cast, func, insert, literal, select, text, update

from bench._harness import Figure, StatementCounter, fresh_database, percentile
from bench.loop import max_lag_during
from bot import scheduler
from bot.app import CourseBot
from bot.clock import local_date, next_local_occurrence
from bot.config import load_settings
from bot.services import nudges, outbox, reminder_planner, reminders
from bot.services.outbox import Claimed
from db.base import UTCDateTime
from db.models import (
    Course,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    Guild,
    Notification,
    NotificationStatus,
    ReminderPreference,
    Streak,
    User,
)
from db.session import Database
from sandbox import DiscordSandbox, payloads
from sandbox.harness import DEFAULT_GUILD_ID
from sandbox.http import FakeDiscordHTTP

BENCH = "reminders"
GUILD = DEFAULT_GUILD_ID  # the offline Discord's server, so the bot's deliveries find their members there
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
COURSES = 10
# Fifty zones around the world, half- and quarter-hour offsets and both hemispheres' DST among them.
ZONE_NAMES = """
UTC Europe/London Europe/Lisbon Europe/Paris Europe/Berlin Europe/Madrid Europe/Warsaw Europe/Athens
Europe/Kyiv Europe/Istanbul Europe/Moscow Africa/Cairo Africa/Lagos Africa/Nairobi Africa/Johannesburg
Asia/Dubai Asia/Tehran Asia/Karachi Asia/Kolkata Asia/Kathmandu Asia/Dhaka Asia/Bangkok Asia/Jakarta
Asia/Singapore Asia/Shanghai Asia/Manila Asia/Seoul Asia/Tokyo Australia/Perth Australia/Adelaide
Australia/Sydney Australia/Brisbane Pacific/Auckland Pacific/Honolulu America/Anchorage America/Los_Angeles
America/Vancouver America/Denver America/Phoenix America/Chicago America/Mexico_City America/New_York
America/Toronto America/Bogota America/Lima America/Caracas America/Santiago America/Sao_Paulo
America/Argentina/Buenos_Aires Atlantic/Azores
"""
ZONES = tuple(ZONE_NAMES.split())
# Monday 2026-11-23 06:00 UTC; tick k is the minute T0 + k.
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
TIMED_TICKS = 20  # planner latency; their rows then feed the sender figures
LIVE_TICKS = 3  # planner each minute with senders draining, database only
DISCORD_TICKS = 2  # the bot's own jobs, delivering to the offline Discord: first reminders, then returning students
# As config.toml ships them: [reminders] claim_batch_size, send_concurrency.
CLAIM_BATCH = 200
SEND_CONCURRENCY = 5
DISCORD_REQUESTS_PER_SECOND = 50  # Discord's global limit per bot
FLOOR_READS = 2000  # at full scale
IDLE_SECONDS = 0.5  # the event loop's own stall floor: the ticker on an idle loop
# `python -m bench all`: 100 due a minute among 5,000 preferences (batches of 12): both backends in about a minute.
ALL_SCALE = 0.05
STREAK_AT = wall_time(20, 0)
WEEKDAY_MASKS = (127, 127, 127, 31, 0b1010101)  # most every day; some weekdays; some mon/wed/fri/sun


@dataclass(frozen=True, slots=True)
class Sizes:
    students: int
    due_per_tick: int
    plan_batch: int  # the planner's transaction size: as configured, smaller below full scale (as many per minute)
    floor_reads: int

    @classmethod
    def scaled(cls, scale: float, plan_batch: int) -> Sizes:
        return cls(
            students=max(2000, int(100_000 * scale)),
            due_per_tick=max(50, int(2000 * scale)),
            plan_batch=max(1, min(plan_batch, round(plan_batch * scale))),
            floor_reads=max(200, int(FLOOR_READS * min(scale, 1))),
        )

    @property
    def ticks(self) -> int:
        return TIMED_TICKS + LIVE_TICKS + DISCORD_TICKS

    def due_in(self, tick: int) -> range:
        """The students whose reminder is due in the minute of `tick`."""
        return range(tick * self.due_per_tick + 1, (tick + 1) * self.due_per_tick + 1)


def tick_at(k: int) -> datetime:
    return T0 + k * MINUTE


def preference_rows(sizes: Sizes) -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    """(users, preferences, streaks). User u lives in ZONES[u % 50]; the first `ticks * due_per_tick` students are
    due in their tick's minute (their local time is that minute's wall clock), the rest at a random local time
    whose next occurrence comes after the last tick. A third of the students hold a streak of 3+ days."""
    rng = random.Random(13)
    users, preferences, streak_rows = [], [], []
    end = tick_at(sizes.ticks)
    for user_id in range(1, sizes.students + 1):
        zone = ZONES[user_id % len(ZONES)]
        weekdays = rng.choice(WEEKDAY_MASKS)
        tick = (user_id - 1) // sizes.due_per_tick
        if tick < sizes.ticks:
            fire_at = tick_at(tick)
            local = fire_at.astimezone(ZoneInfo(zone))
            at = local.time().replace(second=0, microsecond=0)
            weekdays |= 1 << local.weekday()  # due today, whatever else was chosen
            last_planned = local.date() - timedelta(days=1)
        else:
            at = wall_time(rng.randrange(24), rng.randrange(60))
            day, fire_at = next_local_occurrence(end, at=at, weekdays=reminders.from_bitmask(weekdays), time_zone=zone)
            last_planned = day - timedelta(days=1)
        users.append(
            {"id": user_id, "display_name": f"s{user_id}", "locale": "en-US", "time_zone": zone, "preferences": {}}
        )
        preferences.append(
            {
                "guild_id": GUILD,
                "user_id": user_id,
                "course_id": 1 + user_id % COURSES,
                "local_time": at,
                "weekdays": weekdays,
                "next_fire_at": fire_at,
                "last_planned_day": last_planned,
            }
        )
        if user_id % 3 == 0:
            yesterday = local_date(tick_at(0), zone) - timedelta(days=1)
            streak_rows.append(
                {
                    "user_id": user_id,
                    "current": 3 + user_id % 20,
                    "longest": 30,
                    "last_activity_date": yesterday,
                    "total_active_days": 30,
                    "freezes_available": 0,
                }
            )
    return users, preferences, streak_rows


async def fill(database: Database, sizes: Sizes) -> None:
    users, preferences, streak_rows = preference_rows(sizes)
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="Bench"))
        await session.flush()
        session.add_all(
            Course(guild_id=GUILD, code=f"C{n}", title=f"Course {n}", is_published=True) for n in range(1, COURSES + 1)
        )
        session.add_all(CourseOffering(course_id=n, term_name="Open") for n in range(1, COURSES + 1))
    # Only the students the bot delivers to need an enrollment (a reminder of a course left is skipped).
    enrollments = [
        {"user_id": user_id, "offering_id": 1 + user_id % COURSES, "status": EnrollmentStatus.ACTIVE}
        for tick in range(TIMED_TICKS + LIVE_TICKS, sizes.ticks)
        for user_id in sizes.due_in(tick)
    ]
    for table, rows in (
        (User, users),
        (ReminderPreference, preferences),
        (Streak, streak_rows),
        (CourseEnrollment, enrollments),
    ):
        for start in range(0, len(rows), 10_000):
            async with database.session_scope() as session:
                await session.execute(insert(table), rows[start : start + 10_000])
    if database.backend == "postgresql":
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE")
    else:
        async with database.session_scope() as session:
            await session.execute(text("ANALYZE"))


async def floor_figures(database: Database, backend: str, sizes: Sizes) -> AsyncIterator[Figure]:
    """A primary-key read in its own unit of work: the least any planner transaction can cost."""
    ids = random.Random(5).choices(range(1, sizes.students + 1), k=sizes.floor_reads)
    latencies = []
    for user_id in ids:
        started = time.perf_counter()
        async with database.session_scope() as session:
            await session.scalar(select(User.time_zone).where(User.id == user_id))
        latencies.append(time.perf_counter() - started)
    yield Figure(BENCH, backend, "floor_pk_read_p50", ms(percentile(latencies, 50)), "ms")
    yield Figure(BENCH, backend, "floor_pk_read_p99", ms(percentile(latencies, 99)), "ms")

    # The database's own row work, with no Python in between: lock the rows, insert their outbox rows from them,
    # move their instants, in plain SQL; rolled back, so every minute still has its rows. For one planner batch
    # (the minute's first `plan_batch` rows) and for the whole minute in one transaction.
    for name, limit in (("floor_batch_row_work", sizes.plan_batch), ("floor_minute_row_work", sizes.due_per_tick)):
        latencies = []
        for k in range(TIMED_TICKS):
            values = {"at": tick_at(k), "later": tick_at(k) + timedelta(days=1), "day": T0.date(), "limit": limit}
            started = time.perf_counter()
            async with database.sessions() as session, session.begin() as transaction:
                for statement in ROW_WORK:
                    await session.execute(statement, values)
                await transaction.rollback()
            latencies.append(time.perf_counter() - started)
        yield Figure(BENCH, backend, f"{name}_p50", ms(percentile(latencies, 50)), "ms")
        yield Figure(BENCH, backend, f"{name}_p99", ms(percentile(latencies, 99)), "ms")
    yield Figure(BENCH, backend, "floor_idle_loop_max_lag", ms(await max_lag_during(asyncio.sleep(IDLE_SECONDS))), "ms")


_AT = bindparam("at", type_=UTCDateTime())
# The first `limit` of the minute's rows, the same rows in each statement.
_ROWS = (
    select(ReminderPreference.id)
    .where(ReminderPreference.next_fire_at == _AT)
    .order_by(ReminderPreference.id)
    .limit(bindparam("limit"))
)
ROW_WORK = [
    _ROWS.with_for_update(skip_locked=True),
    insert(Notification.__table__).from_select(
        ["dedupe_key", "kind", "status", "guild_id", "user_id", "course_id", "payload", "due_at", "attempts"],
        select(
            literal("floor:") + cast(ReminderPreference.id, String),
            literal("REMINDER"),
            literal("PENDING"),
            ReminderPreference.guild_id,
            ReminderPreference.user_id,
            ReminderPreference.course_id,
            literal({"day": "2026-11-23"}, type_=Notification.payload.type),
            ReminderPreference.next_fire_at,
            literal(0),
        ).where(ReminderPreference.id.in_(_ROWS.scalar_subquery())),
    ),
    update(ReminderPreference)
    .where(ReminderPreference.id.in_(_ROWS.scalar_subquery()))
    .values(next_fire_at=bindparam("later"), last_planned_day=bindparam("day"), updated_at=func.now())
    .execution_options(synchronize_session=False),
]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def plan_minute(
    database: Database, now: datetime, batch_size: int, transactions: list[float], cpu: list[float]
) -> int:
    """`reminder_planner.plan_due_in_batches`, its loop written out to time each transaction (wall, and CPU of
    this process); returns the reminders planned."""
    planned = 0
    while True:
        started, cpu_started = time.perf_counter(), time.process_time()
        async with database.session_scope() as session:
            batch = await reminder_planner.plan_batch(session, now=now, limit=batch_size)
        transactions.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        planned += batch.reminders
        if batch.preferences < batch_size:
            return planned


async def planner_figures(
    database: Database, backend: str, sizes: Sizes, floor: dict[str, float]
) -> AsyncIterator[Figure]:
    transactions: list[float] = []
    cpu: list[float] = []
    minutes, stalls, planned = [], [], []
    with StatementCounter(database) as counter:
        for k in range(TIMED_TICKS):
            started = time.perf_counter()
            minute = asyncio.ensure_future(plan_minute(database, tick_at(k), sizes.plan_batch, transactions, cpu))
            stalls.append(await max_lag_during(minute))
            minutes.append(time.perf_counter() - started)
            planned.append(minute.result())
    yield Figure(BENCH, backend, "preferences", sizes.students, "rows")
    yield Figure(BENCH, backend, "planned_per_minute_min", min(planned), "reminders")
    yield Figure(BENCH, backend, "planner_batch_size", sizes.plan_batch, "reminders")
    yield Figure(BENCH, backend, "planner_transactions_per_minute", round(len(transactions) / TIMED_TICKS, 1), "txns")
    for q in (50, 99):
        value = ms(percentile(transactions, q))
        yield Figure(
            BENCH, backend, f"planner_transaction_p{q}", value, "ms", floor=floor[f"floor_batch_row_work_p{q}"]
        )
    p99 = ms(percentile(transactions, 99))
    yield Figure(
        BENCH, backend, "planner_transaction_p99_over_pk_read_p99", round(p99 / floor["floor_pk_read_p99"], 1), "x"
    )
    for q in (50, 99):
        value = ms(percentile(minutes, q))
        yield Figure(
            BENCH, backend, f"planner_minute_wall_p{q}", value, "ms", floor=floor[f"floor_minute_row_work_p{q}"]
        )
    # CPU of this process only: the planner's Python (and, on SQLite, the database engine, which runs in-process).
    yield Figure(BENCH, backend, "planner_transaction_process_cpu_p50", ms(percentile(cpu, 50)), "ms")
    yield Figure(BENCH, backend, "planner_transaction_process_cpu_max", ms(max(cpu)), "ms")
    idle = floor["floor_idle_loop_max_lag"]
    yield Figure(BENCH, backend, "planner_minute_loop_stall_max", ms(max(stalls)), "ms", floor=idle)
    yield Figure(
        BENCH, backend, "planner_statements_per_transaction", round(counter.count / len(transactions), 2), "statements"
    )
    per_reminder = counter.count / sum(planned)
    yield Figure(BENCH, backend, "planner_statements_per_planned_reminder", round(per_reminder, 4), "statements")


Send = Callable[[Claimed], Awaitable[None]]


async def sender(
    database: Database, *, clock: Callable[[], datetime], send: Send | None = None, runs: int | None = None
) -> list[int]:
    """What the bot's sender does, without Discord: claim a batch, then (send and) mark each row in its own unit
    of work, `SEND_CONCURRENCY` at a time. Runs until nothing is due (or `runs` batches); returns the claimed ids."""
    claimed_ids: list[int] = []
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def deliver(claimed: Claimed) -> None:
        async with gate:
            if send is not None:
                await send(claimed)
            async with database.session_scope() as session:
                await outbox.mark_sent(session, claimed.id, now=clock())

    for _ in itertools.count() if runs is None else range(runs):
        async with database.session_scope() as session:
            batch = await outbox.claim_due(session, now=clock(), limit=CLAIM_BATCH)
        if not batch:
            break
        claimed_ids.extend(claimed.id for claimed in batch)
        await asyncio.gather(*(deliver(claimed) for claimed in batch))
    return claimed_ids


async def sender_figures(database: Database, backend: str) -> AsyncIterator[Figure]:
    """The rows of the first timed ticks: two minutes' worth by one sender, two by two senders at once, two with
    a crash. The rest are set aside (SKIPPED, untimed) so the lateness figures start from an empty queue."""
    with StatementCounter(database) as counter:
        started = time.perf_counter()
        sent = await sender(database, clock=lambda: tick_at(1))
        elapsed = time.perf_counter() - started
    yield Figure(BENCH, backend, "sender_statements_per_sent", round(counter.count / len(sent), 3), "statements")
    yield Figure(BENCH, backend, "sends_per_second_one_sender_db_only", round(len(sent) / elapsed, 1), "sends/s")

    started = time.perf_counter()
    first, second = await asyncio.gather(
        sender(database, clock=lambda: tick_at(3)), sender(database, clock=lambda: tick_at(3))
    )
    elapsed = time.perf_counter() - started
    yield Figure(
        BENCH,
        backend,
        "sends_per_second_two_senders_db_only",
        round((len(first) + len(second)) / elapsed, 1),
        "sends/s",
    )
    yield Figure(BENCH, backend, "two_senders_claimed_by_both", len(set(first) & set(second)), "rows")

    # A sender claims a batch and dies before reporting any of it; later the sweep marks those FAILED and
    # another sender drains the rest. Nothing may be claimed twice (at most once).
    async with database.session_scope() as session:
        crashed = [claimed.id for claimed in await outbox.claim_due(session, now=tick_at(5), limit=CLAIM_BATCH)]
    later = tick_at(5) + 10 * MINUTE
    async with database.session_scope() as session:
        failed = await outbox.fail_interrupted(session, now=later, older_than=5 * MINUTE)
    after = await sender(database, clock=lambda: tick_at(5))
    yield Figure(BENCH, backend, "crash_claimed_then_failed", failed, "rows")
    yield Figure(BENCH, backend, "crash_claimed_again", len(set(crashed) & set(after)), "rows")
    async with database.session_scope() as session:
        twice = await session.scalar(select(func.count()).where(Notification.attempts > 1))
        sent_count = await session.scalar(select(func.count()).where(Notification.status == NotificationStatus.SENT))
        await session.execute(
            update(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .values(status=NotificationStatus.SKIPPED, last_error="set aside by the benchmark")
        )
    yield Figure(BENCH, backend, "rows_claimed_more_than_once", twice or 0, "rows")
    yield Figure(BENCH, backend, "rows_sent", sent_count or 0, "rows")


async def live_minutes(
    database: Database, ticks: range, *, senders: int, batch_size: int, send: Send | None = None
) -> tuple[float, float]:
    """Each tick: the planner at the minute, then `senders` senders drain while the simulated clock moves with
    real time. Returns the latest (claim, report of the send) after its due instant, in seconds."""
    for k in ticks:
        started = time.perf_counter()

        def clock(k: int = k, started: float = started) -> datetime:
            return tick_at(k) + timedelta(seconds=time.perf_counter() - started)

        await reminder_planner.plan_due_in_batches(database, now=clock(), batch_size=batch_size)
        await asyncio.gather(*(sender(database, clock=clock, send=send) for _ in range(senders)))
    async with database.session_scope() as session:
        rows = (
            await session.execute(
                select(Notification.due_at, Notification.claimed_at, Notification.sent_at).where(
                    Notification.due_at >= tick_at(ticks.start), Notification.due_at < tick_at(ticks.stop)
                )
            )
        ).all()
    claimed = max((claimed_at - due_at).total_seconds() for due_at, claimed_at, _ in rows)
    sent = max((sent_at - due_at).total_seconds() for due_at, _, sent_at in rows)
    return claimed, sent


async def lateness_figures(database: Database, backend: str, sizes: Sizes) -> AsyncIterator[Figure]:
    senders = 2 if backend == "postgres" else 1
    live = range(TIMED_TICKS, TIMED_TICKS + LIVE_TICKS)
    claimed, sent = await live_minutes(database, live, senders=senders, batch_size=sizes.plan_batch)
    yield Figure(BENCH, backend, "max_lateness_claimed_db_only", round(claimed, 3), "s")
    yield Figure(BENCH, backend, "max_lateness_sent_db_only", round(sent, 3), "s")


class WallClock:
    """The bot's clock in `discord_minute`: an instant set by the benchmark, then moving with the wall clock."""

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def set(self, start: datetime) -> None:
        self._start, self._started = start, time.perf_counter()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.perf_counter() - self._started)


def hold_to_global_limit(http: FakeDiscordHTTP, per_second: int) -> None:
    """Every request to the offline Discord waits for its turn under a global limit of `per_second`, as
    discord.py waits out Discord's 429s; the offline Discord answers at once otherwise."""
    handle, interval, next_turn = http.handle, 1 / per_second, 0.0

    async def in_turn(*args: object, **kwargs: object) -> object:
        nonlocal next_turn
        loop = asyncio.get_running_loop()
        turn = max(loop.time(), next_turn)
        next_turn = turn + interval
        await asyncio.sleep(turn - loop.time())
        return await handle(*args, **kwargs)

    http.handle = in_turn  # type: ignore[method-assign]


async def discord_minute(database: Database, backend: str, sizes: Sizes, *, returning: bool) -> AsyncIterator[Figure]:
    """The bot at the minute `k`, as `bot.scheduler.install_jobs` schedules its jobs (`prepare_routes_minutes`
    before the minute the routes prepared ahead: that job's first run covers the whole minute, its later runs only
    later minutes; PLAN_BEFORE_THE_MINUTE before it the planner; on the minute and every `send_every_seconds`
    after it the sender, a run still going when the next is due making that one skip, as APScheduler's
    max_instances=1 does), each reminder delivered by `Remind.deliver` to the offline Discord, held to Discord's
    global limit. Real time throughout, but for the idle waits before the planner and the minute.

    First reminders: no student's DM channel is known yet, nor whether they are still in the server (two requests
    each ahead, one at the minute). `returning`: the usual day, each student's DM channel stored and their
    membership confirmed 1 to 7 days ago, so the seventh whose check is due cost one request more, ahead."""
    k = TIMED_TICKS + LIVE_TICKS + int(returning)
    prefix = "discord_returning" if returning else "discord_first"
    configured = load_settings(CONFIG)
    settings = configured.model_copy(
        update={"scheduler": configured.scheduler.model_copy(update={"reminders_plan_batch_size": sizes.plan_batch})}
    )
    clock = WallClock(tick_at(k))
    bot = CourseBot(settings, database=database, clock=clock)
    sandbox = DiscordSandbox(bot, timeout=60.0)
    await sandbox.start()
    try:
        for user_id in sizes.due_in(k):
            sandbox.http.add_member(GUILD, payloads.member(payloads.user(f"s{user_id}", id=user_id)))
        if returning:
            await known_routes(database, sandbox, sizes.due_in(k), now=tick_at(k))
        hold_to_global_limit(sandbox.http, DISCORD_REQUESTS_PER_SECOND)
        calls_before = len(sandbox.http.calls)
        clock.set(tick_at(k) - timedelta(minutes=settings.reminders.prepare_routes_minutes))
        preparing = time.perf_counter()
        await scheduler.prepare_reminder_routes(bot)
        ahead, prepared_in = len(sandbox.http.calls) - calls_before, time.perf_counter() - preparing
        if clock.now() < tick_at(k) - scheduler.PLAN_BEFORE_THE_MINUTE:
            clock.set(tick_at(k) - scheduler.PLAN_BEFORE_THE_MINUTE)
        await scheduler.plan_reminders(bot)
        if clock.now() < tick_at(k):
            clock.set(tick_at(k))  # nothing runs until the minute: its idle seconds are skipped, not waited
        every, run_at = timedelta(seconds=settings.scheduler.send_every_seconds), tick_at(k)
        while await due_rows(database, k):
            await asyncio.sleep(max(0.0, (run_at - clock.now()).total_seconds()))
            await scheduler.send_notifications(bot)
            while run_at <= clock.now():
                run_at += every
        calls = sandbox.http.calls[calls_before + ahead :]
        sandbox.assert_no_errors()
    finally:
        await sandbox.close()
    async with database.session_scope() as session:
        rows = (
            await session.execute(
                select(Notification.due_at, Notification.sent_at, Notification.attempts).where(
                    Notification.due_at >= tick_at(k), Notification.due_at < tick_at(k + 1)
                )
            )
        ).all()
    late = [(sent_at - due_at).total_seconds() for due_at, sent_at, _ in rows if sent_at is not None]
    messages = [call.path for call in calls if call.method == "POST" and call.path.endswith("/messages")]
    # The floor: the time Discord's limit alone takes to let this minute's own requests through.
    floor = len(calls) / DISCORD_REQUESTS_PER_SECOND
    per_second = f"at_{DISCORD_REQUESTS_PER_SECOND}_requests_per_s"
    yield Figure(BENCH, backend, f"{prefix}_reminders_due", len(rows), "reminders")
    yield Figure(BENCH, backend, f"{prefix}_reminders_sent", len(late), "reminders")
    per_reminder = round((ahead + len(calls)) / max(len(late), 1), 2)
    yield Figure(BENCH, backend, f"{prefix}_requests_per_reminder", per_reminder, "requests")
    yield Figure(BENCH, backend, f"{prefix}_requests_ahead", ahead, "requests")
    ahead_floor = round(ahead / DISCORD_REQUESTS_PER_SECOND, 1)
    yield Figure(BENCH, backend, f"{prefix}_prepared_ahead_seconds", round(prepared_in, 1), "s", ahead_floor or None)
    at_the_minute = round(len(calls) / max(len(late), 1), 2)
    yield Figure(BENCH, backend, f"{prefix}_requests_at_the_minute_per_reminder", at_the_minute, "requests")
    yield Figure(BENCH, backend, f"{prefix}_sent_lateness_p50_{per_second}", round(percentile(late, 50), 1), "s")
    yield Figure(BENCH, backend, f"{prefix}_sent_lateness_max_{per_second}", round(max(late), 1), "s")
    yield Figure(BENCH, backend, f"{prefix}_rate_limit_floor_{per_second}", round(floor, 1), "s")
    yield Figure(BENCH, backend, f"{prefix}_sent_lateness_max_over_floor", round(max(late) / floor, 2), "x")
    yield Figure(BENCH, backend, f"{prefix}_reminders_sent_twice", len(messages) - len(set(messages)), "reminders")
    yield Figure(BENCH, backend, f"{prefix}_rows_claimed_more_than_once", sum(a > 1 for *_, a in rows), "rows")


async def known_routes(database: Database, sandbox: DiscordSandbox, students: range, *, now: datetime) -> None:
    """Each student's DM channel opened on an earlier day, and their membership confirmed 1 to 7 days ago."""
    users, preferences = User.__table__, ReminderPreference.__table__  # plain executemany, no ORM bulk rules
    async with database.session_scope() as session:
        await session.execute(
            update(users).where(users.c.id == bindparam("uid")).values(dm_channel_id=bindparam("channel")),
            [{"uid": u, "channel": int(sandbox.http.open_dm_channel(u)["id"])} for u in students],
        )
        await session.execute(
            update(preferences)
            .where(preferences.c.user_id == bindparam("uid"))
            .values(member_seen_at=bindparam("seen")),
            [{"uid": u, "seen": now - timedelta(days=u % 7 + 1)} for u in students],
        )


async def due_rows(database: Database, k: int) -> int:
    """Outbox rows of minute `k` not sent, skipped or failed yet."""
    async with database.session_scope() as session:
        return (
            await session.scalar(
                select(func.count()).where(
                    Notification.due_at >= tick_at(k),
                    Notification.due_at < tick_at(k + 1),
                    Notification.status.in_([NotificationStatus.PENDING, NotificationStatus.SENDING]),
                )
            )
            or 0
        )


async def streak_figures(database: Database, backend: str, floor_p99: float) -> AsyncIterator[Figure]:
    """The streak planner at minutes when one offset's zones reach 20:00 (a fresh minute each tick)."""
    latencies, planned = [], []
    with StatementCounter(database) as counter:
        for hours in range(6):  # 06:00 UTC is 20:00 at UTC+14, 07:00 at UTC+13 (Auckland in November), ...
            now = T0 + timedelta(hours=hours)
            started = time.perf_counter()
            async with database.session_scope() as session:
                planned.append(await nudges.plan_streak_nudges(session, since=now - MINUTE, now=now, at=STREAK_AT))
            latencies.append(time.perf_counter() - started)
    p99 = ms(percentile(latencies, 99))
    yield Figure(BENCH, backend, "streak_planner_planned_per_tick_max", max(planned), "nudges")
    yield Figure(BENCH, backend, "streak_planner_tick_p50", ms(percentile(latencies, 50)), "ms")
    yield Figure(BENCH, backend, "streak_planner_tick_p99", p99, "ms")
    yield Figure(BENCH, backend, "streak_planner_tick_p99_over_floor", round(p99 / floor_p99, 1), "x")
    yield Figure(BENCH, backend, "streak_planner_statements_per_tick", round(counter.count / 6, 2), "statements")


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    sizes = Sizes.scaled(scale, load_settings(CONFIG).scheduler.reminders_plan_batch_size)
    for backend in backends:
        async with fresh_database(backend) as database:
            name = backend
            started = time.perf_counter()
            await fill(database, sizes)
            yield Figure(BENCH, name, "build_data_seconds", round(time.perf_counter() - started, 1), "s")
            floor: dict[str, float] = {}
            async for figure in floor_figures(database, name, sizes):
                floor[figure.metric] = figure.value
                yield figure
            async for figure in planner_figures(database, name, sizes, floor):
                yield figure
            async for figure in sender_figures(database, name):
                yield figure
            async for figure in lateness_figures(database, name, sizes):
                yield figure
            for returning in (False, True):
                async for figure in discord_minute(database, name, sizes, returning=returning):
                    yield figure
            async for figure in streak_figures(database, name, floor["floor_pk_read_p99"]):
                yield figure
