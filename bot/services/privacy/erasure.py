"""Erasing a person: every row that names them, in every server, treated as `PERSON_COLUMNS` says.

`erase_user` commits the tombstone (`erased_users`) first, then goes column by column, a batch at a time, looking
again until nothing names the person; the transaction that finds nothing left marks the tombstone finished. An
erasure interrupted anywhere, or outpaced by a person who kept writing, is finished by the maintenance run
(`finish_erasure`). `rows_naming` and `erased_ids` are what `coursebot privacy` shows an operator.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.privacy.batches import Batch, deleting, drain, setting
from bot.services.privacy.registry import NO_ONE, PERSON_COLUMNS, Treatment, audit_names, column_of, own_sessions
from db.models import AttemptStatus, AuditLog, ChatMessage, ErasedUser, QuizAttempt
from db.session import Database, dialect_insert

# Erasure passes before an erasure is left for the next maintenance run (the person kept writing meanwhile).
ERASURE_PASSES = 3


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing one person did: rows changed per `table.column` (deleted or detached), and whether it is
    finished (False: the person kept writing during every pass; the maintenance job finishes it)."""

    user_id: int
    changed: dict[str, int]
    finished: bool

    @property
    def found(self) -> bool:
        return bool(self.changed) or self.finished


def _naming(user_id: int, dialect: str) -> dict[str, tuple[Table, ColumnElement[bool]]]:
    """Per column of `PERSON_COLUMNS` (the tombstone aside): its table, and the condition of a row naming the
    person there."""
    conditions = {}
    for qualified, treatment in PERSON_COLUMNS.items():
        table, column = column_of(qualified)
        if qualified == "audit_logs.target_ids":
            conditions[qualified] = (table, audit_names(user_id, dialect) & (AuditLog.actor_id != user_id))
        elif treatment is not Treatment.TOMBSTONE:
            conditions[qualified] = (table, column == user_id)
    return conditions


async def rows_naming(session: AsyncSession, *, user_id: int) -> dict[str, int]:
    """How many rows still hold `user_id`, per column of `PERSON_COLUMNS` (the tombstone aside), where any do."""
    left = {}
    for qualified, (table, condition) in _naming(user_id, session.get_bind().dialect.name).items():
        if count := await session.scalar(select(func.count()).select_from(table).where(condition)):
            left[qualified] = count
    return left


async def _still_naming(session: AsyncSession, user_id: int) -> set[str]:
    """The columns of `PERSON_COLUMNS` where a row still holds `user_id`: one statement, each part stopping at the
    first row it finds."""
    naming = _naming(user_id, session.get_bind().dialect.name)
    found = (
        await session.execute(select(*(exists().select_from(table).where(where) for table, where in naming.values())))
    ).one()
    return {qualified for qualified, present in zip(naming, found, strict=True) if present}


def _without_person(user_id: int) -> Batch:
    """Take the person's id out of the audit rows that list them as a member: the record of what was done stays."""

    async def run(session: AsyncSession, limit: int) -> int:
        _, listing = _naming(user_id, session.get_bind().dialect.name)["audit_logs.target_ids"]
        rows = (await session.execute(select(AuditLog.id, AuditLog.target_ids).where(listing).limit(limit))).all()
        for row_id, target_ids in rows:
            kept = [target for target in target_ids if target != user_id]
            await session.execute(update(AuditLog).where(AuditLog.id == row_id).values(target_ids=kept))
        return len(rows)

    return run


def _erasure_batches(user_id: int, naming: set[str]) -> list[tuple[str, Batch]]:
    """The steps of erasing `user_id` from the columns in `naming`, in order, each a batch at a time. The large
    cascades go first (a conversation's messages before the conversation, an open quiz attempt with its answers),
    then each column by its treatment."""
    steps: list[tuple[str, Batch]] = []
    if "chat_sessions.user_id" in naming:
        messages = ChatMessage.session_id.in_(own_sessions(user_id))
        steps.append(("chat_messages", deleting(ChatMessage.__table__, messages)))
    if "quiz_attempts.user_id" in naming:
        still_open = (QuizAttempt.user_id == user_id) & (QuizAttempt.status == AttemptStatus.IN_PROGRESS)
        steps.append(("quiz_attempts (open)", deleting(QuizAttempt.__table__, still_open)))
    for qualified, treatment in PERSON_COLUMNS.items():
        if qualified not in naming:
            continue
        table, column = column_of(qualified)
        if qualified == "audit_logs.target_ids":
            steps.append((qualified, _without_person(user_id)))
        elif treatment is Treatment.DELETE:
            steps.append((qualified, deleting(table, column == user_id)))
        elif treatment is Treatment.DETACH:
            steps.append((qualified, setting(table, column == user_id, **{column.name: None})))
        elif treatment is Treatment.PSEUDONYMISE:
            steps.append((qualified, setting(table, column == user_id, **{column.name: NO_ONE})))
    return steps


async def erase_user(database: Database, *, user_id: int, requested_by: str, now: datetime, batch_size: int) -> Erasure:
    """Erase everything about `user_id`, in every server, as `PERSON_COLUMNS` says; idempotent.

    The tombstone is committed first, so an erasure interrupted anywhere is found and finished (by a rerun or by
    `maintain`); it is marked finished in the transaction that finds no row naming the person any more. A person
    never seen (nothing stored, no tombstone) gets no tombstone either. `requested_by`: "self" or "operator".
    """
    async with database.session_scope() as session:
        known = await session.get(ErasedUser, user_id) is not None or bool(await _still_naming(session, user_id))
        if not known:
            return Erasure(user_id, {}, finished=False)
        tombstone = dialect_insert(session, ErasedUser).values(
            user_id=user_id, requested_by=requested_by, requested_at=now, finished_at=None
        )
        await session.execute(
            tombstone.on_conflict_do_update(
                index_elements=[ErasedUser.user_id],
                set_={"requested_by": requested_by, "requested_at": now, "finished_at": None},
            )
        )
    return await finish_erasure(database, user_id=user_id, now=now, batch_size=batch_size)


async def finish_erasure(database: Database, *, user_id: int, now: datetime, batch_size: int) -> Erasure:
    """Treat every column still naming the person, then look again; up to `ERASURE_PASSES` passes when they keep
    writing meanwhile. Finished (the tombstone says so) in the transaction that finds nothing left."""
    changed: Counter[str] = Counter()
    for passes in range(ERASURE_PASSES + 1):
        async with database.session_scope() as session:
            naming = await _still_naming(session, user_id)
            if not naming:
                await session.execute(update(ErasedUser).where(ErasedUser.user_id == user_id).values(finished_at=now))
                return Erasure(user_id, dict(changed), finished=True)
        if passes == ERASURE_PASSES:
            break
        for name, batch in _erasure_batches(user_id, naming):
            if count := await drain(database, batch, batch_size):
                changed[name] += count
    return Erasure(user_id, dict(changed), finished=False)


async def erased_ids(session: AsyncSession) -> list[tuple[int, datetime, datetime | None]]:
    """Every tombstone: (Discord id, requested at, finished at), oldest first."""
    rows = await session.execute(
        select(ErasedUser.user_id, ErasedUser.requested_at, ErasedUser.finished_at).order_by(ErasedUser.requested_at)
    )
    return [(user_id, requested, finished) for user_id, requested, finished in rows]
