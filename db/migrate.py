"""Schema migrations from code: upgrade, downgrade, and the checks `coursebot db check` reports.

Alembic is the only way the schema changes. These helpers run its commands on a connection of our
own async engine, so they work inside a running event loop (bot start-up, tests) as well as the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import db.models  # noqa: F401  (registers every table on Base.metadata)
from db.base import Base
from db.models.tutor import FTS_TABLE, SEARCH_OBJECTS

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Objects the migrations create for one backend only, so the models do not declare them: the search
# objects of the tutor, and the shadow tables SQLite's FTS5 keeps beside its full-text table.
UNMODELLED_OBJECTS = frozenset(SEARCH_OBJECTS) | {
    f"{FTS_TABLE}_{shadow}" for shadow in ("data", "idx", "content", "docsize", "config")
}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Whether `alembic check` compares this object with the models: not when it is in `UNMODELLED_OBJECTS`."""
    return not (reflected and compare_to is None and name in UNMODELLED_OBJECTS)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logging"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str
    drift: list[Any]

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    @property
    def is_clean(self) -> bool:
        return self.is_current and not self.drift


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when it has no schema yet)."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def status(engine: AsyncEngine) -> SchemaStatus:
    """Where the database is against head, and how its schema differs from the models (empty = none)."""

    def inspect(sync: Connection) -> SchemaStatus:
        context = MigrationContext.configure(
            sync,
            opts={
                "compare_type": True,
                "render_as_batch": sync.dialect.name == "sqlite",
                "include_object": include_object,
            },
        )
        drift = compare_metadata(context, Base.metadata)
        return SchemaStatus(current=context.get_current_revision(), head=head_revision(), drift=drift)

    async with engine.connect() as connection:
        return await connection.run_sync(inspect)


class SchemaBehind(Exception):
    """The database is behind the code's schema and may not be upgraded automatically."""


async def ensure_current(engine: AsyncEngine, *, auto_migrate: bool) -> None:
    """Bring the schema to head before the bot starts.

    SQLite (the embedded single-process default) is always upgraded. PostgreSQL is shared by every
    bot process, so it is upgraded only when `auto_migrate` is set; otherwise this refuses to start.
    """
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return
    if engine.dialect.name == "sqlite" or auto_migrate:
        await upgrade(engine)
        return
    raise SchemaBehind(
        f"The database is at revision {current or 'none (empty)'} but this code needs {head}. "
        "Run `coursebot db upgrade` (or set database.auto_migrate = true) and start again."
    )
