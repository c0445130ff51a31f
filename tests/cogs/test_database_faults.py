"""A database that is down, write-locked or frozen costs a member a clear answer in time, never silence, and the
bot recovers by itself once the database is back. The bounds are the [database] settings, made small here."""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from discord import Interaction, app_commands
from discord.ext import commands
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from bot.app import CourseBot, database_from
from bot.clock import FixedClock
from bot.config import Settings
from bot.errors import CourseError
from bot.services import content, tenancy
from bot.services.coursepack import load_package
from cogs.errors import user_message
from db.models import User
from db.session import Database, DeadlineExceeded, is_database_fault
from sandbox import DiscordSandbox, Reply
from tests.cogs.conftest import START, running_sandbox
from tests.cogs.course_fixtures import SAMPLE
from tests.conftest import TEMPLATE_DB, run_admin

BOUNDS = {
    "connect_timeout_seconds": 0.5,
    "statement_timeout_seconds": 0.2,
    "pool_timeout_seconds": 5.0,  # longer than the interaction bound, as by default: the deadline cuts first
    "interaction_timeout_seconds": 0.6,
}
# What a member notices: an answer before Discord gives up on the interaction ("The application did not respond",
# 3 s after it was sent). The bound above is far inside it, so a machine busy with other tests still answers in time.
ANSWERED_WITHIN = 3.0
NOT_ANSWERING = "database isn't answering right now"
_numbers = iter(range(1_000_000))


@pytest.fixture
def bounded(settings: Settings) -> Settings:
    return settings.model_copy(update={"database": settings.database.model_copy(update=BOUNDS)})


def bounded_database(settings: Settings, url: str | URL) -> Database:
    written = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return database_from(settings.database.model_copy(update={"url": written}))


@asynccontextmanager
async def running(database: Database, settings: Settings, *, settle: float = 0.2) -> AsyncIterator[DiscordSandbox]:
    """A started sandbox around a CourseBot on `database`; fails on any ERROR log, as the cog fixture does."""
    async with running_sandbox(
        CourseBot(settings, database=database, clock=FixedClock(START)), settle=settle
    ) as sandbox:
        yield sandbox


def assert_told_in_time(reply: Reply) -> None:
    assert reply.ephemeral and NOT_ANSWERING in reply.text and "Nothing was lost" in reply.text, reply.text
    assert reply.acknowledged_after is not None and reply.acknowledged_after <= ANSWERED_WITHIN, reply


# -- PostgreSQL behind a relay that can go down or freeze ----------------------------------------------------------


class PostgresRelay:
    """A TCP relay in front of PostgreSQL on a fixed local port: `stop()` takes it down (connections refused,
    open ones cut), `freeze()` keeps connections open but relays nothing (a server or network that hangs)."""

    def __init__(self, upstream: URL) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._relaying = asyncio.Event()
        self._relaying.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    def freeze(self) -> None:
        self._relaying.clear()

    def thaw(self) -> None:
        self._relaying.set()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_folder = self.upstream.query.get("host")
        if isinstance(socket_folder, str) and socket_folder.startswith("/"):
            return await asyncio.open_unix_connection(f"{socket_folder}/.s.PGSQL.{self.upstream.port or 5432}")
        return await asyncio.open_connection(self.upstream.host or "127.0.0.1", self.upstream.port or 5432)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await self._connect_upstream()
        self._writers += [client_writer, server_writer]

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    await self._relaying.wait()
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


