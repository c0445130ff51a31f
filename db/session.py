"""One engine per database URL, and `session_scope()`: the unit of work every caller uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_QUEUE_TIMEOUT_S = 180


def create_engine(url: str | URL, *, pool_size: int = 5, max_overflow: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine tuned for its backend.

    SQLite: WAL journal (readers never block the writer), foreign keys enforced, a busy timeout
    instead of instant "database is locked", and the parent folder created. PostgreSQL: a pool that
    pings before use, so a restarted server costs a retry, not an error.
    """
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer anyway, and queueing on the pool (an asyncio wait) is far
        # cheaper than several connections sleeping in SQLite's busy handler. Interactions acknowledge before
        # they queue, so under a burst a long wait is better than failing the student's request.
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_QUEUE_TIMEOUT_S,
            poolclass=AsyncAdaptedQueuePool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_immediately)
        return engine
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (the `begin` listener), so SAVEPOINT and BEGIN work as written.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite_immediately(connection: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of one
    # failing with "database is locked" when its read transaction tries to upgrade.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def dialect_insert(session: AsyncSession, model: type) -> Insert:
    """An INSERT in the session's dialect, so it can take ON CONFLICT (upserts, insert-once)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)  # type: ignore[return-value]


def greatest(session: AsyncSession, *values: Any) -> Any:
    """SQL for the largest of `values`: GREATEST on PostgreSQL, the scalar MAX on SQLite."""
    dialect = session.get_bind().dialect.name
    return func.greatest(*values) if dialect == "postgresql" else func.max(*values)


class Database:
    """The engine and session factory of one database; `session_scope()` is the unit of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str | URL, **engine_options: Any) -> Database:
        return cls(create_engine(url, **engine_options))

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block succeeds and rolls back when it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
