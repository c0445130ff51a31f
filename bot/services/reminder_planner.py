"""The reminder planner: due study reminders become outbox rows, a bounded batch per transaction.

Each preference keeps the UTC instant of its next reminder (`next_fire_at`, indexed). A batch locks the due rows,
works out the date arithmetic once per distinct (time, days, instant, last day, zone), and lets the database build
one outbox row per reminder (dedupe key `reminder:{user}:{course}:{local day}`) and move each instant on to the
next chosen local day, so a batch costs what is due, not what exists, and no local day is planned twice
(`bot.clock.next_local_occurrence`). `plan_due_in_batches` commits batch after batch until the due rows run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, DateTime, Integer, Text, bindparam, column, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.clock import local_date, next_local_occurrence
from db.base import UTCDateTime, utcnow
from db.models import Notification, NotificationKind, NotificationStatus, ReminderPreference, User
from db.session import Database

# A reminder more than this late (the bot was down) is not sent: the student has moved on.
STALE_AFTER = timedelta(hours=2)
# PostgreSQL advisory lock key of the planner: one planner at a time across every bot process.
PLANNER_LOCK = 0x436F7572_7365  # "Course"


def from_bitmask(mask: int) -> frozenset[int]:
    return frozenset(day for day in range(7) if mask & (1 << day))


def next_fire_at(at: time, weekdays: int, zone: str, *, after: datetime, last_planned_day: date | None) -> datetime:
    """The instant of the first chosen local day after `after` not planned yet."""
    not_before = last_planned_day + timedelta(days=1) if last_planned_day else None
    _, instant = next_local_occurrence(
        after, at=at, weekdays=from_bitmask(weekdays), time_zone=zone, not_before_day=not_before
    )
    return instant


async def _take_planner_lock(session: AsyncSession) -> bool:
    """On PostgreSQL, the planner lock for this transaction (False: another process is planning), and a commit
    that does not wait for the disk. That is safe here: a tick lost to a crash before the write-ahead log reaches
    the disk is lost whole (outbox rows and moved instants together), so the next tick plans it again; and a
    sender's claim, which does wait, flushes every commit before it."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one process, and its single writer already serialises planners
    return bool(
        await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key) FROM set_config('synchronous_commit', 'off', true)"),
            {"key": PLANNER_LOCK},
        )
    )


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """One planner transaction: the due preferences it took (each moved on) and the reminders it planned."""

    preferences: int
    reminders: int


@dataclass(frozen=True, slots=True)
class PlannerRun:
    """A planner run over every due reminder, a batch per transaction."""

    reminders: int
    batches: int


async def plan_due_in_batches(database: Database, *, now: datetime, batch_size: int) -> PlannerRun:
    """Plan every reminder due by `now`, at most `batch_size` preferences per unit of work, each committed before
    the next, until a batch comes back short. A minute with thousands due is several short transactions: the
    event loop serves interactions between them and PostgreSQL holds each batch's row locks briefly. A crash
    between batches leaves the rest due for the next run; what was committed is never planned again."""
    reminders = batches = 0
    while True:
        async with database.session_scope() as session:
            batch = await plan_batch(session, now=now, limit=batch_size)
        reminders, batches = reminders + batch.reminders, batches + 1
        if batch.preferences < batch_size:
            return PlannerRun(reminders, batches)


async def plan_due(session: AsyncSession, *, now: datetime, limit: int = 5000) -> int:
    """Plan up to `limit` due preferences in the caller's transaction (`plan_batch`); returns the reminders planned."""
    return (await plan_batch(session, now=now, limit=limit)).reminders


async def plan_batch(session: AsyncSession, *, now: datetime, limit: int) -> PlannedBatch:
    """Turn the reminders of up to `limit` preferences whose instant has come into outbox rows, and move each on.
    On PostgreSQL only one process plans at a time (an advisory lock held to commit), and rows another
    transaction holds are skipped, not waited for.

    Python does per row only what grouping needs: the due rows are read as plain tuples and grouped by what their
    date arithmetic depends on (zone, time, days, instant, last day; a minute's due rows share a few of them), the
    arithmetic runs once per group, and the database builds the outbox rows and moves the instants from the rows'
    ids and their group's answer. A batch's statements don't grow with its size: the lock (PostgreSQL), the
    locking read, the outbox insert and the update of the instants."""
    if not await _take_planner_lock(session):
        return PlannedBatch(0, 0)
    connection = await session.connection()
    rows = (await connection.execute(_DUE, {"now": now, "limit": limit})).all()
    groups: dict[tuple[time, int, datetime, date | None, str], list[int]] = {}
    for preference_id, *arguments in rows:
        groups.setdefault(tuple(arguments), []).append(preference_id)  # type: ignore[arg-type]
    for zone in {zone for *_, zone in groups}:
        _keep_loaded(zone)
    answers = [(members, _advance(*arguments, now)) for arguments, members in groups.items()]
    if not answers:
        return PlannedBatch(0, 0)
    if connection.dialect.name == "postgresql":
        await _write_postgresql(connection, answers)
    else:
        await _write_sqlite(connection, answers)
    return PlannedBatch(len(rows), sum(len(members) * len(answer.days) for members, answer in answers))


