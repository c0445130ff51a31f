"""The XP ledger awards each source once and keeps the totals in step, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from functools import partial

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.errors import InvalidInput
from bot.services import audit, xp
from db.models import Course, CourseMemberStats, Guild, MemberStats, User, XPDaily, XPEvent, XPLevel
from db.session import Database
from tests.conftest import on_postgresql_only
from tests.services.course_fixtures import award_xp

GUILD, ALICE, BOB, CAROL = 1001, 2001, 2002, 2003
MONDAY = date(2026, 11, 16)


async def seed(database: Database) -> None:
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), User(id=ALICE, display_name="Alice")])


award = partial(award_xp, day=MONDAY)


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


async def test_course_totals_and_xp_levels_follow_every_award_and_removal(database: Database) -> None:
    """The triggers' derived tables agree with the ledger after awards, a negative adjustment and a removed member."""
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="School"))
        session.add_all(User(id=user, display_name=f"user {user}") for user in (ALICE, BOB, CAROL))
        await session.flush()
        python, sql = Course(guild_id=GUILD, code="PY", title="Python"), Course(guild_id=GUILD, code="SQL", title="SQL")
        session.add_all([python, sql])
    awards = [(ALICE, python.id, 10), (ALICE, sql.id, 5), (BOB, python.id, 15), (CAROL, None, 15), (BOB, None, -5)]
    for number, (user, course, amount) in enumerate(awards):
        await award(database, f"award:{number}", amount, user_id=user, course_id=course)
    async with database.session_scope() as session:
        await session.delete(await session.get(User, CAROL))  # cascades to her member_stats row

    async with database.session_scope() as session:
        course_totals = {
            (row.course_id, row.user_id): row.total_xp for row in await session.scalars(select(CourseMemberStats))
        }
        levels = {row.total_xp: row.members for row in await session.scalars(select(XPLevel)) if row.members}
    assert course_totals == {(python.id, ALICE): 10, (sql.id, ALICE): 5, (python.id, BOB): 15}
    assert levels == {15: 1, 10: 1}  # Alice 15, Bob 15 - 5 = 10; Carol's 15 left with her


async def test_a_classmate_earning_the_same_xp_does_not_wait_for_an_open_award(database: Database) -> None:
    """A class earns alike: two members moving from the same total to the same next one touch the same two
    `xp_levels` rows. Alice's award stays uncommitted (her answer's transaction goes on); Bob's commits at once,
    and the board counts both when Alice's commits."""
    on_postgresql_only(database, "SQLite has one writer: a second award always waits for the first")
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), User(id=ALICE, display_name="Alice")])
        session.add(User(id=BOB, display_name="Bob"))
    alice_awarded, alice_may_commit = asyncio.Event(), asyncio.Event()

    async def alice() -> None:
        async with database.session_scope() as session:
            await xp.award(
                session, guild_id=GUILD, user_id=ALICE, amount=10, action="test", source_key="alice", day=MONDAY
            )
            alice_awarded.set()
            await alice_may_commit.wait()

    alice_answering = asyncio.create_task(alice())
    await alice_awarded.wait()
    try:
        # Waiting on Alice's level rows would take until she commits: never, within this bound.
        async with asyncio.timeout(5):
            await award(database, "bob", 10, user_id=BOB)
    finally:
        alice_may_commit.set()
        await alice_answering
    async with database.session_scope() as session:
        levels = {row.total_xp: row.members for row in await session.scalars(select(XPLevel)) if row.members}
    assert levels == {10: 2}


