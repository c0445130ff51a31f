"""Leaderboards: XP ranked per guild or per course, over this week, this month or all time.

`board` is the board a member asks for at an instant (the week and month follow the guild's calendar);
`top` is the same board for a given guild-local date.

Ranking is "competition ranking": members with the same XP share a rank and the next rank skips (1, 1, 3).
Members with the same XP are listed by user id, so a page never reshuffles between calls. Members without
XP in the period are not on the board; members who opted out (`set_leaderboard_visibility`) are neither
listed nor counted in anyone's rank.

A board is one SQL statement. A rank is 1 + the number of visible members with more XP, counted as
"everyone above" minus "opted-out members above". All-time boards read totals the ledger's trigger keeps
(`member_stats` per guild, `course_member_stats` per course) through their (scope, total_xp, user_id)
indexes; on the guild's board "everyone above" sums `xp_levels` (members per distinct total), so a rank
costs the same at the bottom as at the top. Week and month boards sum `xp_daily` once per call and rank
within that sum.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    TextClause,
    bindparam,
    case,
    exists,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date
from bot.services import courses, tenancy
from db.models import Course, CourseMemberStats, MemberStats, User, XPDaily, XPLevel

Period = Literal["week", "month", "all"]
PREFERENCE = "leaderboard"
HIDDEN = "off"


@dataclass(frozen=True, slots=True)
class BoardEntry:
    rank: int
    user_id: int
    display_name: str
    xp: int


@dataclass(frozen=True, slots=True)
class Board:
    period: Period
    course_id: int | None  # None: the whole guild
    starts_on: date | None  # first day counted (guild-local); None for all time
    entries: tuple[BoardEntry, ...]  # the requested page, best first
    has_next_page: bool
    viewer: BoardEntry | None  # the viewer's own standing, on the page or not; None without XP or when hidden


def period_start(period: Period, today: date) -> date | None:
    """The first day of the period containing `today`: the Monday of its week, the 1st of its month, or None."""
    if period == "week":
        return today - timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    return None


async def board(
    session: AsyncSession,
    *,
    guild_id: int,
    course_code: str | None,
    period: Period,
    now: datetime,
    limit: int,
    viewer_id: int,
) -> Board:
    """The first `limit` entries of the board a member asks for at `now`: the guild's, or that of its live course
    `course_code` (NotFound if there is none), over the period containing the guild's local date at `now`."""
    course_id = None
    if course_code:
        course_id = (await courses.live_course(session, guild_id=guild_id, code=course_code)).id
    guild_zone, _ = await tenancy.time_zones(session, guild_id=guild_id, user_id=viewer_id)
    return await top(
        session,
        guild_id=guild_id,
        course_id=course_id,
        period=period,
        today=local_date(now, guild_zone),
        limit=limit,
        viewer_id=viewer_id,
    )


async def top(
    session: AsyncSession,
    *,
    guild_id: int,
    course_id: int | None,
    period: Period,
    today: date,
    limit: int,
    offset: int = 0,
    viewer_id: int,
) -> Board:
    """One page of the board (`limit` entries after the best `offset`) and the viewer's own standing.

    `today` is the guild-local date: the week starts on its Monday, the month on its 1st, and XP of later
    days is not counted. A `course_id` of another guild gives an empty board.
    """
    starts_on = period_start(period, today)
    statement = _board_statement(
        session.get_bind().dialect.name, by_course=course_id is not None, dated=starts_on is not None
    )
    rows = (
        await session.execute(
            statement,
            {
                "guild_id": guild_id,
                "course_id": course_id,
                "starts_on": starts_on,
                "today": today,
                "viewer_id": viewer_id,
                "page_rows": limit + 1,  # one row more than the page tells whether a next page exists
                "offset": offset,
            },
        )
    ).all()

    entries: list[BoardEntry] = []
    viewer_entry: BoardEntry | None = None
    for row in rows:
        if not row.on_page:
            viewer_entry = BoardEntry(rank=row.above + 1, user_id=row.user_id, display_name=row.display_name, xp=row.xp)
            continue
        # Best first: equal XP shares the rank of the entry before, otherwise the rank is the position.
        if not entries:
            rank = row.above + 1
        elif row.xp == entries[-1].xp:
            rank = entries[-1].rank
        else:
            rank = offset + len(entries) + 1
        entries.append(BoardEntry(rank=rank, user_id=row.user_id, display_name=row.display_name, xp=row.xp))
    return Board(
        period=period,
        course_id=course_id,
        starts_on=starts_on,
        entries=tuple(entries[:limit]),
        has_next_page=len(entries) > limit,
        viewer=viewer_entry,
    )


