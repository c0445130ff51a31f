"""Cog tests: the real CourseBot, on a real database, driven through real discord.py gateway parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from db.session import Database
from sandbox import DiscordSandbox

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def discord_sandbox(database: Database, settings: Settings, clock: FixedClock) -> AsyncIterator[DiscordSandbox]:
    """A started sandbox around a fresh CourseBot; the test fails on any ERROR log from the bot or discord.py."""
    sandbox = DiscordSandbox(CourseBot(settings, database=database, clock=clock))
    await sandbox.start()
    try:
        yield sandbox
        sandbox.assert_no_errors()
    finally:
        await sandbox.close()
