"""Every wait on the database is bounded: a unit of work past its deadline is rolled back and says so, a
statement past the statement timeout is stopped, a wait for a connection fails when none comes back (and waits
its turn while they do), and all read as a database fault, not a bug."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from db.models import Guild
from db.session import Database, DeadlineExceeded, is_database_fault, limit_work
from tests.conftest import TEMPLATE_DB, run_admin


async def in_own_task(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` in a task of its own, so a `limit_work` rule set there stays there."""
    await asyncio.create_task(coroutine)


async def test_a_unit_of_work_past_its_deadline_is_rolled_back_and_says_so(database: Database) -> None:
    never = asyncio.Event()

    async def work_that_hangs() -> None:
        loop = asyncio.get_running_loop()
        limit_work(lambda: loop.time() + 0.2)
        async with database.session_scope() as session:
            session.add(Guild(id=42, name="Never saved"))
            await session.flush()
            await never.wait()

    with pytest.raises(DeadlineExceeded) as exceeded:
        await in_own_task(work_that_hangs())
    assert is_database_fault(exceeded.value)
    async with database.session_scope() as session:  # this task has no rule: no deadline
        assert await session.scalar(select(func.count()).select_from(Guild).where(Guild.id == 42)) == 0


async def test_the_deadline_is_asked_as_each_unit_of_work_opens(database: Database) -> None:
    asked = []

    async def two_units() -> None:
        loop = asyncio.get_running_loop()
        limit_work(lambda: asked.append(loop.time()) or loop.time() + 5)  # type: ignore[func-returns-value]
        for _ in range(2):
            async with database.session_scope() as session:
                await session.scalar(select(1))

    await in_own_task(two_units())
    assert len(asked) == 2


async def test_a_statement_past_the_statement_timeout_is_stopped(postgres_template: URL) -> None:
    name = f"coursebot_timeouts_{os.getpid()}"
    await run_admin(
        postgres_template, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"
    )
    database = Database.from_url(postgres_template.set(database=name), statement_timeout=0.2, connect_timeout=1)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(Exception) as stopped:
            async with database.session_scope() as session:
                await session.execute(text("SELECT pg_sleep(5)"))
        assert asyncio.get_running_loop().time() - started < 2
        assert is_database_fault(stopped.value), repr(stopped.value)
        async with database.session_scope() as session:  # the pool recovers by itself
            assert await session.scalar(select(1)) == 1
    finally:
        await database.dispose()
        await run_admin(postgres_template, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


POOL_WAIT_S = 0.5


def one_connection(database: Database) -> Database:
    """The same database through a pool of one connection that waits `POOL_WAIT_S` for it."""
    return Database.from_url(database.engine.url, pool_size=1, max_overflow=0, pool_timeout=POOL_WAIT_S)


async def test_a_long_queue_that_keeps_moving_waits_its_turn(database: Database) -> None:
    """A burst longer than the pool timeout: the last unit waits about twice the timeout, yet nobody fails."""
    queued = one_connection(database)
    finished = []

    async def unit(number: int) -> None:
        async with queued.session_scope() as session:
            await session.scalar(select(1))
            await asyncio.sleep(POOL_WAIT_S / 5)  # each holds the connection a fifth of the pool timeout
        finished.append(number)

    try:
        await asyncio.gather(*(unit(number) for number in range(12)))
    finally:
        await queued.dispose()
    assert sorted(finished) == list(range(12))


async def test_a_queue_that_does_not_move_fails_after_the_pool_timeout(database: Database) -> None:
    queued = one_connection(database)
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with queued.session_scope() as session:
            await session.scalar(select(1))
            holding.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await holding.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(sqlalchemy.exc.TimeoutError) as waited:
            async with queued.session_scope() as session:
                await session.scalar(select(1))
        assert POOL_WAIT_S <= loop.time() - started < POOL_WAIT_S * 4
        assert is_database_fault(waited.value)
    finally:
        release.set()
        await held
        await queued.dispose()


def test_a_bug_is_not_a_database_fault() -> None:
    assert not is_database_fault(RuntimeError("boom"))
    assert not is_database_fault(TimeoutError())  # not raised inside the database driver
    assert not is_database_fault(ConnectionRefusedError())
