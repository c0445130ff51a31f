"""Engagement at scale: leaderboard pages with the viewer's own rank over 100k members and 1M ledger events.

The data is built inside the database (generate_series on PostgreSQL, a recursive CTE on SQLite), then the
derived tables are filled from the ledger the way `xp.award` keeps them: `member_stats` per member and
`xp_daily` per member, course and day. XP is skewed (a few members earn a lot, a quarter earn nothing),
amounts are multiples of 5 so ties are common, and 1% of members have opted out of leaderboards.

Each board is measured twice: on the schema as migrated, then after adding the one index the opt-out filter
needs (`HIDDEN_MEMBERS_INDEX`, not in the migrations: the change these figures argue for).
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text

from bench._harness import Figure, StatementCounter, fresh_database, percentile
from bot.services import leaderboard
from db.session import Database

BENCH = "engagement"
GUILD = 1
COURSES = 20
TODAY = date(2026, 11, 22)  # a Sunday: the week board covers a full week
HISTORY_DAYS = 365
EVENTS_PER_STUDY = 5
PAGE_SIZE = 10
CALLS_PER_BOARD = 500
COURSE = 1  # the first course of the fresh database
BOARDS: list[tuple[str, leaderboard.Period]] = [
    ("guild", "all"),
    ("guild", "week"),
    ("course", "all"),
    ("course", "week"),
]


@dataclass(frozen=True, slots=True)
class Sizes:
    members: int
    events: int

    @classmethod
    def scaled(cls, scale: float) -> Sizes:
        return cls(members=max(1000, int(100_000 * scale)), events=max(10_000, int(1_000_000 * scale)))


# Events come in study sessions of EVENTS_PER_STUDY (a lesson, its answers, a quiz): one member, course and day.
# Session s goes to member 1 + u²/members with u = s·7919 mod members, a permutation squared, so low ids earn
# most and about a quarter of the members earn nothing; each member studies three neighbouring courses.
POSTGRES_FILL = [
    "INSERT INTO guilds (id, name, locale, time_zone, settings, created_at)"
    " VALUES (:guild, 'Bench', 'en-US', 'UTC', '{}', now())",
    "INSERT INTO courses (guild_id, code, title, description, level, passing_score, cache_enabled, is_published,"
    " created_at) SELECT :guild, 'C' || c, 'Course ' || c, '', 'INTRODUCTORY', 70, true, true, now()"
    " FROM generate_series(1, :courses) AS c",
    "INSERT INTO users (id, display_name, locale, time_zone, preferences, created_at)"
    " SELECT m, 'member ' || m, 'en-US', 'UTC',"
    " CASE WHEN m % 100 = 7 THEN '{\"leaderboard\": \"off\"}'::jsonb ELSE '{}'::jsonb END, now()"
    " FROM generate_series(1, :members) AS m",
    "INSERT INTO xp_events (guild_id, user_id, course_id, amount, action, reason, source_key, created_at)"
    " SELECT :guild, member, CASE WHEN study % 10 = 0 THEN NULL ELSE 1 + (member + study % 3) % :courses END,"
    " 5 * (1 + i % 4), 'bench', '', 'bench:' || i,"
    " ((CAST(:today AS date) - ((study * 31) % :history)::int)::timestamp AT TIME ZONE 'UTC') + interval '12 hours'"
    " FROM (SELECT i, study, 1 + ((study * 7919) % :members) * ((study * 7919) % :members) / :members AS member"
    " FROM (SELECT i, i / :per_study AS study FROM generate_series(1, CAST(:events AS bigint)) AS i) AS events)"
    " AS generated",
    "INSERT INTO xp_daily (guild_id, user_id, day, course_id, xp)"
    " SELECT guild_id, user_id, (created_at AT TIME ZONE 'UTC')::date, coalesce(course_id, 0), sum(amount)"
    " FROM xp_events GROUP BY 1, 2, 3, 4",
    "INSERT INTO member_stats (guild_id, user_id, total_xp, updated_at)"
    " SELECT guild_id, user_id, sum(amount), now() FROM xp_events GROUP BY 1, 2",
]
SQLITE_SERIES = "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < {limit}) "
SQLITE_FILL = [
    "INSERT INTO guilds (id, name, locale, time_zone, settings, created_at)"
    " VALUES (:guild, 'Bench', 'en-US', 'UTC', '{}', datetime('now'))",
    SQLITE_SERIES.format(limit=":courses")
    + "INSERT INTO courses (guild_id, code, title, description, level, passing_score, cache_enabled, is_published,"
    " created_at) SELECT :guild, 'C' || n, 'Course ' || n, '', 'INTRODUCTORY', 70, 1, 1, datetime('now') FROM series",
    SQLITE_SERIES.format(limit=":members")
    + "INSERT INTO users (id, display_name, locale, time_zone, preferences, created_at)"
    " SELECT n, 'member ' || n, 'en-US', 'UTC',"
    " CASE WHEN n % 100 = 7 THEN '{\"leaderboard\": \"off\"}' ELSE '{}' END, datetime('now') FROM series",
    SQLITE_SERIES.format(limit=":events")
    + "INSERT INTO xp_events (guild_id, user_id, course_id, amount, action, reason, source_key, created_at)"
    " SELECT :guild, member, CASE WHEN study % 10 = 0 THEN NULL ELSE 1 + (member + study % 3) % :courses END,"
    " 5 * (1 + n % 4), 'bench', '', 'bench:' || n,"
    " date(:today, '-' || ((study * 31) % :history) || ' days') || ' 12:00:00.000000'"
    " FROM (SELECT n, study, 1 + ((study * 7919) % :members) * ((study * 7919) % :members) / :members AS member"
    " FROM (SELECT n, n / :per_study AS study FROM series))",
    "INSERT INTO xp_daily (guild_id, user_id, day, course_id, xp)"
    " SELECT guild_id, user_id, date(created_at), coalesce(course_id, 0), sum(amount)"
    " FROM xp_events GROUP BY 1, 2, 3, 4",
    "INSERT INTO member_stats (guild_id, user_id, total_xp, updated_at)"
    " SELECT guild_id, user_id, sum(amount), datetime('now') FROM xp_events GROUP BY 1, 2",
]


# Without it each board reads every row of `users` to find who opted out.
HIDDEN_MEMBERS_INDEX = {
    "postgresql": "CREATE INDEX ix_users_leaderboard_hidden ON users (id)"
    " WHERE (preferences ->> 'leaderboard') = 'off'",
    "sqlite": "CREATE INDEX ix_users_leaderboard_hidden ON users (id)"
    " WHERE json_extract(preferences, '$.leaderboard') = 'off'",
}
DATA_SHAPE = {
    "xp_daily_rows": "SELECT count(*) FROM xp_daily",
    "xp_daily_rows_in_week": "SELECT count(*) FROM xp_daily WHERE day BETWEEN :monday AND :today",
    "xp_daily_rows_of_course": "SELECT count(*) FROM xp_daily WHERE course_id = :course",
    "members_with_xp": "SELECT count(*) FROM member_stats",
}


async def fill(database: Database, sizes: Sizes) -> None:
    """Members, courses and the ledger with its derived tables, built by the database itself."""
    parameters = {
        "guild": GUILD,
        "courses": COURSES,
        "members": sizes.members,
        "events": sizes.events,
        "today": TODAY.isoformat() if database.backend == "sqlite" else TODAY,
        "history": HISTORY_DAYS,
        "per_study": EVENTS_PER_STUDY,
    }
    sqlite = database.backend == "sqlite"
    async with database.session_scope() as session:
        if sqlite:
            # A large page cache while loading only; the measurements run with the cache the bot has.
            cache_size = await session.scalar(text("PRAGMA cache_size"))
            await session.execute(text("PRAGMA cache_size = -262144"))
        elif await session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
            # Skip the per-row foreign-key triggers: the generated rows reference existing keys by construction.
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in SQLITE_FILL if sqlite else POSTGRES_FILL:
            sql = text(statement)
            await session.execute(sql, {name: parameters[name] for name in sql.compile().params})
        if sqlite:
            await session.execute(text(f"PRAGMA cache_size = {cache_size}"))
    if not sqlite:
        # What autovacuum does after a load this size: statistics, and the visibility map index-only scans need.
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE")


async def show_board(database: Database, *, scope: str, period: leaderboard.Period, viewer_id: int) -> None:
    async with database.session_scope() as session:
        await leaderboard.top(
            session,
            guild_id=GUILD,
            course_id=COURSE if scope == "course" else None,
            period=period,
            today=TODAY,
            limit=PAGE_SIZE,
            viewer_id=viewer_id,
        )


async def data_shape_figures(database: Database, backend: str) -> AsyncIterator[Figure]:
    monday = leaderboard.period_start("week", TODAY)
    async with database.session_scope() as session:
        for metric, query in DATA_SHAPE.items():
            sql = text(query)
            values = {"monday": monday, "today": TODAY, "course": COURSE}
            count = await session.scalar(sql, {name: values[name] for name in sql.compile().params})
            yield Figure(BENCH, backend, metric, count, "rows")


async def leaderboard_figures(database: Database, backend: str, sizes: Sizes, *, suffix: str) -> AsyncIterator[Figure]:
    """Top 10 plus the viewer's own rank, for viewers picked across the whole membership."""
    viewers = random.Random(42).choices(range(1, sizes.members + 1), k=CALLS_PER_BOARD)
    for scope, period in BOARDS:
        name = f"leaderboard_{scope}_{period}"
        await show_board(database, scope=scope, period=period, viewer_id=viewers[0])  # warm the caches
        latencies: list[float] = []
        with StatementCounter(database) as counter:
            for viewer_id in viewers:
                started = time.perf_counter()
                await show_board(database, scope=scope, period=period, viewer_id=viewer_id)
                latencies.append(time.perf_counter() - started)
        yield Figure(BENCH, backend, f"{name}_p50{suffix}", round(percentile(latencies, 50) * 1000, 3), "ms")
        yield Figure(BENCH, backend, f"{name}_p99{suffix}", round(percentile(latencies, 99) * 1000, 3), "ms")
        yield Figure(BENCH, backend, f"{name}_statements{suffix}", counter.count / len(viewers), "statements")


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    sizes = Sizes.scaled(scale)
    for backend in backends:
        async with fresh_database(backend) as database:
            started = time.perf_counter()
            await fill(database, sizes)
            yield Figure(BENCH, backend, "build_data_seconds", round(time.perf_counter() - started, 1), "s")
            async for figure in data_shape_figures(database, backend):
                yield figure
            async for figure in leaderboard_figures(database, backend, sizes, suffix=""):
                yield figure

            # The burst of quiz answer presses joins here, on the same data and the schema as migrated.

            async with database.session_scope() as session:
                await session.execute(text(HIDDEN_MEMBERS_INDEX[database.backend]))
            async for figure in leaderboard_figures(database, backend, sizes, suffix="_with_hidden_members_index"):
                yield figure
