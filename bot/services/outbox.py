"""The outbox: the one way the bot sends anything on its own (reminders, nudges, announcements).

Planners `enqueue` rows; a unique `dedupe_key` makes planning idempotent, so a rerun, a restart or a second
process plans nothing twice. Senders `claim_due` rows and report each outcome.

The delivery promise is **at most once**: a claimed row is SENDING and is never claimed again. A sender that
dies between sending and reporting leaves it SENDING; `fail_interrupted` later marks it FAILED without sending
it again, because a missed reminder is better than a repeated one. A failure known to have sent nothing (a
rate limit, a Discord outage) goes back to PENDING with a later due time, up to `MAX_ATTEMPTS` sends.

On PostgreSQL `claim_due` takes rows with `FOR UPDATE SKIP LOCKED`, so concurrent senders in several processes
split the work without waiting on each other; SQLite (one process, one writer) ignores the clause.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Insert,
    Text,
    bindparam,
    cast,
    column,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Notification, NotificationKind, NotificationStatus

MAX_ATTEMPTS = 3
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Planned:
    """One message to plan. `dedupe_key` names it for good: the same key is never planned twice."""

    dedupe_key: str
    kind: NotificationKind
    guild_id: int
    due_at: datetime
    user_id: int | None = None
    course_id: int | None = None
    channel_id: int | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a sender now owns; report how it went with `mark_sent`, `mark_skipped`, `mark_failed` or `retry`."""

    id: int
    kind: NotificationKind
    guild_id: int
    user_id: int | None
    course_id: int | None
    channel_id: int | None
    payload: dict[str, Any]
    due_at: datetime
    attempts: int


# The columns a planner fills, as PostgreSQL reads them from the JSON document `enqueue` sends.
PLANNED_COLUMNS = {
    "dedupe_key": Text,
    "kind": Text,
    "guild_id": BigInteger,
    "user_id": BigInteger,
    "course_id": BigInteger,
    "channel_id": BigInteger,
    "payload": postgresql.JSONB,
    "due_at": DateTime(timezone=True),
}


async def enqueue(session: AsyncSession, planned: Iterable[Planned]) -> int:
    """Insert the planned rows in one statement, skipping any whose dedupe key exists; returns how many are new.

    PostgreSQL gets every row in one JSON document (`INSERT ... SELECT FROM json_to_recordset(...)`): one call of
    the JSON encoder here, one parse there, and a statement whose text and plan are the same for 1 row or 5,000.
    SQLite, in-process, takes the rows as an executemany."""
    items = list(planned)
    if not items:
        return 0
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        result = await connection.execute(_insert_from_json(items))
        return result.rowcount
    rows = [{**_planned_columns(item), "status": NotificationStatus.PENDING, "attempts": 0} for item in items]
    # RETURNING answers for the inserted rows only, so its length is the count of new ones.
    statement = (
        sqlite.insert(Notification.__table__)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.__table__.c.id)
    )
    return len((await connection.execute(statement, rows)).all())


def _planned_columns(item: Planned) -> dict[str, Any]:
    """The `PLANNED_COLUMNS` of one planned row."""
    return {
        "dedupe_key": item.dedupe_key,
        "kind": item.kind,
        "guild_id": item.guild_id,
        "user_id": item.user_id,
        "course_id": item.course_id,
        "channel_id": item.channel_id,
        "payload": item.payload or {},
        "due_at": item.due_at,
    }


