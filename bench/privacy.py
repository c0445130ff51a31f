"""Erasing a heavy member (`/profile delete`): 10,000 quiz answers, 500 tutor messages, 2,000 XP ledger rows, a
year of study days, among 200 other students of the same course. The target: no lock held longer than 100 ms.

Figures, on each backend, with floors measured in the same run:

- every transaction of the erasure, from BEGIN to COMMIT (on SQLite the whole database's write lock, taken at BEGIN
  IMMEDIATE; on PostgreSQL the longest any row lock can be held): count, p50, p99 and the longest, against the
  floor of a one-row write in its own transaction (p99 and longest) and the ratio;
- what the other members feel meanwhile: a one-row write every few milliseconds while the erasure runs, its longest
  wait against the floor's longest;
- the whole erasure's duration and rows per second.

`batch_size` is config.toml's ([privacy]).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select, update

from bench._harness import Figure, build_figure, fresh_database, percentile
from bot.config import load_settings
from bot.services import privacy
from db.models import (
    ActivityEvent,
    AttemptStatus,
    ChatMessage,
    ChatSession,
    ContentItem,
    ContentKind,
    ContentProgress,
    Course,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    Guild,
    MessageRole,
    Module,
    ModuleType,
    Question,
    QuestionAnswer,
    QuestionType,
    QuizAttempt,
    SourceMode,
    User,
    XPEvent,
)
from db.session import Database

BENCH = "privacy"
GUILD = 1
HEAVY = 1_000_000
OTHERS = 200
QUESTIONS = 10
ANSWERS, MESSAGES, LEDGER_ROWS, STUDY_DAYS = 10_000, 500, 2_000, 365
MESSAGES_PER_SESSION = 20
FLOOR_WRITES = 500
PROBE_EVERY_SECONDS = 0.005
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


class TransactionTimer:
    """The duration of every transaction the current task runs while attached, from BEGIN to COMMIT or ROLLBACK
    (the engine's events run inside the task that drives the connection)."""

    def __init__(self, database: Database) -> None:
        self.durations: list[float] = []
        self._engine = database.engine.sync_engine
        self._task = asyncio.current_task()
        self._began: dict[int, float] = {}

    def _begin(self, connection: Any) -> None:
        if asyncio.current_task() is self._task:
            self._began[id(connection)] = time.perf_counter()

    def _end(self, connection: Any) -> None:
        if (began := self._began.pop(id(connection), None)) is not None:
            self.durations.append(time.perf_counter() - began)

    def __enter__(self) -> TransactionTimer:
        event.listen(self._engine, "begin", self._begin)
        event.listen(self._engine, "commit", self._end)
        event.listen(self._engine, "rollback", self._end)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "begin", self._begin)
        event.remove(self._engine, "commit", self._end)
        event.remove(self._engine, "rollback", self._end)


