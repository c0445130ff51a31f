"""Leaderboards rank by XP with shared ranks for ties, show the viewer's own standing, respect opt-outs, and
count the week from Monday and the month from the 1st of the guild's calendar; on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.errors import NotFound
from bot.services import leaderboard
from bot.services.leaderboard import Board, BoardEntry, Period
from db.models import Course, Guild, User
from db.session import Database
from tests.conftest import counted_statements
from tests.services.course_fixtures import award_xp

GUILD, OTHER_GUILD = 1001, 1002
ADA, BEN, CAL, DEE, EVE = 2001, 2002, 2003, 2004, 2005
NAMES = {ADA: "Ada", BEN: "Ben", CAL: "Cal", DEE: "Dee", EVE: "Eve"}
WEDNESDAY = date(2026, 11, 18)
MONDAY = WEDNESDAY - timedelta(days=2)


async def seed(database: Database) -> tuple[int, int]:
    """The guild, five members, and two courses of the guild plus one of another guild; returns the guild's."""
    async with database.session_scope() as session:
        session.add_all([Guild(id=GUILD, name="School"), Guild(id=OTHER_GUILD, name="Elsewhere")])
        session.add_all(User(id=user_id, display_name=name) for user_id, name in NAMES.items())
        await session.flush()
        python = Course(guild_id=GUILD, code="PY", title="Python")
        rust = Course(guild_id=GUILD, code="RS", title="Rust")
        session.add_all([python, rust, Course(guild_id=OTHER_GUILD, code="GO", title="Go")])
        await session.flush()
        return python.id, rust.id


async def earn(
    database: Database, user_id: int, amount: int, *, on: date = WEDNESDAY, course_id: int | None = None
) -> None:
    source_key = f"test:{user_id}:{amount}:{on}:{course_id}"
    await award_xp(database, source_key, amount, day=on, user_id=user_id, course_id=course_id)


async def board(
    database: Database,
    *,
    viewer_id: int = ADA,
    period: Period = "all",
    course_id: int | None = None,
    limit: int = 10,
    offset: int = 0,
    today: date = WEDNESDAY,
    guild_id: int = GUILD,
) -> Board:
    async with database.session_scope() as session:
        return await leaderboard.top(
            session,
            guild_id=guild_id,
            course_id=course_id,
            period=period,
            today=today,
            limit=limit,
            offset=offset,
            viewer_id=viewer_id,
        )


def ranked(shown: Board) -> list[tuple[int, str, int]]:
    return [(entry.rank, entry.display_name, entry.xp) for entry in shown.entries]


async def earn_tied_scores(database: Database) -> None:
    for user_id, amount in ((ADA, 50), (CAL, 30), (BEN, 30), (DEE, 10)):
        await earn(database, user_id, amount)


async def set_visible(database: Database, user_id: int, visible: bool) -> None:
    async with database.session_scope() as session:
        await leaderboard.set_leaderboard_visibility(session, user_id=user_id, visible=visible)


async def test_equal_xp_shares_a_rank_and_is_listed_by_user_id(database: Database) -> None:
    await seed(database)
    await earn_tied_scores(database)
    shown = await board(database)
    assert ranked(shown) == [(1, "Ada", 50), (2, "Ben", 30), (2, "Cal", 30), (4, "Dee", 10)]
    assert not shown.has_next_page


async def test_the_viewer_sees_their_own_rank_off_the_page(database: Database) -> None:
    await seed(database)
    await earn_tied_scores(database)
    shown = await board(database, viewer_id=DEE, limit=2)
    assert ranked(shown) == [(1, "Ada", 50), (2, "Ben", 30)]
    assert shown.has_next_page
    assert shown.viewer == BoardEntry(rank=4, user_id=DEE, display_name="Dee", xp=10)


async def test_a_later_page_keeps_a_tie_that_spans_the_page_break(database: Database) -> None:
    await seed(database)
    await earn_tied_scores(database)
    shown = await board(database, limit=2, offset=2, viewer_id=BEN)
    assert ranked(shown) == [(2, "Cal", 30), (4, "Dee", 10)]
    assert shown.viewer == BoardEntry(rank=2, user_id=BEN, display_name="Ben", xp=30)
    assert not shown.has_next_page


async def test_a_viewer_without_xp_has_no_standing(database: Database) -> None:
    await seed(database)
    await earn_tied_scores(database)
    assert (await board(database, viewer_id=EVE)).viewer is None


async def test_opted_out_members_are_neither_listed_nor_counted(database: Database) -> None:
    await seed(database)
    await earn_tied_scores(database)
    await set_visible(database, ADA, False)
    hidden = await board(database, viewer_id=DEE)
    assert ranked(hidden) == [(1, "Ben", 30), (1, "Cal", 30), (3, "Dee", 10)]
    assert hidden.viewer == BoardEntry(rank=3, user_id=DEE, display_name="Dee", xp=10)
    assert (await board(database, viewer_id=ADA)).viewer is None
    assert ranked(await board(database, period="week", viewer_id=DEE))[0] == (1, "Ben", 30)

    await set_visible(database, ADA, True)
    assert ranked(await board(database))[0] == (1, "Ada", 50)


