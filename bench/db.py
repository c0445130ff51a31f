"""Ledger writes: one XP event (its trigger adds it to member_stats and xp_daily), one transaction each; latencies
against a primary-key read in its own transaction (the floor)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date

from bench._harness import Figure, StatementCounter, fresh_database, latency_figures, pk_read_floor
from bot.services import xp
from db.models import Guild, User
from db.session import Database

GUILD = 1
USERS = 200


async def write(database: Database, number: int) -> float:
    """One award in its own transaction; returns its latency in seconds."""
    started = time.perf_counter()
    async with database.session_scope() as session:
        await xp.award(
            session,
            guild_id=GUILD,
            user_id=number % USERS + 1,
            amount=5,
            action="bench",
            source_key=f"bench:{number}",
            day=date(2026, 11, 1 + number % 28),
        )
    return time.perf_counter() - started


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    writes = max(100, int(5000 * scale))
    for backend in backends:
        async with fresh_database(backend) as database:
            async with database.session_scope() as session:
                session.add(Guild(id=GUILD, name="Bench"))
                session.add_all(User(id=user, display_name=f"user{user}") for user in range(1, USERS + 1))

            latencies: list[float] = []
            with StatementCounter(database) as counter:
                started = time.perf_counter()
                for number in range(writes):
                    latencies.append(await write(database, number))
                sequential_seconds = time.perf_counter() - started
            yield Figure("db", backend, "ledger_writes_per_second", round(writes / sequential_seconds, 1), "writes/s")
            yield Figure("db", backend, "statements_per_write", counter.count / writes, "statements")
            for figure in latency_figures("db", backend, "write", latencies, await pk_read_floor(database)):
                yield figure

            # Eight writers at once: what a busy guild looks like.
            started = time.perf_counter()
            batch = range(writes, writes * 2)
            for chunk_start in range(0, len(batch), 8):
                await asyncio.gather(*(write(database, number) for number in batch[chunk_start : chunk_start + 8]))
            concurrent_seconds = time.perf_counter() - started
            yield Figure(
                "db", backend, "ledger_writes_per_second_8_writers", round(writes / concurrent_seconds, 1), "writes/s"
            )
