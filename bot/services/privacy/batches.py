"""Batches: how erasure, guild purges and retention change many rows without long transactions.

Those three take the `Database` and commit batch by batch: a heavy member (10,000 answers) or a whole server deleted in
one transaction would hold SQLite's write lock, or thousands of PostgreSQL row locks, for seconds. A `Batch` changes
at most `batch_size` rows in its own short transaction; `drain` runs it until nothing is left. Every step is
idempotent, so a run interrupted anywhere is finished by the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.session import Database

# One step: changes at most `limit` rows in the session it is given, and returns how many it changed.
Batch = Callable[[AsyncSession, int], Awaitable[int]]


def _chosen(table: Table, condition: ColumnElement[bool], limit: int, *, newest_first: bool = False) -> Any:
    """A condition matching at most `limit` rows of `table` that satisfy `condition`, by primary key."""
    key = list(table.primary_key.columns)
    batch = select(*key).where(condition).limit(limit)
    if newest_first:
        batch = batch.order_by(*(column.desc() for column in key))
    return key[0].in_(batch) if len(key) == 1 else tuple_(*key).in_(batch)


def deleting(table: Table, condition: ColumnElement[bool], *, newest_first: bool = False) -> Batch:
    """Delete one batch of `table`'s rows matching `condition`; returns how many went."""

    async def run(session: AsyncSession, limit: int) -> int:
        statement = delete(table).where(_chosen(table, condition, limit, newest_first=newest_first))
        return (await session.execute(statement)).rowcount or 0

    return run


def setting(table: Table, condition: ColumnElement[bool], **values: Any) -> Batch:
    """Update one batch of `table`'s rows matching `condition`; returns how many changed."""

    async def run(session: AsyncSession, limit: int) -> int:
        statement = update(table).where(_chosen(table, condition, limit)).values(**values)
        return (await session.execute(statement)).rowcount or 0

    return run


async def drain(database: Database, batch: Batch, size: int) -> int:
    """Run `batch` in its own short transaction until it finds fewer than `size` rows; returns the total."""
    total = 0
    while True:
        async with database.session_scope() as session:
            done = await batch(session, size)
        total += done
        if done < size:
            return total
