"""The console driven in-process, as a newcomer would type into it, with what it printed kept for assertions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.console import Console, first_start

SAMPLE = Path(__file__).resolve().parent.parent.parent / "content" / "python-basics"
BUTTON = re.compile(r"\[(\d+): ([^\]]+)\]")


class ConsoleSession:
    """A console over a started sandbox, acting as the student at first; `run` returns what one line printed."""

    def __init__(self, sandbox: DiscordSandbox) -> None:
        self.printed: list[str] = []
        self.console = Console(sandbox, acting_as="student", write=self.printed.append)

    async def run(self, line: str) -> str:
        start = len(self.printed)
        await self.console.handle(line)
        return "\n".join(self.printed[start:])

    @staticmethod
    def buttons(shown: str) -> dict[str, int]:
        """The numbered buttons of the last message in `shown`: label (without a chosen mark) -> number."""
        last_row = [line for line in shown.splitlines() if BUTTON.search(line)][-1]
        return {label.removesuffix(" ✓"): int(number) for number, label in BUTTON.findall(last_row)}


@pytest.fixture
async def console(database: Database, settings: Settings) -> AsyncIterator[ConsoleSession]:
    """A first start of the console (sample course imported) over the test's database and settings."""
    bot = CourseBot(settings, database=database, clock=FixedClock(datetime(2026, 11, 23, 10, tzinfo=UTC)))
    sandbox = DiscordSandbox(bot, timeout=30.0)
    await sandbox.start()
    session = ConsoleSession(sandbox)
    try:
        await first_start(session.console, bot, SAMPLE)
        yield session
        sandbox.assert_no_errors()
    finally:
        await sandbox.close()
