"""Cog tests: the real CourseBot, on a real database, driven through real discord.py gateway parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from db.session import Database
from sandbox import DiscordSandbox
from tests.cogs.course_fixtures import import_sample

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@asynccontextmanager
async def running_sandbox(bot: CourseBot, **options: Any) -> AsyncIterator[DiscordSandbox]:
    """A started sandbox around `bot`; the test fails on any ERROR log from the bot or discord.py."""
    sandbox = DiscordSandbox(bot, **options)
    await sandbox.start()
    try:
        yield sandbox
        sandbox.assert_no_errors()
    finally:
        await sandbox.close()


@pytest.fixture
async def discord_sandbox(database: Database, settings: Settings, clock: FixedClock) -> AsyncIterator[DiscordSandbox]:
    """A started sandbox around a fresh CourseBot; the test fails on any ERROR log from the bot or discord.py."""
    async with running_sandbox(CourseBot(settings, database=database, clock=clock)) as sandbox:
        yield sandbox


@pytest.fixture
async def classroom(discord_sandbox: DiscordSandbox) -> DiscordSandbox:
    """The sandbox with the Instructor role mapped and the sample course imported and published."""
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
    imported = await import_sample(sandbox)
    assert "Created PY101" in imported.text, imported.text
    return sandbox


@pytest.fixture
async def student(classroom: DiscordSandbox) -> DiscordSandbox:
    """The classroom with the student enrolled and the first lesson finished (on the clock's Monday)."""
    await classroom.slash("course enroll", course="PY101")
    await classroom.slash("lesson next")
    await classroom.slash("lesson next")
    return classroom
