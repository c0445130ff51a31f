"""Spaced repetition at scale: 100,000 students with 10 review cards each (1,000,000 cards) in one course.

Figures, on each backend, with the floor measured in the same run (a primary-key read of one student in its own
unit of work, p50/p99):

- the due-queue read of one student (`reviews.due_queue`, a session's worth of cards due by the end of their day,
  in its own unit of work): p50/p99, statements per read, and its p99 over the floor's p99 (target ≤ 10);
- a review answer (`reviews.answer`: the card's compare-and-set, XP, mastery, the streak, the next due card), each
  the student's first of the day: p50/p99 and statements per answer, the most and the mean (target ≤ 6).

The cards are built inside the database (generate_series on PostgreSQL, a recursive CTE on SQLite); their due
times spread over 30 days around the bench's "now", so about half of each student's cards are due.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from bench._harness import Figure, StatementCounter, build_figure, fresh_database, percentile, user_read_floor
from bench.courses import sum_questions
from bot.config import load_settings
from bot.services import content, reviews, tenancy
from bot.services.coursepack import CohortSpec, ConceptSpec, CoursePackage, ModuleSpec, QuizSpec
from db.models import ReviewCard
from db.session import Database

BENCH = "review"
GUILD = 1
COURSE = 1  # the only course of the fresh database
CARDS_PER_STUDENT = 10
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FIRST_DUE = NOW - timedelta(days=15)
READS = 1000
ANSWERS = 200
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"

PACKAGE = CoursePackage(
    code="REVIEW",
    title="Review bench",
    cohorts=(CohortSpec(term_name="Open"),),
    concepts=(ConceptSpec(slug="arithmetic", name="Arithmetic"),),
    modules=(
        ModuleSpec(
            slug="only",
            title="Only",
            items=(
                QuizSpec(
                    slug="sums",
                    title="Sums",
                    questions=sum_questions(CARDS_PER_STUDENT, concept="arithmetic"),
                ),
            ),
        ),
    ),
)

# Card (student n, question q) is due FIRST_DUE + (7n + 13q mod 30) days: spread, and different per student.
POSTGRES_FILL = [
    "INSERT INTO users (id, display_name, locale, time_zone, preferences, created_at)"
    " SELECT n, 'student ' || n, 'en-US', 'UTC', '{}', now() FROM generate_series(1, :students) AS n",
    "INSERT INTO review_cards (user_id, course_id, question_id, state, stability, difficulty, due, last_review,"
    " last_rating, reps, lapses)"
    " SELECT n, :course, q.id, 'REVIEW', 3.0, 5.0,"
    " CAST(:first_due AS timestamptz) + ((n * 7 + q.id * 13) % 30) * interval '1 day',"
    " CAST(:first_due AS timestamptz) - interval '3 days', 3, 1, 0"
    " FROM generate_series(1, :students) AS n CROSS JOIN (SELECT id FROM questions WHERE is_active) AS q",
]
SQLITE_SERIES = "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < :students) "
SQLITE_FILL = [
    SQLITE_SERIES + "INSERT INTO users (id, display_name, locale, time_zone, preferences, created_at)"
    " SELECT n, 'student ' || n, 'en-US', 'UTC', '{}', datetime('now') FROM series",
    SQLITE_SERIES + "INSERT INTO review_cards (user_id, course_id, question_id, state, stability, difficulty, due,"
    " last_review, last_rating, reps, lapses)"
    " SELECT n, :course, q.id, 'REVIEW', 3.0, 5.0,"
    " datetime(:first_due, '+' || ((n * 7 + q.id * 13) % 30) || ' days') || '.000000',"
    " datetime(:first_due, '-3 days') || '.000000', 3, 1, 0"
    " FROM series CROSS JOIN (SELECT id FROM questions WHERE is_active) AS q",
]


@dataclass(frozen=True, slots=True)
class Sizes:
    students: int

    @classmethod
    def scaled(cls, scale: float) -> Sizes:
        return cls(students=max(1000, int(100_000 * scale)))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def fill(database: Database, sizes: Sizes) -> None:
    """The course (through the importer), then the students and their cards, built by the database itself."""
    async with database.session_scope() as session:
        await tenancy.remember_guild(session, guild_id=GUILD, name="Bench")
        await content.import_package(session, guild_id=GUILD, actor_id=0, package=PACKAGE, publish=True, now=NOW)
    sqlite = database.backend == "sqlite"
    parameters = {
        "students": sizes.students,
        "course": COURSE,
        "first_due": FIRST_DUE.strftime("%Y-%m-%d %H:%M:%S") if sqlite else FIRST_DUE,
    }
    async with database.session_scope() as session:
        if sqlite:
            await session.execute(text("PRAGMA cache_size = -262144"))  # for the load only; see below
        elif await session.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
            # Skip the foreign-key triggers row by row: the generated rows reference existing keys by construction.
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in SQLITE_FILL if sqlite else POSTGRES_FILL:
            sql = text(statement)
            await session.execute(sql, {name: parameters[name] for name in sql.compile().params})
    async with database.engine.connect() as connection:
        if sqlite:
            await connection.exec_driver_sql("PRAGMA cache_size = -2000")  # back to SQLite's default
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()
        else:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE")


async def floor_figures(database: Database, backend: str, students: list[int]) -> AsyncIterator[Figure]:
    latencies = await user_read_floor(database, students)
    yield Figure(BENCH, backend, "floor_pk_read_p50", ms(percentile(latencies, 50)), "ms")
    yield Figure(BENCH, backend, "floor_pk_read_p99", ms(percentile(latencies, 99)), "ms")


async def read_queue(database: Database, user_id: int, *, limit: int) -> list[reviews.DueCard]:
    async with database.session_scope() as session:
        return await reviews.due_queue(
            session, user_id=user_id, course_id=COURSE, until=reviews.end_of_local_day(NOW, "UTC"), limit=limit
        )


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    sizes = Sizes.scaled(scale)
    settings = load_settings(CONFIG)
    settings = settings.model_copy(update={"reviews": settings.reviews.model_copy(update={"fuzz": False})})
    pick = random.Random(17)
    for backend in backends:
        async with fresh_database(backend) as database:
            yield await build_figure(BENCH, backend, fill(database, sizes))
            async with database.session_scope() as session:
                cards = await session.scalar(select(func.count()).select_from(ReviewCard))
            yield Figure(BENCH, backend, "cards", cards or 0, "rows")

            readers = pick.choices(range(1, sizes.students + 1), k=READS)
            await read_queue(database, readers[0], limit=settings.reviews.session_cards)  # warm the caches
            floor_p99 = 0.0
            async for figure in floor_figures(database, backend, readers):
                floor_p99 = figure.value if figure.metric == "floor_pk_read_p99" else floor_p99
                yield figure
            latencies, due = [], []
            with StatementCounter(database) as counter:
                for user_id in readers:
                    started = time.perf_counter()
                    queue = await read_queue(database, user_id, limit=settings.reviews.session_cards)
                    latencies.append(time.perf_counter() - started)
                    due.append(queue[0].due_count if queue else 0)
            queue_p99 = ms(percentile(latencies, 99))
            yield Figure(BENCH, backend, "due_cards_per_student_mean", round(sum(due) / len(due), 2), "cards")
            yield Figure(BENCH, backend, "due_queue_p50", ms(percentile(latencies, 50)), "ms")
            yield Figure(BENCH, backend, "due_queue_p99", queue_p99, "ms")
            yield Figure(BENCH, backend, "due_queue_statements", counter.count / len(readers), "statements")
            yield Figure(BENCH, backend, "due_queue_p99_over_floor", round(queue_p99 / floor_p99, 2), "x")

            answerers = pick.sample(range(1, sizes.students + 1), k=ANSWERS)
            latencies, statements = [], []
            for user_id in answerers:
                queue = await read_queue(database, user_id, limit=1)
                if not queue:
                    continue
                with StatementCounter(database) as counter:
                    started = time.perf_counter()
                    async with database.session_scope() as session:
                        await reviews.answer(
                            session,
                            owner_id=user_id,
                            user_id=user_id,
                            question_id=queue[0].question_id,
                            seen_reps=queue[0].reps,
                            choice=[0],
                            number=1,
                            now=NOW,
                            settings=settings,
                        )
                    latencies.append(time.perf_counter() - started)
                statements.append(counter.count)
            yield Figure(BENCH, backend, "answers", len(statements), "answers")
            yield Figure(BENCH, backend, "answer_p50", ms(percentile(latencies, 50)), "ms")
            yield Figure(BENCH, backend, "answer_p99", ms(percentile(latencies, 99)), "ms")
            yield Figure(BENCH, backend, "answer_statements_max", max(statements), "statements")
            yield Figure(
                BENCH, backend, "answer_statements_mean", round(sum(statements) / len(statements), 2), "statements"
            )
