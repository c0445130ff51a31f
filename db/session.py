"""One engine per database URL, and `session_scope()`: the unit of work every caller uses.

Every wait on the database can be bounded: per engine (connect, statement, pool), and per task with a deadline
for each unit of work (`limit_work`). `is_database_fault` tells a database that isn't answering from a bug.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy.exc
from sqlalchemy import Insert, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

# Bounds for an engine created without any (tools, tests, benchmarks); the bot passes its [database] settings.
SQLITE_BUSY_TIMEOUT_S = 5.0
SQLITE_QUEUE_TIMEOUT_S = 180.0
POOL_TIMEOUT_S = 30.0


class PatientQueuePool(AsyncAdaptedQueuePool):
    """A pool whose wait for a connection fails only when no connection came back to it for a whole pool timeout.

    Under a burst the queue is long but moving: an acknowledged answer press (Discord waits 15 minutes for its
    reply) should wait its turn, not fail because a thousand presses came before it. A database that stopped
    answering returns nothing, and its connect and statement timeouts end the holders' work, so that wait still
    fails within a timeout of the last connection returned. A re-entered wait queues behind later arrivals.
    """

    _returned = 0  # connections given back so far: the queue moved if this grew during a wait

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._returned += 1
        super()._do_return_conn(record)

    def _do_get(self) -> ConnectionPoolEntry:
        while True:
            returned = self._returned
            try:
                return super()._do_get()
            except sqlalchemy.exc.TimeoutError:
                if self._returned == returned:
                    raise


class DeadlineExceeded(TimeoutError):
    """A unit of work did not end by the deadline of the work it serves (see `limit_work`); it was rolled back."""


# When the database work of the current task must end: a time on the event loop's clock, asked as each unit of
# work opens; None (or no rule) for no deadline. A task started from here inherits the rule.
_deadline: ContextVar[Callable[[], float | None] | None] = ContextVar("database_deadline", default=None)


def limit_work(deadline: Callable[[], float | None]) -> None:
    """From now on in the current task, each `session_scope` must end by `deadline()` (asked when it opens), the
    wait for a connection included; one that doesn't is rolled back and raises `DeadlineExceeded`."""
    _deadline.set(deadline)


# PostgreSQL error classes that mean "not now" rather than a bug: 08 connection exception, 53 insufficient
# resources (too many connections, disk full), 57 operator intervention (statement timeout, shutdown, starting up).
TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.", "sqlite3.")


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then what it wraps: SQLAlchemy's `orig`, else the cause it was raised from."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        wrapped = getattr(error, "orig", None)
        error = wrapped if isinstance(wrapped, BaseException) else error.__cause__


def _raised_by_driver(error: BaseException) -> bool:
    return any(
        frame.f_globals.get("__name__", "").startswith(DRIVER_MODULES)
        for frame, _ in traceback.walk_tb(error.__traceback__)
    )


def is_database_fault(error: BaseException) -> bool:
    """Whether `error` means the database is down, unreachable, locked or too slow, rather than a bug:
    a deadline or pool wait that ran out, a DB-API "operational" error (SQLite's "database is locked"), a dropped
    connection, a transient PostgreSQL error class, or a refused or timed-out socket inside the driver."""
    for cause in _chain(error):
        if isinstance(
            cause,
            DeadlineExceeded
            | sqlalchemy.exc.TimeoutError
            | sqlalchemy.exc.OperationalError
            | asyncpg.PostgresConnectionError,
        ):
            return True
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated:
            return True
        if str(getattr(cause, "sqlstate", None) or "").startswith(TRANSIENT_SQLSTATE_CLASSES):
            return True
        if isinstance(cause, OSError | TimeoutError) and _raised_by_driver(cause):
            return True
    return False


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    echo: bool = False,
    pool_timeout: float | None = None,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
) -> AsyncEngine:
    """An async engine tuned for its backend, every wait on the database bounded.

    SQLite: WAL journal (readers never block the writer), foreign keys enforced, a busy timeout
    instead of instant "database is locked", and the parent folder created. PostgreSQL: a pool that
    pings before use, so a restarted server costs a retry, not an error.

    `pool_timeout`: the wait for a free connection (on SQLite, for a turn on its one connection) while none is
    given back to the pool (`PatientQueuePool`).
    `connect_timeout` (PostgreSQL): opening a connection, login included.
    `statement_timeout`: PostgreSQL: one statement, stopped by the server and given up by the client (asyncpg's
    `command_timeout`, which also catches a network that stopped answering); SQLite: how long a statement waits
    for a write lock another process holds (the busy timeout).
    None leaves a bound at the default above (asyncpg's own 60 s to connect; no statement limit on PostgreSQL).
    """
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer anyway, and queueing on the pool (an asyncio wait) is far
        # cheaper than several connections sleeping in SQLite's busy handler. Answer presses acknowledge before
        # they queue, so under a burst a wait in the queue is better than failing the student's request. The
        # bot bounds that wait (`pool_timeout`), and each slash command's work by its deadline (`limit_work`).
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_QUEUE_TIMEOUT_S if pool_timeout is None else pool_timeout,
            poolclass=PatientQueuePool,
            # sqlite3's `timeout` is SQLite's busy timeout.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S if statement_timeout is None else statement_timeout},
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin_sqlite_immediately)
        return engine
    connect_args: dict[str, Any] = {}
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    if statement_timeout is not None:
        connect_args["command_timeout"] = statement_timeout
        connect_args["server_settings"] = {"statement_timeout": str(round(statement_timeout * 1000))}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=POOL_TIMEOUT_S if pool_timeout is None else pool_timeout,
        poolclass=PatientQueuePool,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (the `begin` listener), so SAVEPOINT and BEGIN work as written.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
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
        # Told how long each unit of work waited for its connection, in seconds (the bot's metrics set it).
        self.on_connection_wait: Callable[[float], None] | None = None

    @classmethod
    def from_url(cls, url: str | URL, **engine_options: Any) -> Database:
        return cls(create_engine(url, **engine_options))

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block succeeds and rolls back when it raises.

        Under `limit_work`, a block still running (or still waiting for a connection) at the deadline is
        cancelled and rolled back, and `DeadlineExceeded` is raised.
        """
        rule = _deadline.get()
        deadline = rule() if rule is not None else None
        if deadline is None:
            async with self.sessions() as session, session.begin():
                await self._connect(session)
                yield session
            return
        limit = asyncio.timeout_at(deadline)
        try:
            async with limit, self.sessions() as session, session.begin():
                await self._connect(session)
                yield session
        except TimeoutError as error:
            if limit.expired():
                raise DeadlineExceeded("the database did not answer before the deadline of this work") from error
            raise

    async def _connect(self, session: AsyncSession) -> None:
        """Take the unit of work's connection now rather than at its first statement, when someone listens to how
        long that takes: from asking the pool to a connection ready for the transaction (on SQLite, its write lock
        included)."""
        if self.on_connection_wait is None:
            return
        asked = time.perf_counter()
        await session.connection()
        self.on_connection_wait(time.perf_counter() - asked)

    async def dispose(self) -> None:
        await self.engine.dispose()