def _insert_from_json(items: list[Planned]) -> Insert:
    """INSERT ... SELECT FROM json_to_recordset(the rows) ON CONFLICT (dedupe_key) DO NOTHING."""
    document = json.dumps(
        [{**_planned_columns(item), "kind": item.kind.value, "due_at": item.due_at.isoformat()} for item in items]
    )
    rows = (
        func.json_to_recordset(cast(bindparam("planned", document, type_=Text), postgresql.JSON))
        .table_valued(*(column(name, kind) for name, kind in PLANNED_COLUMNS.items()))
        .render_derived(name="planned", with_types=True)
    )
    return (
        postgresql.insert(Notification.__table__)
        .from_select(
            [*PLANNED_COLUMNS, "status", "attempts"],
            select(*rows.c, literal(NotificationStatus.PENDING.value), literal(0)),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


async def backlog(session: AsyncSession, *, now: datetime) -> int:
    """Rows due and still waiting for a sender (an operator's measure of whether sending keeps up)."""
    waiting = (Notification.status == NotificationStatus.PENDING, Notification.due_at <= now)
    return await session.scalar(select(func.count()).where(*waiting)) or 0


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[Claimed]:
    """Take up to `limit` due PENDING rows, oldest first, and mark them SENDING in one statement."""
    due = (
        select(Notification.id)
        .where(Notification.status == NotificationStatus.PENDING, Notification.due_at <= now)
        .order_by(Notification.due_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = await session.execute(
        update(Notification)
        .where(Notification.id.in_(due))
        .values(status=NotificationStatus.SENDING, claimed_at=now, attempts=Notification.attempts + 1)
        .returning(
            Notification.id,
            Notification.kind,
            Notification.guild_id,
            Notification.user_id,
            Notification.course_id,
            Notification.channel_id,
            Notification.payload,
            Notification.due_at,
            Notification.attempts,
        )
    )
    rows = sorted(claimed.all(), key=lambda row: (row.due_at, row.id))
    return [Claimed(**row._asdict()) for row in rows]


async def _finish(session: AsyncSession, notification_id: int, **values: Any) -> None:
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.SENDING)
        .values(**values)
    )


async def mark_sent(session: AsyncSession, notification_id: int, *, now: datetime) -> None:
    await _finish(session, notification_id, status=NotificationStatus.SENT, sent_at=now, last_error=None)


async def mark_skipped(session: AsyncSession, notification_id: int, *, reason: str) -> None:
    await _finish(session, notification_id, status=NotificationStatus.SKIPPED, last_error=reason[:ERROR_CHARS])


async def mark_failed(session: AsyncSession, notification_id: int, *, error: str) -> None:
    await _finish(session, notification_id, status=NotificationStatus.FAILED, last_error=error[:ERROR_CHARS])


async def retry(session: AsyncSession, claimed: Claimed, *, error: str, now: datetime, delay: timedelta) -> bool:
    """Nothing was sent (rate limit, outage): due again after `delay`, or FAILED after MAX_ATTEMPTS. True if
    it will be tried again."""
    if claimed.attempts >= MAX_ATTEMPTS:
        await mark_failed(session, claimed.id, error=f"gave up after {claimed.attempts} attempts: {error}")
        return False
    await _finish(
        session, claimed.id, status=NotificationStatus.PENDING, due_at=now + delay, last_error=error[:ERROR_CHARS]
    )
    return True


async def fail_interrupted(session: AsyncSession, *, now: datetime, older_than: timedelta) -> int:
    """Rows left SENDING by a sender that stopped (a crash between send and report): FAILED, never resent."""
    result = await session.execute(
        update(Notification)
        .where(Notification.status == NotificationStatus.SENDING, Notification.claimed_at < now - older_than)
        .values(
            status=NotificationStatus.FAILED,
            last_error="the sender stopped before reporting; not sent again (at most once)",
        )
    )
    return result.rowcount or 0


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    """What `/admin reminders` shows for one guild."""

    pending: int
    sent_today: int
    failed: list[tuple[datetime, str]]  # (due, reason), newest first


async def summary(session: AsyncSession, *, guild_id: int, since: datetime, failed_limit: int = 10) -> OutboxSummary:
    counts = dict(
        (
            await session.execute(
                select(Notification.status, func.count())
                .where(
                    Notification.guild_id == guild_id,
                    (Notification.status == NotificationStatus.PENDING)
                    | ((Notification.status == NotificationStatus.SENT) & (Notification.sent_at >= since)),
                )
                .group_by(Notification.status)
            )
        ).all()
    )
    failed = (
        await session.execute(
            select(Notification.due_at, Notification.last_error)
            .where(Notification.guild_id == guild_id, Notification.status == NotificationStatus.FAILED)
            .order_by(Notification.due_at.desc())
            .limit(failed_limit)
        )
    ).all()
    return OutboxSummary(
        pending=counts.get(NotificationStatus.PENDING, 0),
        sent_today=counts.get(NotificationStatus.SENT, 0),
        failed=[(due, error or "") for due, error in failed],
    )
