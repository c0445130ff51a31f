"""The XP ledger awards each source once and keeps the totals in step, on both backends."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from bot.services import xp
from db.models import Guild, MemberStats, User, XPDaily, XPEvent
from db.session import Database

GUILD, ALICE = 1001, 2001
MONDAY = date(2026, 11, 16)


async def seed(database: Database) -> None:
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), User(id=ALICE, display_name="Alice")])


async def award(database: Database, source_key: str, amount: int = 10, day: date = MONDAY) -> xp.Award:
    async with database.session_scope() as session:
        return await xp.award(
            session, guild_id=GUILD, user_id=ALICE, amount=amount, action="test", source_key=source_key, day=day
        )


async def test_replaying_an_award_changes_nothing(database: Database) -> None:
    await seed(database)
    first = await award(database, "lesson:1")
    replay = await award(database, "lesson:1")
    assert first == xp.Award(amount=10, recorded=True)
    assert replay == xp.Award(amount=0, recorded=False)
    async with database.session_scope() as session:
        assert await session.scalar(select(MemberStats.total_xp)) == 10
        assert len((await session.scalars(select(XPEvent))).all()) == 1


async def test_totals_and_daily_rows_follow_the_ledger(database: Database) -> None:
    await seed(database)
    await award(database, "a", 10)
    await award(database, "b", 5)
    await award(database, "c", 7, day=date(2026, 11, 17))
    async with database.session_scope() as session:
        assert await session.scalar(select(MemberStats.total_xp)) == 22
        daily = {(row.day, row.course_id): row.xp for row in await session.scalars(select(XPDaily))}
    assert daily == {(MONDAY, 0): 15, (date(2026, 11, 17), 0): 7}


async def test_concurrent_replays_of_one_source_award_once(database: Database) -> None:
    await seed(database)
    results = await asyncio.gather(*(award(database, "quiz_passed:1", 50) for _ in range(10)))
    assert sum(result.recorded for result in results) == 1
    async with database.session_scope() as session:
        assert await session.scalar(select(MemberStats.total_xp)) == 50