@pytest.fixture
async def relayed_postgres(postgres_template: URL, bounded: Settings) -> AsyncIterator[tuple[Database, PostgresRelay]]:
    """A fresh PostgreSQL database at head, reached through a `PostgresRelay`, with the small bounds."""
    name = f"coursebot_faults_{os.getpid()}_{next(_numbers)}"
    await run_admin(postgres_template, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    relay = PostgresRelay(postgres_template)
    await relay.start()
    url = postgres_template.set(host="127.0.0.1", port=relay.port, database=name, query={})
    database = bounded_database(bounded, url)
    try:
        yield database, relay
    finally:
        relay.thaw()
        if not relay.running:
            await relay.start()
        await database.dispose()
        await relay.stop()
        await run_admin(postgres_template, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_a_new_members_first_command_is_answered_while_postgresql_is_down(
    relayed_postgres: tuple[Database, PostgresRelay], bounded: Settings
) -> None:
    database, relay = relayed_postgres
    async with running(database, bounded) as sandbox:
        await sandbox.slash("profile show", user=sandbox.owner)  # the owner's rows are written while all is well
        newcomer = await sandbox.add_member("newcomer")
        await relay.stop()

        first = await sandbox.slash("profile show", user=newcomer)  # fails in the tree's check: the tenancy upsert
        privileged = await sandbox.slash("admin audit", user=sandbox.owner)  # fails in the command's level check
        suggestions = await sandbox.autocomplete("lesson next", "course", "PY", user=newcomer)

        assert_told_in_time(first)
        assert_told_in_time(privileged)
        assert suggestions == []

        await relay.start()
        again = await sandbox.slash("profile show", user=newcomer)
    assert "Your profile" in again.text
    async with database.session_scope() as session:
        assert await session.get(User, int(newcomer["user"]["id"])) is not None


async def test_a_frozen_postgresql_costs_a_clear_answer_in_time_then_recovers(
    relayed_postgres: tuple[Database, PostgresRelay], bounded: Settings
) -> None:
    database, relay = relayed_postgres
    async with running(database, bounded) as sandbox:
        await sandbox.slash("profile show", user=sandbox.owner)
        relay.freeze()
        known, newcomer = await asyncio.gather(
            sandbox.slash("profile timezone", user=sandbox.owner, zone="Europe/Paris"),
            sandbox.slash("profile show", user=await sandbox.add_member("newcomer")),
        )
        assert_told_in_time(known)
        assert_told_in_time(newcomer)

        relay.thaw()
        saved = await sandbox.slash("profile timezone", user=sandbox.owner, zone="Europe/Paris")
    assert "Europe/Paris" in saved.text


# -- SQLite write-locked by another connection ---------------------------------------------------------------------


@pytest.fixture
async def sqlite_file(sqlite_template: Path, tmp_path: Path, bounded: Settings) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "coursebot.db"
    shutil.copyfile(sqlite_template, path)
    database = bounded_database(bounded, f"sqlite+aiosqlite:///{path}")
    yield database, path
    await database.dispose()


def write_lock(path: Path) -> sqlite3.Connection:
    """Another connection (as another process would) holding SQLite's write lock until it is closed."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def enrolled_classroom(sandbox: DiscordSandbox, database: Database, *, size: int) -> list[Any]:
    """The sample course, published, with `size` members enrolled; returns those members."""
    async with database.session_scope() as session:
        guild_id = int(sandbox.guild["id"])
        await tenancy.remember_guild(session, guild_id=guild_id, name=sandbox.guild["name"])
        await content.import_package(
            session, guild_id=guild_id, actor_id=0, package=load_package(SAMPLE), publish=True, now=START
        )
    members = [sandbox.student, *[await sandbox.add_member(f"student{number}") for number in range(1, size)]]
    for member in members:
        assert "Welcome to PY101" in (await sandbox.slash("course enroll", user=member, course="PY101")).text
    return members


async def test_members_queued_behind_a_write_locked_sqlite_file_are_all_answered_in_time(
    sqlite_file: tuple[Database, Path], bounded: Settings
) -> None:
    database, path = sqlite_file
    async with running(database, bounded) as sandbox:
        # Each would wait the busy timeout in turn, longer than the bound all together: the deadline cuts the queue.
        queue = 2 * round(BOUNDS["interaction_timeout_seconds"] / BOUNDS["statement_timeout_seconds"]) + 2
        members = await enrolled_classroom(sandbox, database, size=queue)
        holder = write_lock(path)
        try:
            replies = await asyncio.gather(*(sandbox.slash("lesson next", user=member) for member in members))
        finally:
            holder.close()
        for reply in replies:
            assert_told_in_time(reply)

        lesson = await sandbox.slash("lesson next", user=sandbox.student)
    assert lesson.embeds[0]["title"] == "What is Python?"


async def test_a_lock_held_briefly_is_waited_for_not_refused(
    sqlite_file: tuple[Database, Path], bounded: Settings
) -> None:
    database, path = sqlite_file
    async with running(database, bounded) as sandbox:
        await sandbox.slash("profile show", user=sandbox.student)
        holder = write_lock(path)
        # Released well within the busy timeout (statement_timeout_seconds): the command waits, then succeeds.
        asyncio.get_running_loop().call_later(BOUNDS["statement_timeout_seconds"] / 4, holder.close)
        saved = await sandbox.slash("profile timezone", user=sandbox.student, zone="Asia/Tokyo")
    assert "Asia/Tokyo" in saved.text


# -- Whatever a check raises reaches the one error handler --------------------------------------------------------


def test_discord_py_still_hands_each_interaction_to_the_trees_call() -> None:
    """`CourseTree._call` overrides a private method of discord.py: this fails loudly if discord.py stops using it."""
    assert "await self._call(interaction)" in inspect.getsource(app_commands.CommandTree._from_interaction)


async def test_an_error_raised_in_the_trees_check_reaches_the_error_handler(
    discord_sandbox: DiscordSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(interaction: Any) -> None:
        raise CourseError("That option value is not allowed here.")

    monkeypatch.setattr(discord_sandbox.bot, "remember", refuse)
    reply = await discord_sandbox.slash("profile show")
    assert reply.ephemeral and "That option value is not allowed here." in reply.text


async def test_an_acknowledged_interaction_gets_the_full_bound_then_a_clear_answer(
    sqlite_file: tuple[Database, Path], bounded: Settings
) -> None:
    database, _ = sqlite_file
    release = asyncio.Event()

    class Slow(commands.Cog):
        @app_commands.command(name="slow-work")
        async def slow(self, interaction: Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            async with interaction.client.db.session_scope():  # type: ignore[attr-defined]
                await release.wait()  # work that never ends by itself: only the deadline stops it

    # The sandbox returns a deferred reply after `settle` s of silence: wait past the deadline for the answer.
    async with running(database, bounded, settle=BOUNDS["interaction_timeout_seconds"] + 1.2) as sandbox:
        await sandbox.bot.add_cog(Slow())
        reply = await sandbox.slash("slow-work", user=sandbox.owner)
        release.set()
        after = await sandbox.slash("profile show", user=sandbox.owner)
    assert reply.deferred and NOT_ANSWERING in reply.text
    assert "Your profile" in after.text


def test_the_deadline_and_the_lock_read_as_a_database_that_is_not_answering() -> None:
    assert NOT_ANSWERING in (user_message(DeadlineExceeded()) or "")
    locked = sqlite3.OperationalError("database is locked")
    assert NOT_ANSWERING in (user_message(OperationalError("BEGIN IMMEDIATE", {}, locked)) or "")
    assert user_message(TimeoutError()) is None  # a timeout outside the database driver is not the database's


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_closed_postgresql_port_fails_fast_with_a_database_fault(postgres_url: URL, bounded: Settings) -> None:
    database = bounded_database(bounded, postgres_url.set(host="127.0.0.1", port=_closed_port(), query={}))
    try:
        with pytest.raises(Exception) as refused:
            async with database.session_scope() as session:
                await session.scalar(select(1))
    finally:
        await database.dispose()
    assert is_database_fault(refused.value), repr(refused.value)
