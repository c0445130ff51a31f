"""What the bot remembers having written (guild and member rows) is bounded: the least recently seen is forgotten,
and a forgotten member is simply written again on their next command."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.app import REMEMBERED_GUILDS, REMEMBERED_MEMBERS, RecentlySeen
from db.models import User
from db.session import Database
from sandbox import DiscordSandbox


def test_only_the_most_recent_keys_are_kept() -> None:
    seen: RecentlySeen[int] = RecentlySeen(3)
    for key in range(10):
        seen.add(key)
    assert len(seen) == 3
    assert [key for key in range(10) if seen.seen(key)] == [7, 8, 9]


def test_a_key_seen_again_outlives_newer_ones() -> None:
    seen: RecentlySeen[str] = RecentlySeen(2)
    seen.add("a")
    seen.add("b")
    assert seen.seen("a")
    seen.add("c")
    assert seen.seen("a") and seen.seen("c") and not seen.seen("b")


def test_a_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        RecentlySeen(0)


async def test_the_bot_remembers_a_bounded_number_of_members(
    discord_sandbox: DiscordSandbox, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = discord_sandbox.bot
    assert bot._remembered.capacity == REMEMBERED_MEMBERS and bot._known_guilds.capacity == REMEMBERED_GUILDS
    monkeypatch.setattr(bot, "_remembered", RecentlySeen(3))
    members = [await discord_sandbox.add_member(f"member{number}") for number in range(6)]
    for member in members:
        await discord_sandbox.slash("profile show", user=member)
    assert len(bot._remembered) == 3

    again = await discord_sandbox.slash("profile show", user=members[0])  # forgotten, so written again: still works
    assert "Your profile" in again.text and len(bot._remembered) == 3
    async with database.session_scope() as session:
        ids = [int(member["user"]["id"]) for member in members]
        assert await session.scalar(select(func.count()).select_from(User).where(User.id.in_(ids))) == 6
