"""Engagement at scale: leaderboard pages with the viewer's own rank over 100k members and 1M ledger events,
and a burst of concurrent quiz answer presses through the offline Discord.

The data is built inside the database (generate_series on PostgreSQL, a recursive CTE on SQLite); the ledger's
triggers fill the derived tables (`member_stats`, `course_member_stats`, `xp_daily`, `xp_levels`) as they do for
the bot (on PostgreSQL, with triggers off for the load, a statement per table sums them the same way). XP is skewed
(a few members earn a lot, a quarter earn nothing), amounts are multiples of 5 so ties are common, and 1% of
members have opted out of leaderboards.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from bench._harness import (
    Figure,
    StatementCounter,
    add_floor_button,
    build_figure,
    button_floor,
    fresh_database,
    latency_figures,
    pk_read_floor,
)
from bench.courses import sum_questions
from bot.app import CourseBot
from bot.config import load_settings
from bot.services import content, leaderboard, tenancy
from bot.services.coursepack import CohortSpec, CoursePackage, ModuleSpec, QuizSpec
from db.models import QuestionAnswer
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.harness import DEFAULT_GUILD_ID

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
    "INSERT INTO xp_events (guild_id, user_id, course_id, amount, action, reason, source_key, day, created_at)"
    " SELECT :guild, member, CASE WHEN study % 10 = 0 THEN NULL ELSE 1 + (member + study % 3) % :courses END,"
    " 5 * (1 + i % 4), 'bench', '', 'bench:' || i, day, (day::timestamp AT TIME ZONE 'UTC') + interval '12 hours'"
    " FROM (SELECT i, study, 1 + ((study * 7919) % :members) * ((study * 7919) % :members) / :members AS member,"
    " CAST(:today AS date) - ((study * 31) % :history)::int AS day"
    " FROM (SELECT i, i / :per_study AS study FROM generate_series(1, CAST(:events AS bigint)) AS i) AS events)"
    " AS generated",
]
# What the ledger's triggers do row by row, in a statement per table: for a load with triggers switched off.
POSTGRES_TOTALS = [
    "INSERT INTO xp_daily (guild_id, user_id, day, course_id, xp)"
    " SELECT guild_id, user_id, day, coalesce(course_id, 0), sum(amount) FROM xp_events GROUP BY 1, 2, 3, 4",
    "INSERT INTO member_stats (guild_id, user_id, total_xp, updated_at)"
    " SELECT guild_id, user_id, sum(amount), now() FROM xp_events GROUP BY 1, 2",
    "INSERT INTO course_member_stats (course_id, user_id, total_xp)"
    " SELECT course_id, user_id, sum(amount) FROM xp_events WHERE course_id IS NOT NULL GROUP BY 1, 2",
    "INSERT INTO xp_levels (guild_id, total_xp, members) SELECT guild_id, total_xp, count(*) FROM member_stats"
    " GROUP BY 1, 2",
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
    + "INSERT INTO xp_events (guild_id, user_id, course_id, amount, action, reason, source_key, day, created_at)"
    " SELECT :guild, member, CASE WHEN study % 10 = 0 THEN NULL ELSE 1 + (member + study % 3) % :courses END,"
    " 5 * (1 + n % 4), 'bench', '', 'bench:' || n, day, day || ' 12:00:00.000000'"
    " FROM (SELECT n, study, 1 + ((study * 7919) % :members) * ((study * 7919) % :members) / :members AS member,"
    " date(:today, '-' || ((study * 31) % :history) || ' days') AS day"
    " FROM (SELECT n, n / :per_study AS study FROM series))",
]


DATA_SHAPE = {
    "xp_daily_rows": "SELECT count(*) FROM xp_daily",
    "xp_daily_rows_in_week": "SELECT count(*) FROM xp_daily WHERE day BETWEEN :monday AND :today",
    "xp_daily_rows_of_course": "SELECT count(*) FROM xp_daily WHERE course_id = :course",
    "members_with_xp": "SELECT count(*) FROM member_stats",
}
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


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
    statements = SQLITE_FILL if sqlite else POSTGRES_FILL
    async with database.session_scope() as session:
        if sqlite:
            # A large page cache while loading only; the measurements run with the cache the bot has.
            cache_size = await session.scalar(text("PRAGMA cache_size"))
            await session.execute(text("PRAGMA cache_size = -262144"))
        elif await session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
            # Skip the per-row triggers (foreign keys, the ledger's totals): the generated rows reference existing
            # keys by construction, and the totals are summed in one pass instead.
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            statements = POSTGRES_FILL + POSTGRES_TOTALS
        for statement in statements:
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


async def leaderboard_figures(database: Database, backend: str, sizes: Sizes) -> AsyncIterator[Figure]:
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
        for figure in latency_figures(BENCH, backend, name, latencies, await pk_read_floor(database)):
            yield figure
        yield Figure(BENCH, backend, f"{name}_statements", counter.count / len(viewers), "statements")


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    sizes = Sizes.scaled(scale)
    for backend in backends:
        async with fresh_database(backend) as database:
            yield await build_figure(BENCH, backend, fill(database, sizes))
            async for figure in data_shape_figures(database, backend):
                yield figure
            async for figure in leaderboard_figures(database, backend, sizes):
                yield figure
        async for figure in answer_burst_figures(backend, presses=max(50, int(1000 * scale))):
            yield figure


def burst_package(questions: int) -> CoursePackage:
    """The course `BURST`: one quiz of `questions` one-line questions, each answered by pressing its first option."""
    return CoursePackage(
        code="BURST",
        title="Burst",
        cohorts=(CohortSpec(term_name="Open"),),
        modules=(
            ModuleSpec(
                slug="only",
                title="Only",
                items=(
                    QuizSpec(
                        slug="one",
                        title="Burst quiz",
                        shuffle=False,
                        questions=sum_questions(questions, first=2),
                    ),
                ),
            ),
        ),
    )


# Presses answer the first of two questions: a typical mid-quiz answer, not the finishing one.
BURST_PACKAGE = burst_package(2)
DOUBLE_CLICK_SHARE = 0.2
ALONE = 20


async def answer_burst_figures(backend: str, *, presses: int) -> AsyncIterator[Figure]:
    """`presses` students each press an answer at once, a fifth of them twice (a double click): every student
    must be recorded exactly once. Then `ALONE` more students answer one at a time, half of them with a double
    click, so the statements of one answer, and of a double click (one answer, one refusal), are counted exactly."""
    settings = load_settings(CONFIG)
    async with fresh_database(backend) as database:
        async with database.session_scope() as session:
            await tenancy.remember_guild(session, guild_id=DEFAULT_GUILD_ID, name="Bench")
            await content.import_package(
                session,
                guild_id=DEFAULT_GUILD_ID,
                actor_id=1,
                package=BURST_PACKAGE,
                publish=True,
                now=datetime.now(UTC),
            )
        # Frozen as `coursebot run` does (what start-up creates is left out of garbage collection).
        sandbox = DiscordSandbox(CourseBot(settings, database=database, freeze_heap=True), timeout=300.0)
        add_floor_button(sandbox.bot)
        await sandbox.start()
        try:
            questions = []
            for number in range(presses + ALONE):
                member = await sandbox.add_member(f"student{number}")
                await sandbox.slash("course enroll", user=member, course="BURST")
                questions.append((member, await sandbox.slash("quiz start", user=member)))
            questions, alone = questions[:presses], questions[presses:]
            doubled = questions + questions[: int(presses * DOUBLE_CLICK_SHARE)]
            random.Random(7).shuffle(doubled)
            # The floor: the same presses at once, on a button that answers and changes nothing.
            presses = [(reply, "A", member) for member, reply in doubled]
            await button_floor(sandbox, [(reply, "A", member) for member, reply in alone])  # warm
            floor = await button_floor(sandbox, presses)
            # The fake Discord's world (thousands of members and messages) lives in this process, where a full
            # garbage collection would walk it in the middle of the burst (~0.1 s); in production it lives on
            # Discord's servers. Frozen like the bot's own start-up heap.
            gc.collect()
            gc.freeze()
            with StatementCounter(database) as counter:
                started = time.perf_counter()
                replies = await sandbox.click_many(presses)
                elapsed = time.perf_counter() - started
            # The first answer of the day, right on the first try: the answer, its XP, the streak, the next question.
            # Half the students press once, half double-click (both presses sent before either is handled).
            answer_statements, double_click_statements = [], []
            for number, (member, reply) in enumerate(alone):
                counts, clicks = (answer_statements, 1) if number % 2 else (double_click_statements, 2)
                with StatementCounter(database) as single:
                    await sandbox.click_many([(reply, "A", member)] * clicks)
                counts.append(single.count)
            sandbox.assert_no_errors()
            # From delivery to the interaction callback: what Discord's 3-second rule measures.
            latencies = [reply.acknowledged_after for reply in replies if reply.acknowledged_after is not None]
        finally:
            await sandbox.close()
        async with database.session_scope() as session:
            recorded = await session.scalar(select(func.count()).select_from(QuestionAnswer))
            distinct = await session.scalar(select(func.count(func.distinct(QuestionAnswer.attempt_id))))
    recorded_in_burst = (recorded or 0) - len(alone)
    yield Figure(BENCH, backend, "burst_presses", len(doubled), "presses")
    yield Figure(BENCH, backend, "burst_answers_recorded", recorded_in_burst, "answers")
    yield Figure(BENCH, backend, "burst_duplicate_answers", (recorded or 0) - (distinct or 0), "answers")
    yield Figure(BENCH, backend, "burst_presses_acknowledged", len(latencies), "presses")
    for figure in latency_figures(BENCH, backend, "burst_ack", latencies, floor):
        yield figure
    yield Figure(BENCH, backend, "burst_all_recorded_after", round(elapsed, 2), "s")
    yield Figure(BENCH, backend, "burst_presses_per_second", round(len(doubled) / elapsed, 1), "presses/s")
    yield Figure(BENCH, backend, "burst_statements_per_press", round(counter.count / len(doubled), 2), "statements")
    yield Figure(BENCH, backend, "answer_statements_max", max(answer_statements), "statements")
    yield Figure(BENCH, backend, "double_click_statements_max", max(double_click_statements), "statements")