_PREFERENCES, _NOTIFICATIONS = ReminderPreference.__table__, Notification.__table__
# The due preferences, oldest instant first, as the arguments of their date arithmetic.
_DUE = (
    select(
        _PREFERENCES.c.id,
        _PREFERENCES.c.local_time,
        _PREFERENCES.c.weekdays,
        _PREFERENCES.c.next_fire_at,
        _PREFERENCES.c.last_planned_day,
        User.__table__.c.time_zone,
    )
    .join(User.__table__, User.__table__.c.id == _PREFERENCES.c.user_id)
    .where(_PREFERENCES.c.next_fire_at <= bindparam("now", type_=UTCDateTime()))
    .order_by(_PREFERENCES.c.next_fire_at)
    .limit(bindparam("limit"))
    .with_for_update(of=_PREFERENCES, skip_locked=True)
)


# PostgreSQL: the batch's rows as two arrays (preference id, its group), and each group's answer as arrays.
_DUE_IDS = (
    func.unnest(
        bindparam("ids", type_=postgresql.ARRAY(BigInteger)), bindparam("groups", type_=postgresql.ARRAY(Integer))
    )
    .table_valued(column("id", BigInteger), column("grp", Integer))
    .render_derived(name="due")
)
_MOVES = (
    func.unnest(
        bindparam("move_groups", type_=postgresql.ARRAY(Integer)),
        bindparam("move_instants", type_=postgresql.ARRAY(DateTime(timezone=True))),
        bindparam("move_days", type_=postgresql.ARRAY(Date)),
    )
    .table_valued(column("grp", Integer), column("next_fire_at", DateTime(timezone=True)), column("day", Date))
    .render_derived(name="moved")
)
# The outbox rows are written as SQL text: SQLAlchemy does not cache the compiled form of a dialect's INSERT ... ON
# CONFLICT, and compiling it again for every batch costs more than the rest of the batch's Python. The kind and status
# are bound, the rest comes from the locked preference and its group's answer.
_OUTBOX_ROW = """
INSERT INTO notifications (dedupe_key, kind, status, guild_id, user_id, course_id, payload, due_at, attempts)
SELECT 'reminder:' || p.user_id || ':' || p.course_id || ':' || {day}, :kind, :status, p.guild_id, p.user_id,
       p.course_id, {payload}, {due_at}, 0
"""
_OUTBOX_KIND = {"kind": NotificationKind.REMINDER.value, "status": NotificationStatus.PENDING.value}
_INSERT_POSTGRESQL = text(
    _OUTBOX_ROW.format(day="plan.day", payload="jsonb_build_object('day', plan.day)", due_at="plan.due_at")
    + """FROM unnest(:ids, :groups) AS due (id, grp)
JOIN unnest(:plan_groups, :plan_days, :plan_instants) AS plan (grp, day, due_at) ON plan.grp = due.grp
JOIN reminder_preferences AS p ON p.id = due.id
ON CONFLICT (dedupe_key) DO NOTHING"""
).bindparams(
    bindparam("ids", type_=postgresql.ARRAY(BigInteger)),
    bindparam("groups", type_=postgresql.ARRAY(Integer)),
    bindparam("plan_groups", type_=postgresql.ARRAY(Integer)),
    bindparam("plan_days", type_=postgresql.ARRAY(Text)),
    bindparam("plan_instants", type_=postgresql.ARRAY(DateTime(timezone=True))),
)
_MOVE_POSTGRESQL = (
    update(_PREFERENCES)
    .where(_PREFERENCES.c.id == _DUE_IDS.c.id, _DUE_IDS.c.grp == _MOVES.c.grp)
    .values(
        next_fire_at=_MOVES.c.next_fire_at,
        last_planned_day=_MOVES.c.day,
        updated_at=bindparam("moved_at", type_=UTCDateTime()),
    )
)