async def test_a_member_moving_down_takes_the_lower_level_first_so_crossing_moves_cannot_deadlock(
    database: Database,
) -> None:
    """Bob loses 10 XP (110 to 100) as Alice earns 10 (100 to 110): their moves touch the same two levels. Were
    Bob's to take 110 first and Alice's 100 first, each could wait for the other's; every move takes the lower total
    first. Here 110 is held: while Bob's move waits for it, it already holds 100, so a move up waits behind it."""
    on_postgresql_only(database, "SQLite has one writer: two moves never hold rows at once")
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), User(id=ALICE, display_name="Alice")])
        session.add(User(id=BOB, display_name="Bob"))
    await award(database, "alice", 100)
    await award(database, "bob", 110, user_id=BOB)
    async with database.session_scope() as holding:
        await holding.execute(select(XPLevel).where(XPLevel.total_xp == 110).with_for_update())
        bob_losing = asyncio.create_task(award(database, "bob-penalty", -10, user_id=BOB))
        await waiting_for_a_lock(database)
        with pytest.raises(DBAPIError, match="could not obtain lock"):
            async with database.session_scope() as alice_moving_up:
                await alice_moving_up.execute(
                    select(XPLevel).where(XPLevel.total_xp == 100).with_for_update(nowait=True)
                )
    await bob_losing
    async with database.session_scope() as session:
        levels = {row.total_xp: row.members for row in await session.scalars(select(XPLevel)) if row.members}
    assert levels == {100: 2}


OTHERS_WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def waiting_for_a_lock(database: Database) -> None:
    """Return once another transaction of the database waits for a lock (within 5 s)."""
    async with asyncio.timeout(5):
        while True:
            async with database.session_scope() as session:
                if await session.scalar(OTHERS_WAITING_FOR_A_LOCK):
                    return
            await asyncio.sleep(0.02)


# 11:00 UTC on Sunday, Nov 22 is already 01:00 on Monday, Nov 23 in Kiritimati (UTC+14).
SUNDAY_LATE_MORNING = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


async def adjust(
    database: Database, amount: int, *, request_id: str, reason: str = "helped a classmate"
) -> xp.Adjustment:
    async with database.session_scope() as session:
        return await xp.adjust(
            session,
            guild_id=GUILD,
            actor_id=ALICE,
            user_id=BOB,
            display_name="Bob",
            amount=amount,
            reason=reason,
            now=SUNDAY_LATE_MORNING,
            request_id=request_id,
        )


async def test_an_adjustment_counts_once_on_the_guilds_date_and_gives_the_new_total(database: Database) -> None:
    """Bob never used the bot: the adjustment makes his row. A redelivered request changes nothing."""
    async with database.session_scope() as session:
        session.add_all(
            [Guild(id=GUILD, name="School", time_zone="Pacific/Kiritimati"), User(id=ALICE, display_name="Alice")]
        )

    given = await adjust(database, 30, request_id="interaction-1")
    redelivered = await adjust(database, 30, request_id="interaction-1")
    taken = await adjust(database, -5, request_id="interaction-2", reason="  duplicate answer  ")

    assert (given, redelivered, taken) == (xp.Adjustment(True, 30), xp.Adjustment(False, 30), xp.Adjustment(True, 25))
    async with database.session_scope() as session:
        assert (await session.get(User, BOB)).display_name == "Bob"
        ledger = (await session.execute(select(XPEvent.amount, XPEvent.day, XPEvent.reason).order_by(XPEvent.id))).all()
        entries = await audit.recent(session, guild_id=GUILD)
    assert ledger == [(30, date(2026, 11, 23), "helped a classmate"), (-5, date(2026, 11, 23), "duplicate answer")]
    assert [(entry.actor_id, entry.action, entry.target_ids, entry.meta) for entry in reversed(entries)] == [
        (ALICE, "xp.adjust", [BOB], {"amount": 30, "reason": "helped a classmate"}),
        (ALICE, "xp.adjust", [BOB], {"amount": -5, "reason": "duplicate answer"}),
    ]


async def test_an_adjustment_needs_an_amount_and_a_reason(database: Database) -> None:
    await seed(database)
    with pytest.raises(InvalidInput, match="0 XP changes nothing"):
        await adjust(database, 0, request_id="interaction-1")
    with pytest.raises(InvalidInput, match="Say why"):
        await adjust(database, 10, request_id="interaction-2", reason="   ")
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(XPEvent)) == 0
        assert await session.get(User, BOB) is None