async def test_visibility_keeps_the_other_preferences(database: Database) -> None:
    await seed(database)
    async with database.session_scope() as session:
        (await session.get(User, ADA)).preferences = {"reminders": "daily"}
    await set_visible(database, ADA, False)
    async with database.session_scope() as session:
        assert await session.scalar(select(User.preferences).where(User.id == ADA)) == {
            "reminders": "daily",
            "leaderboard": "off",
        }
    await set_visible(database, ADA, True)
    async with database.session_scope() as session:
        assert await session.scalar(select(User.preferences).where(User.id == ADA)) == {"reminders": "daily"}


async def test_the_week_starts_on_monday_of_the_guild_calendar(database: Database) -> None:
    await seed(database)
    await earn(database, ADA, 40, on=MONDAY - timedelta(days=1))  # Sunday: last week
    await earn(database, BEN, 20, on=MONDAY)
    await earn(database, CAL, 10, on=WEDNESDAY)
    await earn(database, DEE, 99, on=WEDNESDAY + timedelta(days=1))  # not yet: after today
    this_week = await board(database, period="week")
    assert ranked(this_week) == [(1, "Ben", 20), (2, "Cal", 10)]
    assert this_week.starts_on == MONDAY and this_week.viewer is None
    last_sunday = await board(database, period="week", today=MONDAY - timedelta(days=1))
    assert ranked(last_sunday) == [(1, "Ada", 40)]


async def test_the_month_starts_on_the_first(database: Database) -> None:
    await seed(database)
    await earn(database, ADA, 40, on=date(2026, 10, 31))
    await earn(database, BEN, 20, on=date(2026, 11, 1))
    await earn(database, BEN, 5, on=WEDNESDAY)
    this_month = await board(database, period="month")
    assert ranked(this_month) == [(1, "Ben", 25)]
    assert this_month.starts_on == date(2026, 11, 1)
    assert ranked(await board(database, period="all")) == [(1, "Ada", 40), (2, "Ben", 25)]


async def test_a_course_board_counts_only_that_course(database: Database) -> None:
    python, rust = await seed(database)
    await earn(database, ADA, 50, course_id=rust)
    await earn(database, BEN, 30, course_id=python)
    await earn(database, CAL, 20, course_id=python, on=MONDAY)
    await earn(database, CAL, 15)  # XP outside any course, e.g. a streak milestone
    assert ranked(await board(database, course_id=python)) == [(1, "Ben", 30), (2, "Cal", 20)]
    assert ranked(await board(database, course_id=python, period="week", today=MONDAY)) == [(1, "Cal", 20)]
    assert ranked(await board(database, course_id=rust)) == [(1, "Ada", 50)]
    assert ranked(await board(database)) == [(1, "Ada", 50), (2, "Cal", 35), (3, "Ben", 30)]


async def test_a_course_board_leaves_out_opted_out_members_above_and_below(database: Database) -> None:
    python, _ = await seed(database)
    for user_id, amount in ((ADA, 50), (BEN, 40), (CAL, 30), (DEE, 20)):
        await earn(database, user_id, amount, course_id=python)
    await set_visible(database, ADA, False)
    await set_visible(database, CAL, False)
    # Dee has two opted-out members above and one visible: each counted once, by whichever way is cheaper.
    shown = await board(database, course_id=python, viewer_id=DEE, limit=1, offset=1)
    assert ranked(shown) == [(2, "Dee", 20)]
    assert shown.viewer == BoardEntry(rank=2, user_id=DEE, display_name="Dee", xp=20)


async def test_a_course_of_another_guild_has_an_empty_board(database: Database) -> None:
    python, _ = await seed(database)
    await earn(database, ADA, 50, course_id=python)
    shown = await board(database, course_id=python, guild_id=OTHER_GUILD)
    assert shown.entries == () and shown.viewer is None


async def test_a_board_is_one_statement(database: Database) -> None:
    python, _ = await seed(database)
    await earn_tied_scores(database)
    with counted_statements(database) as statements:
        await board(database)
        await board(database, period="week", course_id=python)
    assert len(statements) == 2


async def test_the_board_asked_for_now_counts_the_guilds_week_and_finds_the_course_by_code(
    database: Database,
) -> None:
    python, _ = await seed(database)
    async with database.session_scope() as session:
        (await session.get(Guild, GUILD)).time_zone = "Pacific/Kiritimati"
    await earn(database, ADA, 40, on=MONDAY - timedelta(days=1), course_id=python)  # last week's Sunday
    await earn(database, BEN, 20, on=MONDAY, course_id=python)

    async def asked_at(now: datetime, course_code: str | None = None) -> Board:
        async with database.session_scope() as session:
            return await leaderboard.board(
                session, guild_id=GUILD, course_code=course_code, period="week", now=now, limit=10, viewer_id=ADA
            )

    # 10:30 UTC on Sunday is 00:30 on Monday in Kiritimati: a new week there.
    sunday_in_utc = datetime(2026, 11, 15, 10, 30, tzinfo=UTC)
    assert ranked(await asked_at(sunday_in_utc - timedelta(hours=1))) == [(1, "Ada", 40)]
    assert ranked(await asked_at(sunday_in_utc, course_code="py")) == [(1, "Ben", 20)]
    with pytest.raises(NotFound):
        await asked_at(sunday_in_utc, course_code="GO")  # a course of another guild