async def _write_postgresql(connection: AsyncConnection, answers: list[tuple[list[int], Advance]]) -> None:
    """The outbox rows and the moved instants of a batch, each one statement whose size grows with the groups:
    per row, only its id and its group's number travel."""
    ids: list[int] = []
    groups: list[int] = []
    plans: list[tuple[int, str, datetime]] = []
    for group, (members, answer) in enumerate(answers):
        ids += members
        groups += [group] * len(members)
        plans += [(group, day, due_at) for day, due_at in answer.days]
    rows = {"ids": ids, "groups": groups}
    if plans:
        plan_groups, plan_days, plan_instants = (list(values) for values in zip(*plans, strict=True))
        await connection.execute(
            _INSERT_POSTGRESQL,
            {
                **rows,
                **_OUTBOX_KIND,
                "plan_groups": plan_groups,
                "plan_days": plan_days,
                "plan_instants": plan_instants,
            },
        )
    await connection.execute(
        _MOVE_POSTGRESQL,
        {
            **rows,
            "move_groups": list(range(len(answers))),
            "move_instants": [answer.next_fire_at for _, answer in answers],
            "move_days": [answer.last_planned_day for _, answer in answers],
            "moved_at": utcnow(),
        },
    )


# SQLite, in-process: the same statements taking one row's values at a time, each sent as one executemany.
_INSERT_SQLITE = text(
    _OUTBOX_ROW.format(day=":day", payload="json_object('day', :day)", due_at=":instant")
    + """FROM reminder_preferences AS p WHERE p.id = :row_id
ON CONFLICT (dedupe_key) DO NOTHING"""
).bindparams(bindparam("instant", type_=UTCDateTime()))
_MOVE_SQLITE = (
    update(_PREFERENCES)
    .where(_PREFERENCES.c.id == bindparam("row_id"))
    .values(
        next_fire_at=bindparam("instant", type_=UTCDateTime()),
        last_planned_day=bindparam("day", type_=Date),
        updated_at=bindparam("moved_at", type_=UTCDateTime()),
    )
)


async def _write_sqlite(connection: AsyncConnection, answers: list[tuple[list[int], Advance]]) -> None:
    plans = [
        {"row_id": row_id, "day": day, "instant": due_at, **_OUTBOX_KIND}
        for members, answer in answers
        for day, due_at in answer.days
        for row_id in members
    ]
    if plans:
        await connection.execute(_INSERT_SQLITE, plans)
    now = utcnow()
    await connection.execute(
        _MOVE_SQLITE,
        [
            {"row_id": row_id, "instant": answer.next_fire_at, "day": answer.last_planned_day, "moved_at": now}
            for members, answer in answers
            for row_id in members
        ],
    )


@cache
def _keep_loaded(zone: str) -> ZoneInfo:
    """Hold a zone for the life of the process: `ZoneInfo` keeps a zone loaded only while something holds it (and
    the last few used), and a batch's date arithmetic asks for each of its zones many times."""
    return ZoneInfo(zone)


@dataclass(frozen=True, slots=True)
class Advance:
    """What a planner run at some instant does to the preferences of one group: the (local day as ISO text,
    instant) pairs to plan, then their next instant and last planned day."""

    days: tuple[tuple[str, datetime], ...]
    next_fire_at: datetime
    last_planned_day: date | None


# A minute's batches share most of their groups; answers of earlier runs (another `now`) age out.
@lru_cache(maxsize=4096)
def _advance(
    at: time, weekdays: int, fire_at: datetime, last_planned_day: date | None, zone: str, now: datetime
) -> Advance:
    """What a planner run at `now` does to a preference with these arguments. Pure, so rows (and batches) sharing
    their arguments share the answer."""
    days = []
    while fire_at <= now:
        if now - fire_at > STALE_AFTER:
            # Missed while the bot was down: skip to the occurrences still worth sending.
            fire_at = next_fire_at(at, weekdays, zone, after=now - STALE_AFTER, last_planned_day=last_planned_day)
            continue
        day = _planned_day(at, weekdays, zone, fire_at, last_planned_day)
        days.append((day.isoformat(), fire_at))
        last_planned_day = day
        fire_at = next_fire_at(at, weekdays, zone, after=fire_at, last_planned_day=day)
    return Advance(tuple(days), fire_at, last_planned_day)


def _planned_day(at: time, weekdays: int, zone: str, fire_at: datetime, last_planned_day: date | None) -> date:
    """The local day `fire_at` was scheduled for (a time skipped by DST may fire on the next wall-clock day)."""
    not_before = last_planned_day + timedelta(days=1) if last_planned_day else None
    day, instant = next_local_occurrence(
        fire_at - timedelta(microseconds=1),
        at=at,
        weekdays=from_bitmask(weekdays),
        time_zone=zone,
        not_before_day=not_before,
    )
    return day if instant == fire_at else local_date(fire_at, zone)