async def fill(database: Database, scale: float) -> None:
    """The course, 200 students with a little of everything, and the heavy member with a lot of it."""
    answers, messages = max(100, int(ANSWERS * scale)), max(20, int(MESSAGES * scale))
    async with database.session_scope() as session:
        session.add(Guild(id=GUILD, name="Bench"))
        session.add_all(User(id=user, display_name=f"s{user}") for user in [HEAVY, *range(1, OTHERS + 1)])
        await session.flush()
        course = Course(guild_id=GUILD, code="BIG", title="Big course", is_published=True)
        session.add(course)
        await session.flush()
        offering = CourseOffering(course_id=course.id, term_name="Open")
        module = Module(course_id=course.id, module_type=ModuleType.UNIT, slug="unit", sequence_index=0)
        session.add_all([offering, module])
        await session.flush()
        quiz = ContentItem(course_id=course.id, module_id=module.id, kind=ContentKind.QUIZ, slug="q", sequence_index=0)
        session.add(quiz)
        await session.flush()
        session.add_all(
            Question(
                item_id=quiz.id,
                position=n,
                question_type=QuestionType.TRUE_FALSE,
                text=f"Q{n}",
                options=["t", "f"],
                answer=[0],
            )
            for n in range(QUESTIONS)
        )
        await session.flush()
        question_ids = list(await session.scalars(select(Question.id).order_by(Question.position)))
        session.add_all(
            CourseEnrollment(user_id=user, offering_id=offering.id, status=EnrollmentStatus.ACTIVE)
            for user in [HEAVY, *range(1, OTHERS + 1)]
        )
        session.add_all(
            ContentProgress(user_id=user, offering_id=offering.id, item_id=quiz.id, percent=100)
            for user in [HEAVY, *range(1, OTHERS + 1)]
        )
    attempts_of = {HEAVY: answers // QUESTIONS, **{user: 5 for user in range(1, OTHERS + 1)}}
    for user, count in attempts_of.items():
        async with database.session_scope() as session:
            rows = [
                {
                    "user_id": user,
                    "offering_id": offering.id,
                    "item_id": quiz.id,
                    "attempt_number": number,
                    "status": AttemptStatus.SUBMITTED,
                    "question_order": question_ids,
                    "option_orders": {},
                    "score": 50.0,
                    "correct_count": 5,
                    "passed": False,
                    "submitted_at": NOW,
                }
                for number in range(1, count + 1)
            ]
            statement = insert(QuizAttempt).returning(QuizAttempt.id, sort_by_parameter_order=True)
            attempt_ids = list(await session.scalars(statement, rows))
            await session.execute(
                insert(QuestionAnswer),
                [
                    {"attempt_id": attempt, "question_id": question, "answer": [0], "is_correct": n % 2 == 0}
                    for attempt in attempt_ids
                    for n, question in enumerate(question_ids)
                ],
            )
    async with database.session_scope() as session:
        sessions = [
            {
                "user_id": HEAVY,
                "guild_id": GUILD,
                "course_id": course.id,
                "thread_id": 10_000 + n,
                "source_mode": SourceMode.COURSE,
            }
            for n in range(messages // MESSAGES_PER_SESSION)
        ]
        session_ids = list(
            await session.scalars(insert(ChatSession).returning(ChatSession.id, sort_by_parameter_order=True), sessions)
        )
        await session.execute(
            insert(ChatMessage),
            [
                {
                    "session_id": chat,
                    "role": MessageRole.USER if n % 2 == 0 else MessageRole.ASSISTANT,
                    "content": "How do loops work? " * 20,
                }
                for chat in session_ids
                for n in range(MESSAGES_PER_SESSION)
            ],
        )
    for user, rows in ((HEAVY, max(100, int(LEDGER_ROWS * scale))), *((user, 10) for user in range(1, OTHERS + 1))):
        async with database.session_scope() as session:
            # One row at a time through the ledger's trigger, as awards are written.
            await session.execute(
                insert(XPEvent),
                [
                    {
                        "guild_id": GUILD,
                        "user_id": user,
                        "course_id": course.id,
                        "amount": 5,
                        "action": "bench",
                        "source_key": f"bench:{user}:{n}",
                        "day": date(2026, 1, 1) + timedelta(days=n % 300),
                    }
                    for n in range(rows)
                ],
            )
    async with database.session_scope() as session:
        await session.execute(
            insert(ActivityEvent),
            [
                {
                    "guild_id": GUILD,
                    "user_id": HEAVY,
                    "kind": "streak_day",
                    "at": NOW - timedelta(days=n),
                    "meta": {"day": (NOW - timedelta(days=n)).date().isoformat()},
                }
                for n in range(STUDY_DAYS)
            ],
        )


async def one_row_write(database: Database, user: int) -> float:
    started = time.perf_counter()
    async with database.session_scope() as session:
        await session.execute(update(User).where(User.id == user).values(last_active_at=NOW))
    return time.perf_counter() - started


async def other_members(database: Database, stop: asyncio.Event) -> list[float]:
    """One-row writes every few milliseconds until `stop`: what the rest of the server waits meanwhile."""
    waits: list[float] = []
    while not stop.is_set():
        waits.append(await one_row_write(database, 1 + len(waits) % OTHERS))
        await asyncio.sleep(PROBE_EVERY_SECONDS)
    return waits


async def erasure_figures(database: Database, backend: str, batch_size: int) -> AsyncIterator[Figure]:
    floor = [await one_row_write(database, 1 + n % OTHERS) for n in range(FLOOR_WRITES)]
    floor_p99, floor_max = percentile(floor, 99), max(floor)
    yield Figure(BENCH, backend, "floor_one_row_write_p99", ms(floor_p99), "ms")
    yield Figure(BENCH, backend, "floor_one_row_write_max", ms(floor_max), "ms")

    stop = asyncio.Event()
    prober = asyncio.create_task(other_members(database, stop))
    with TransactionTimer(database) as transactions:
        started = time.perf_counter()
        erased = await privacy.erase_user(
            database, user_id=HEAVY, requested_by="operator", now=NOW, batch_size=batch_size
        )
        seconds = time.perf_counter() - started
        stop.set()
        waits = await prober
    assert erased.finished, erased

    held, rows = transactions.durations, sum(erased.changed.values())
    p99, longest = percentile(held, 99), max(held)
    yield Figure(BENCH, backend, "erasure_rows", rows, "rows")
    yield Figure(BENCH, backend, "erasure_seconds", round(seconds, 2), "s")
    yield Figure(BENCH, backend, "erasure_rows_per_second", round(rows / seconds), "rows/s")
    yield Figure(BENCH, backend, "transactions", len(held), "transactions")
    yield Figure(BENCH, backend, "transaction_p50", ms(percentile(held, 50)), "ms")
    yield Figure(BENCH, backend, "transaction_p99", ms(p99), "ms")
    yield Figure(BENCH, backend, "transaction_p99_over_floor_p99", round(p99 / floor_p99, 1), "x")
    yield Figure(BENCH, backend, "transaction_longest", ms(longest), "ms")
    yield Figure(BENCH, backend, "transaction_longest_over_floor_max", round(longest / floor_max, 1), "x")
    yield Figure(BENCH, backend, "transaction_longest_within_100ms", int(longest <= 0.1), "bool")
    yield Figure(BENCH, backend, "other_members_write_max", ms(max(waits)), "ms")
    yield Figure(BENCH, backend, "other_members_write_max_over_floor_max", round(max(waits) / floor_max, 1), "x")


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    batch_size = load_settings(CONFIG).privacy.batch_size
    for backend in backends:
        async with fresh_database(backend) as database:
            yield await build_figure(BENCH, backend, fill(database, scale))
            async for figure in erasure_figures(database, backend, batch_size):
                yield figure
