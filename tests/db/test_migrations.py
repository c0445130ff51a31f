"""The migration chain builds the schema from nothing, matches the models, and unwinds completely."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

import db.models  # noqa: F401
from db import migrate
from db.base import Base
from db.session import Database, create_engine
from tests.conftest import on_postgresql_only


async def table_names(url: URL) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_reaches_head_with_no_drift(empty_database_url: URL) -> None:
    engine = create_engine(empty_database_url)
    try:
        before = await migrate.status(engine)
        assert before.current is None and not before.is_current

        await migrate.upgrade(engine)

        after = await migrate.status(engine)
        assert after.current == migrate.head_revision()
        assert after.drift == [], f"models and migrations disagree: {after.drift}"
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= await table_names(empty_database_url)


async def test_downgrade_to_base_removes_every_table_and_upgrades_again(empty_database_url: URL) -> None:
    engine = create_engine(empty_database_url)
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "base")
        assert await table_names(empty_database_url) <= {"alembic_version"}

        await migrate.upgrade(engine)
        assert (await migrate.status(engine)).is_clean
    finally:
        await engine.dispose()


async def test_every_foreign_key_is_the_leading_column_of_an_index(database: Database) -> None:
    def unindexed_foreign_keys(sync) -> list[str]:  # type: ignore[no-untyped-def]
        inspector = inspect(sync)
        missing = []
        for table in Base.metadata.tables:
            leading = {tuple(index["column_names"][:1]) for index in inspector.get_indexes(table)}
            leading |= {tuple(unique["column_names"][:1]) for unique in inspector.get_unique_constraints(table)}
            leading.add(tuple(inspector.get_pk_constraint(table)["constrained_columns"][:1]))
            for foreign_key in inspector.get_foreign_keys(table):
                if tuple(foreign_key["constrained_columns"][:1]) not in leading:
                    missing.append(f"{table}.{foreign_key['constrained_columns'][0]}")
        return missing

    async with database.engine.connect() as connection:
        assert await connection.run_sync(unindexed_foreign_keys) == []


async def test_postgres_has_the_vector_extension(database: Database) -> None:
    on_postgresql_only(database, "pgvector is a PostgreSQL extension")
    async with database.session_scope() as session:
        assert await session.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")) == 1


async def test_start_up_upgrades_sqlite_but_refuses_a_postgres_database_behind_head(empty_database_url: URL) -> None:
    engine = create_engine(empty_database_url)
    try:
        if engine.dialect.name == "sqlite":
            await migrate.ensure_current(engine, auto_migrate=False)
            assert await migrate.current_revision(engine) == migrate.head_revision()
            return
        with pytest.raises(migrate.SchemaBehind, match="coursebot db upgrade"):
            await migrate.ensure_current(engine, auto_migrate=False)
        assert await migrate.current_revision(engine) is None  # nothing was touched
        await migrate.ensure_current(engine, auto_migrate=True)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()