async def set_leaderboard_visibility(session: AsyncSession, *, user_id: int, visible: bool) -> None:
    """Show or hide the user on every leaderboard of every guild; their XP keeps counting either way."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise LookupError(f"user {user_id} was never seen")
    preferences = {key: value for key, value in user.preferences.items() if key != PREFERENCE}
    user.preferences = preferences if visible else {**preferences, PREFERENCE: HIDDEN}


def shown_on_boards(preferences: Mapping[str, object]) -> bool:
    """Whether a user with these stored preferences is listed on leaderboards."""
    return preferences.get(PREFERENCE) != HIDDEN


def _hidden_from_boards(dialect: str) -> TextClause:
    # Path and value written out rather than bound, so that a partial index on exactly this expression can
    # serve it (an index cannot match a bound parameter).
    if dialect == "postgresql":
        return text(f"(users.preferences ->> '{PREFERENCE}') = '{HIDDEN}'")
    return text(f"json_extract(users.preferences, '$.{PREFERENCE}') = '{HIDDEN}'")


@functools.cache
def _board_statement(dialect: str, *, by_course: bool, dated: bool) -> Select[tuple[bool, int, int, int, str]]:
    """The board query of one shape, its values left as bound parameters: building it costs more than running it.

    Rows: the page (`on_page`, best first, `page_rows` of them from `offset`) and the viewer's own row if they
    are on the board; `above` is the number of visible members with more XP than the page's first entry, or
    than the viewer.
    """
    hidden = (
        select(User.id)
        .where(_hidden_from_boards(dialect))
        .cte("hidden")
        .prefix_with("MATERIALIZED")  # computed once, however often the statement refers to it
    )
    scores = _scores(by_course=by_course, dated=dated)
    visible = select(scores.c.user_id, scores.c.xp).where(scores.c.xp > 0, scores.c.user_id.not_in(select(hidden.c.id)))
    page = (
        visible.order_by(scores.c.xp.desc(), scores.c.user_id)
        .limit(bindparam("page_rows", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .cte("page")
    )
    viewer = visible.where(scores.c.user_id == bindparam("viewer_id")).cte("viewer")

    def members_above(xp: ScalarSelect[int]) -> ColumnElement[int]:
        if not by_course and not dated:
            # One row per distinct total above, not one per member: bounded however deep the rank.
            everyone = select(func.coalesce(func.sum(XPLevel.members), 0)).where(
                XPLevel.guild_id == bindparam("guild_id"), XPLevel.total_xp > xp
            )
        else:
            everyone = select(func.count()).select_from(scores).where(scores.c.xp > xp)
        above = everyone.scalar_subquery()
        walking_the_totals_above = (
            select(func.count())
            .select_from(hidden.join(scores, scores.c.user_id == hidden.c.id))
            .where(scores.c.xp > xp)
            .scalar_subquery()
        )
        if dated:
            return above - walking_the_totals_above
        # Opted-out members above are counted the cheaper way: along the totals above when they are fewer than
        # the opted-out members, else by a primary-key lookup per opted-out member. (Only the branch taken runs.)
        total = select(scores.c.xp).where(scores.c.user_id == hidden.c.id).scalar_subquery()
        looking_each_up = select(func.count()).select_from(hidden).where(total > xp).scalar_subquery()
        opted_out_count = select(func.count()).select_from(hidden).scalar_subquery()
        return above - case((above <= opted_out_count, walking_the_totals_above), else_=looking_each_up)

    picked = union_all(
        select(
            page.c.user_id,
            page.c.xp,
            literal(True).label("on_page"),
            members_above(select(func.max(page.c.xp)).scalar_subquery()).label("above"),
        ),
        select(
            viewer.c.user_id,
            viewer.c.xp,
            literal(False).label("on_page"),
            members_above(select(viewer.c.xp).scalar_subquery()).label("above"),
        ),
    ).subquery("picked")
    return (
        select(picked.c.on_page, picked.c.user_id, picked.c.xp, picked.c.above, User.display_name)
        .join(User, User.id == picked.c.user_id)
        .order_by(picked.c.xp.desc(), picked.c.user_id)
    )


def _scores(*, by_course: bool, dated: bool) -> CTE:
    """(user_id, xp) of every member in the board's scope and period: opted-out members and XP <= 0 included."""
    # A course id of another guild must give an empty board.
    course_in_guild = exists().where(Course.id == bindparam("course_id"), Course.guild_id == bindparam("guild_id"))
    if not dated:
        # All-time totals are kept per member (by the ledger's trigger). Not materialised: each use reads the
        # (scope, total_xp, user_id) index on its own terms, the page from the top down, a count as a range.
        if by_course:
            totals = select(CourseMemberStats.user_id, CourseMemberStats.total_xp.label("xp")).where(
                CourseMemberStats.course_id == bindparam("course_id"), course_in_guild
            )
        else:
            totals = select(MemberStats.user_id, MemberStats.total_xp.label("xp")).where(
                MemberStats.guild_id == bindparam("guild_id")
            )
        return totals.cte("scores").prefix_with("NOT MATERIALIZED")
    if by_course:
        # The course id alone picks the rows, through its covering board index: filtering on guild_id too
        # lets SQLite's planner (no statistics) walk the guild's primary key instead, every row of the guild.
        in_scope = (XPDaily.course_id == bindparam("course_id")) & course_in_guild
    else:
        in_scope = XPDaily.guild_id == bindparam("guild_id")
    in_scope &= XPDaily.day.between(bindparam("starts_on"), bindparam("today"))
    # Summed once, then sorted for the page and scanned for the counts.
    sums = select(XPDaily.user_id, func.sum(XPDaily.xp).label("xp")).where(in_scope).group_by(XPDaily.user_id)
    return sums.cte("scores").prefix_with("MATERIALIZED")
