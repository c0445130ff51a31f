"""Class analytics at scale: 10,000 students in 100 courses with 1,000,000 quiz answers and 200,000 tutor messages
over 30 days (at `--scale 1`; the courses scale too, down to 10, and the figures name how many).

Figures, on each backend:

- the nightly snapshot of every course (one guild-local day, all courses), its statements per course, against a
  floor measured in the same run: reading that day's raw rows (answers, attempts, tutor messages, progress) with
  plain counts, the least any snapshot must read;
- the job's catch-up run on an empty history (the last 7 days of every course);
- `/teach analytics` through the offline Discord: time to the acknowledgement (Discord's 3 seconds) and to the
  complete answer with its four charts, against a floor in the same run (`/course list`, a plain read command);
- the event loop's longest stall while `/teach analytics` runs (its charts render in a thread), against the same
  ticker on an idle loop (the longest of `COMMAND_RUNS` idle seconds, interleaved with the runs: on a shared machine
  the operating system's scheduling shows in both).

Students, enrollments, progress, attempts, answers and tutor conversations are generated here and inserted in
batches (executemany); the courses are imported as packages, as an instructor would.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench._harness import Figure, StatementCounter, build_figure, fresh_database, percentile
from bench.loop import max_lag_during
from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import load_settings
from bot.services import content, tenancy
from bot.services.analytics import snapshots
from bot.services.coursepack import (
    CohortSpec,
    ConceptSpec,
    CoursePackage,
    LessonSpec,
    ModuleSpec,
    QuestionSpec,
    QuizSpec,
)
from db.models import (
    AttemptStatus,
    ChatMessage,
    ChatSession,
    ContentItem,
    ContentProgress,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    MessageRole,
    Question,
    QuestionAnswer,
    QuizAttempt,
    SourceMode,
    User,
)
from db.session import Database
from sandbox import DiscordSandbox
from sandbox.harness import DEFAULT_GUILD_ID

BENCH = "analytics"
COURSES = 100  # at --scale 1
FEWEST_COURSES = 10
QUESTIONS_PER_QUIZ = 10
HISTORY_DAYS = 30
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
YESTERDAY = date(2026, 11, 22)
BATCH = 20_000
COMMAND_RUNS = 5
IDLE_SECONDS = 1.0
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


@dataclass(frozen=True, slots=True)
class Sizes:
    courses: int
    students: int
    answers: int
    messages: int

    @classmethod
    def scaled(cls, scale: float) -> Sizes:
        courses = max(FEWEST_COURSES, int(COURSES * scale))
        return cls(
            courses=courses,
            students=max(courses, int(10_000 * scale)),
            answers=max(10_000, int(1_000_000 * scale)),
            messages=max(2_000, int(200_000 * scale)),
        )


def package(number: int) -> CoursePackage:
    questions = tuple(
        QuestionSpec(
            type="MULTIPLE_CHOICE",
            text=f"Question {q}",
            options=("a", "b", "c", "d"),
            answer=(q % 4,),
            concept=f"concept-{q % 3}",
        )
        for q in range(QUESTIONS_PER_QUIZ)
    )
    lessons = [
        LessonSpec(slug=f"lesson-{n}", title=f"Lesson {n}", body="Text.", estimated_minutes=10) for n in range(4)
    ]
    return CoursePackage(
        code=f"C{number}",
        title=f"Course {number}",
        cohorts=(CohortSpec(term_name="Open"),),
        concepts=tuple(ConceptSpec(slug=f"concept-{n}", name=f"Concept {n}") for n in range(3)),
        modules=(
            ModuleSpec(slug="one", title="One", items=tuple(lessons[:2])),
            ModuleSpec(
                slug="two", title="Two", items=(*lessons[2:], QuizSpec(slug="quiz", title="Quiz", questions=questions))
            ),
        ),
    )


async def build(database: Database, sizes: Sizes) -> None:
    """The courses through the importer, then the class's history in batches."""
    async with database.session_scope() as session:
        await tenancy.remember_guild(session, guild_id=DEFAULT_GUILD_ID, name="Bench")
        for number in range(sizes.courses):
            await content.import_package(
                session, guild_id=DEFAULT_GUILD_ID, actor_id=1, package=package(number), publish=True, now=NOW
            )
    async with database.session_scope() as session:
        offerings = list((await session.execute(select(CourseOffering.course_id, CourseOffering.id))).all())
        items = (await session.execute(select(ContentItem.course_id, ContentItem.id, ContentItem.kind))).all()
        questions = (await session.execute(select(Question.item_id, Question.id, Question.answer))).all()
    lessons: dict[int, list[int]] = {}
    quiz_of: dict[int, int] = {}
    for course_id, item_id, kind in items:
        if kind.value == "QUIZ":
            quiz_of[course_id] = item_id
        else:
            lessons.setdefault(course_id, []).append(item_id)
    keys: dict[int, list[tuple[int, int]]] = {}
    for item_id, question_id, answer in questions:
        keys.setdefault(item_id, []).append((question_id, answer[0]))
    rows = History(sizes, offerings, lessons, quiz_of, keys)
    for model, batch in rows.batches():
        async with database.session_scope() as session:
            await session.execute(insert(model), batch)


