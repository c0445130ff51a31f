"""Courses at scale: importing a 500-lesson package, and `/lesson next` / `/course progress` service time
with 10k enrolled students across 100 courses (SQL statements per call too)."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from bench._harness import Figure, StatementCounter, fresh_database, latency_figures, pk_read_floor
from bot.services import content, navigation
from bot.services.coursepack import CohortSpec, CoursePackage, LessonSpec, ModuleSpec, QuestionSpec
from db.models import Course, CourseEnrollment, CourseOffering, EnrollmentStatus, Guild, User
from db.session import Database

GUILD = 1
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PARAGRAPH = "Python reads like plain English, which makes it a good first language. " * 12


def generated_package(code: str, lessons: int, lessons_per_module: int = 25) -> CoursePackage:
    modules = []
    for module_number in range(0, lessons, lessons_per_module):
        items = tuple(
            LessonSpec(slug=f"l{n}", title=f"Lesson {n}", body=f"# Lesson {n}\n\n{PARAGRAPH}")
            for n in range(module_number, min(lessons, module_number + lessons_per_module))
        )
        modules.append(ModuleSpec(slug=f"m{module_number}", title=f"Module {module_number}", items=items))
    return CoursePackage(
        code=code, title=f"Course {code}", modules=tuple(modules), cohorts=(CohortSpec(term_name="Open"),)
    )


def sum_questions(count: int, *, first: int = 0, concept: str | None = None) -> tuple[QuestionSpec, ...]:
    """`count` one-line multiple-choice sums ("2 + 2?"), the first option right, from `first + first`."""
    return tuple(
        QuestionSpec(
            type="MULTIPLE_CHOICE", text=f"{n} + {n}?", options=(str(2 * n), str(2 * n + 1)), answer=0, concept=concept
        )
        for n in range(first, first + count)
    )


def one_lesson_package(code: str, title: str, lesson: LessonSpec) -> CoursePackage:
    """The smallest course around `lesson`: one module holding it, one open cohort."""
    return CoursePackage(
        code=code,
        title=title,
        modules=(ModuleSpec(slug="m1", title="Module 1", items=(lesson,)),),
        cohorts=(CohortSpec(term_name="Open"),),
    )


async def import_once(database: Database, package: CoursePackage) -> float:
    started = time.perf_counter()
    async with database.session_scope() as session:
        await content.import_package(session, guild_id=GUILD, actor_id=1, package=package, publish=True, now=NOW)
    return time.perf_counter() - started


async def enroll_students(database: Database, *, students: int, courses: int) -> dict[int, str]:
    """Every student enrolled in one course (round robin); returns user id -> course code."""
    async with database.session_scope() as session:
        offering_of = dict(
            (
                await session.execute(
                    select(Course.code, CourseOffering.id).join(Course, Course.id == CourseOffering.course_id)
                )
            ).all()
        )
        await session.execute(
            insert(User),
            [{"id": user, "display_name": f"s{user}", "preferences": {}} for user in range(1, students + 1)],
        )
        await session.execute(
            insert(CourseEnrollment),
            [
                {
                    "user_id": user,
                    "offering_id": offering_of[f"C{user % courses}"],
                    "status": EnrollmentStatus.ACTIVE,
                    "enrolled_at": NOW - timedelta(days=1),
                }
                for user in range(1, students + 1)
            ],
        )
    return {user: f"C{user % courses}" for user in range(1, students + 1)}


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    students, course_count, calls = max(200, int(10_000 * scale)), max(5, int(100 * scale)), max(100, int(1000 * scale))
    for backend in backends:
        async with fresh_database(backend) as database:
            async with database.session_scope() as session:
                session.add(Guild(id=GUILD, name="Bench"))
            seconds = await import_once(database, generated_package("BIG500", 500))
            yield Figure("courses", backend, "import_500_lessons", round(seconds, 3), "s")
            seconds = await import_once(database, generated_package("BIG500", 500))
            yield Figure("courses", backend, "reimport_500_lessons_unchanged", round(seconds, 3), "s")

            for number in range(course_count):
                await import_once(database, generated_package(f"C{number}", 20, lessons_per_module=5))
            course_of = await enroll_students(database, students=students, courses=course_count)
            rng = random.Random(7)
            # Give students history: a few lessons already read.
            for user in rng.sample(sorted(course_of), k=min(len(course_of), 2000)):
                for _ in range(rng.randint(1, 5)):
                    async with database.session_scope() as session:
                        await navigation.move(
                            session, guild_id=GUILD, user_id=user, course_code=course_of[user], to="next", now=NOW
                        )

            for name, action in (("lesson_next", "next"), ("course_progress", "progress")):
                latencies, counter = [], StatementCounter(database)
                users = [rng.choice(sorted(course_of)) for _ in range(calls)]
                with counter:
                    for user in users:
                        started = time.perf_counter()
                        async with database.session_scope() as session:
                            if action == "next":
                                await navigation.move(
                                    session, guild_id=GUILD, user_id=user, course_code=None, to="next", now=NOW
                                )
                            else:
                                await navigation.course_progress(
                                    session, guild_id=GUILD, user_id=user, course_code=None
                                )
                        latencies.append(time.perf_counter() - started)
                for figure in latency_figures("courses", backend, name, latencies, await pk_read_floor(database)):
                    yield figure
                yield Figure("courses", backend, f"{name}_statements", counter.count / calls, "statements")
