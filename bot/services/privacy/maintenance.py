"""The privacy maintenance: the scheduled run that purges servers whose grace period ended, finishes interrupted
erasures and enforces retention, in one process at a time.

On PostgreSQL several bot processes may share the database; an advisory lock lets one run it while the others
skip. SQLite has one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select, text

from bot.config import PrivacySettings
from bot.services.privacy.erasure import Erasure, finish_erasure
from bot.services.privacy.retention import enforce_retention
from bot.services.privacy.servers import purge_guild
from db.models import ErasedUser, GuildRemoval
from db.session import Database

# PostgreSQL advisory lock of the privacy maintenance: one process at a time purges, resumes and trims.
MAINTENANCE_LOCK = 0x5072_6976_6163  # "Privac"


@asynccontextmanager
async def _one_process(database: Database) -> AsyncIterator[bool]:
    """Whether this process may run the maintenance now: on PostgreSQL, a session advisory lock on a connection of
    its own (outside the batches' transactions, in autocommit, so it holds no snapshot); SQLite has one process."""
    if database.backend != "postgresql":
        yield True
        return
    async with database.engine.connect() as connection:
        locking = await connection.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(await locking.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": MAINTENANCE_LOCK}))
        try:
            yield held
        finally:
            if held:
                await locking.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MAINTENANCE_LOCK})


@dataclass(frozen=True, slots=True)
class Maintenance:
    """One run of the privacy maintenance. `ran` is False when another process was running it."""

    ran: bool
    purged_guilds: list[int] = field(default_factory=list)
    erasures: list[Erasure] = field(default_factory=list)
    retention: dict[str, int] = field(default_factory=dict)
    erased_since: bool = False  # an erasure finished (here or in another process) since the time asked about


async def maintain(
    database: Database, *, settings: PrivacySettings, now: datetime, erased_since: datetime | None = None
) -> Maintenance:
    """Purge the guilds whose grace period ended, finish interrupted erasures, and enforce retention; one process
    at a time, a batch at a time. `erased_since`: also tell whether any erasure finished since then (a caller that
    remembers who it saw must forget them)."""
    async with _one_process(database) as ours:
        if not ours:
            return Maintenance(ran=False)
        async with database.session_scope() as session:
            due = (await session.scalars(select(GuildRemoval.guild_id).where(GuildRemoval.purge_at <= now))).all()
            unfinished = (
                await session.scalars(select(ErasedUser.user_id).where(ErasedUser.finished_at.is_(None)))
            ).all()
        for guild_id in due:
            await purge_guild(database, guild_id=guild_id, reason="removed", batch_size=settings.batch_size)
        erasures = [
            await finish_erasure(database, user_id=user_id, now=now, batch_size=settings.batch_size)
            for user_id in unfinished
        ]
        retention = await enforce_retention(database, settings=settings, now=now)
        recently = False
        if erased_since is not None:
            async with database.session_scope() as session:
                recently = bool(await session.scalar(select(exists().where(ErasedUser.finished_at >= erased_since))))
    return Maintenance(True, list(due), erasures, retention, recently)