class History:
    """Generated rows: each student enrolled in one course, studying over the last `HISTORY_DAYS` days."""

    def __init__(
        self,
        sizes: Sizes,
        offerings: list[Any],
        lessons: dict[int, list[int]],
        quiz_of: dict[int, int],
        keys: dict[int, list[tuple[int, int]]],
    ) -> None:
        self.sizes, self.offerings, self.lessons, self.quiz_of, self.keys = sizes, offerings, lessons, quiz_of, keys
        self.random = random.Random(14)
        self.start = NOW - timedelta(days=HISTORY_DAYS)

    def moment(self) -> datetime:
        return self.start + timedelta(seconds=self.random.randrange(HISTORY_DAYS * 86_400))

    def students(self) -> Iterator[tuple[int, int, int]]:
        """(user id, course id, offering id)."""
        for number in range(self.sizes.students):
            course_id, offering_id = self.offerings[number % len(self.offerings)]
            yield 100_000 + number, course_id, offering_id

    def batches(self) -> Iterator[tuple[type, list[dict[str, Any]]]]:
        for model, rows in (
            (User, self.users()),
            (CourseEnrollment, self.enrollments()),
            (ContentProgress, self.progress()),
            (QuizAttempt, self.attempts()),
            (QuestionAnswer, self.answers()),
            (ChatSession, self.sessions()),
            (ChatMessage, self.messages()),
        ):
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH:
                    yield model, batch
                    batch = []
            if batch:
                yield model, batch

    def users(self) -> Iterator[dict[str, Any]]:
        for user_id, _, _ in self.students():
            yield {"id": user_id, "display_name": f"Student {user_id}", "locale": "en-US", "time_zone": "UTC"}

    def enrollments(self) -> Iterator[dict[str, Any]]:
        for user_id, _, offering_id in self.students():
            yield {
                "user_id": user_id,
                "offering_id": offering_id,
                "status": EnrollmentStatus.ACTIVE,
                "enrolled_at": self.start,
            }

    def progress(self) -> Iterator[dict[str, Any]]:
        for user_id, course_id, offering_id in self.students():
            for item_id in self.lessons[course_id][: self.random.randrange(5)]:
                at = self.moment()
                yield {
                    "user_id": user_id,
                    "offering_id": offering_id,
                    "item_id": item_id,
                    "percent": 100,
                    "attempts": 1,
                    "first_opened_at": at,
                    "last_opened_at": at,
                    "completed_at": at,
                }

    def _attempt_plan(self) -> Iterator[tuple[int, int, int, int, int, datetime]]:
        """(attempt id, user, offering, quiz, attempt number, submitted at), attempt ids from 1 in order."""
        per_student = max(1, self.sizes.answers // (self.sizes.students * QUESTIONS_PER_QUIZ))
        attempt_id = 0
        plan = random.Random(41)
        for user_id, course_id, offering_id in self.students():
            for number in range(1, per_student + 1):
                attempt_id += 1
                at = self.start + timedelta(seconds=plan.randrange(HISTORY_DAYS * 86_400))
                yield attempt_id, user_id, offering_id, self.quiz_of[course_id], number, at

    def attempts(self) -> Iterator[dict[str, Any]]:
        for attempt_id, user_id, offering_id, quiz_id, number, at in self._attempt_plan():
            score = float(10 * (attempt_id * 7 % 11))
            yield {
                "id": attempt_id,
                "user_id": user_id,
                "offering_id": offering_id,
                "item_id": quiz_id,
                "attempt_number": number,
                "status": AttemptStatus.SUBMITTED,
                "question_order": [],
                "option_orders": {},
                "score": min(score, 100.0),
                "correct_count": int(score // 10),
                "passed": score >= 70,
                "started_at": at - timedelta(minutes=5),
                "submitted_at": at,
                "time_taken_seconds": 300,
            }

    def answers(self) -> Iterator[dict[str, Any]]:
        for attempt_id, user_id, _, quiz_id, _, at in self._attempt_plan():
            ability = (user_id % 10) / 10
            for question_id, right in self.keys[quiz_id]:
                correct = self.random.random() < 0.3 + 0.6 * ability
                chosen = right if correct else (right + 1 + self.random.randrange(3)) % 4
                yield {
                    "attempt_id": attempt_id,
                    "question_id": question_id,
                    "answer": [chosen],
                    "is_correct": correct,
                    "answered_at": at,
                }

    def _session_plan(self) -> Iterator[tuple[int, int, int, datetime]]:
        per_student = max(1, self.sizes.messages // (self.sizes.students * 10))
        session_id = 0
        plan = random.Random(43)
        for user_id, course_id, _ in self.students():
            for _ in range(per_student):
                session_id += 1
                yield (
                    session_id,
                    user_id,
                    course_id,
                    self.start + timedelta(seconds=plan.randrange(HISTORY_DAYS * 86_400)),
                )

    def sessions(self) -> Iterator[dict[str, Any]]:
        for session_id, user_id, course_id, at in self._session_plan():
            yield {
                "id": session_id,
                "user_id": user_id,
                "guild_id": DEFAULT_GUILD_ID,
                "course_id": course_id,
                "thread_id": 10**15 + session_id,
                "source_mode": SourceMode.COURSE,
                "cache_state": "TRACKING",
                "started_at": at,
                "last_message_at": at,
            }

    def messages(self) -> Iterator[dict[str, Any]]:
        for session_id, _, _, at in self._session_plan():
            for turn in range(5):
                asked = at + timedelta(minutes=turn)
                yield {"session_id": session_id, "role": MessageRole.USER, "content": "Why?", "created_at": asked}
                yield {
                    "session_id": session_id,
                    "role": MessageRole.ASSISTANT,
                    "content": "Because.",
                    "meta": {"cached": turn % 2 == 0, "total_tokens": 0 if turn % 2 == 0 else 400},
                    "created_at": asked + timedelta(seconds=5),
                }


async def floor_read_of_a_day(database: Database) -> None:
    """The least a snapshot must do: count the day's raw rows of every course."""
    start, end = snapshots.day_window(YESTERDAY, "UTC")
    async with database.session_scope() as session:
        for model, column in (
            (QuestionAnswer, QuestionAnswer.answered_at),
            (QuizAttempt, QuizAttempt.submitted_at),
            (ChatMessage, ChatMessage.created_at),
            (ContentProgress, ContentProgress.last_opened_at),
        ):
            await session.scalar(select(func.count()).select_from(model).where(column >= start, column < end))


async def timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def snapshot_figures(database: Database, backend: str, courses: int) -> AsyncIterator[Figure]:
    async with database.session_scope() as session:
        catch_up = await timed(snapshots.snapshot_due(session, now=NOW))
    yield Figure(BENCH, backend, "snapshot_catch_up_7_days_seconds", round(catch_up, 2), "s")
    floor = await timed(floor_read_of_a_day(database))
    with StatementCounter(database) as counter:
        async with database.session_scope() as session:
            nightly = await timed(snapshots.backfill(session, now=NOW, days=1))
    yield Figure(BENCH, backend, f"nightly_snapshot_{courses}_courses_seconds", round(nightly, 2), "s")
    yield Figure(BENCH, backend, "floor_read_day_rows_seconds", round(floor, 3), "s")
    yield Figure(BENCH, backend, "nightly_snapshot_over_floor", round(nightly / floor, 1), "x")
    yield Figure(BENCH, backend, "nightly_statements_per_course", round(counter.count / courses, 1), "statements")


async def command_figures(database: Database, backend: str) -> AsyncIterator[Figure]:
    settings = load_settings(CONFIG)
    bot = CourseBot(settings, database=database, clock=FixedClock(NOW), freeze_heap=True)
    sandbox = DiscordSandbox(bot, timeout=300.0)
    await sandbox.start()
    try:
        await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
        await sandbox.slash("teach analytics", user=sandbox.instructor, course="C0")  # warm the caches
        gc.collect()
        gc.freeze()
        floors, acknowledged, complete, stalls, idle_lags = [], [], [], [], []
        for _ in range(COMMAND_RUNS):
            # Floors interleaved with the runs, so a busy machine weighs on both alike.
            idle_lags.append(await max_lag_during(asyncio.sleep(IDLE_SECONDS)))
            floors.append(await timed(sandbox.slash("course list", user=sandbox.instructor)))
            started = time.perf_counter()
            holder: dict[str, Any] = {}

            async def analytics(holder: dict[str, Any] = holder) -> None:
                holder["reply"] = await sandbox.slash("teach analytics", user=sandbox.instructor, course="C1")

            stalls.append(await max_lag_during(analytics()))
            complete.append(time.perf_counter() - started)
            reply = holder["reply"]
            assert len(reply.files) == 4, reply.text
            acknowledged.append(reply.acknowledged_after or 0.0)
        sandbox.assert_no_errors()
    finally:
        gc.unfreeze()
        await sandbox.close()
    floor, idle = percentile(floors, 50), max(idle_lags)
    yield Figure(BENCH, backend, "floor_course_list_p50", round(floor * 1000, 1), "ms")
    yield Figure(BENCH, backend, "teach_analytics_ack_max", round(max(acknowledged) * 1000, 1), "ms")
    yield Figure(BENCH, backend, "teach_analytics_complete_p50", round(percentile(complete, 50) * 1000, 1), "ms")
    yield Figure(BENCH, backend, "teach_analytics_complete_max", round(max(complete) * 1000, 1), "ms")
    yield Figure(BENCH, backend, "teach_analytics_complete_over_floor", round(percentile(complete, 50) / floor, 1), "x")
    yield Figure(BENCH, backend, "floor_idle_max_lag", round(idle * 1000, 1), "ms")
    yield Figure(BENCH, backend, "teach_analytics_max_lag", round(max(stalls) * 1000, 1), "ms")
    yield Figure(BENCH, backend, "teach_analytics_max_lag_over_floor", round(max(stalls) / idle, 1), "x")


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    sizes = Sizes.scaled(scale)
    for backend in backends:
        async with fresh_database(backend) as database:
            yield await build_figure(BENCH, backend, build(database, sizes))
            async with database.session_scope() as session:
                for model in (User, QuestionAnswer, ChatMessage):
                    count = await session.scalar(select(func.count()).select_from(model))
                    yield Figure(BENCH, backend, f"{model.__tablename__}_rows", count or 0, "rows")
            async for figure in snapshot_figures(database, backend, sizes.courses):
                yield figure
            async for figure in command_figures(database, backend):
                yield figure
