"""A server's data through real discord.py parsing: when the server removes the bot, and when it comes back.

A member's own data (`/profile data|export|delete`) is in `test_profile.py`; it shares the `studying` fixture here.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import scheduler
from bot.clock import FixedClock
from db.models import Guild, GuildRemoval, User
from db.session import Database
from sandbox import DiscordSandbox
from tests.services.test_privacy import rows_mentioning


@pytest.fixture(name="studying")
async def studying_student(student: DiscordSandbox) -> DiscordSandbox:
    """The sample course imported by the instructor; the student enrolled, two lessons read, a reminder set."""
    await student.slash("remind set", time="09:00")
    return student


def person(member: dict[str, object]) -> int:
    return int(member["user"]["id"])  # type: ignore[index]


async def remove_the_bot(sandbox: DiscordSandbox) -> None:
    await sandbox.dispatch("GUILD_DELETE", {"id": sandbox.guild["id"]})


async def test_a_server_that_removes_the_bot_is_purged_after_the_grace_period(
    studying: DiscordSandbox, database: Database, clock: FixedClock
) -> None:
    guild_id = int(studying.guild["id"])
    await remove_the_bot(studying)
    async with database.session_scope() as session:
        removal = await session.get(GuildRemoval, guild_id)
    assert removal is not None and removal.purge_at == clock.now() + timedelta(days=30)

    clock.advance(days=29)
    await scheduler.maintain_privacy(studying.bot)  # type: ignore[arg-type]
    async with database.session_scope() as session:
        assert await session.get(Guild, guild_id) is not None

    clock.advance(days=1)
    await scheduler.maintain_privacy(studying.bot)  # type: ignore[arg-type]
    async with database.session_scope() as session:
        assert await session.get(Guild, guild_id) is None
        # Members' own accounts are not the server's.
        assert await session.get(User, person(studying.student)) is not None
    # Nothing names the server any more but the record of its purge.
    assert await rows_mentioning(database, guild_id) == ["audit_logs.guild_id", "audit_logs.target_ids"]


async def test_adding_the_bot_back_within_the_grace_period_keeps_the_data(
    studying: DiscordSandbox, database: Database, clock: FixedClock
) -> None:
    guild_id = int(studying.guild["id"])
    await remove_the_bot(studying)

    await studying.dispatch("GUILD_CREATE", copy.deepcopy(studying.guild))
    clock.advance(days=31)
    await scheduler.maintain_privacy(studying.bot)  # type: ignore[arg-type]

    async with database.session_scope() as session:
        assert await session.get(GuildRemoval, guild_id) is None
        assert await session.get(Guild, guild_id) is not None
        assert await session.scalar(select(User.id).where(User.id == person(studying.student))) is not None
