"""Daily class snapshots: one `class_analytics` row per course, per cohort and for the whole course, per guild-local
day, computed from the raw tables (enrollments, progress, quiz attempts and answers, tutor messages).

A course's day costs a fixed number of statements whatever its size (no query per student). The scheduled job
writes each course's last complete day once; `backfill` rebuilds days in place. docs/analytics.md defines every
figure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date, local_instant
from bot.services import published
from db.models import (
    AttemptStatus,
    ChatMessage,
    ChatMessageCitation,
    ChatMessageFeedback,
    ChatSession,
    ClassAnalytics,
    ContentConcept,
    ContentItem,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    Guild,
    Material,
    MaterialChunk,
    MessageRole,
    Question,
    QuestionAnswer,
    QuizAttempt,
)
from db.models.analytics import WHOLE_COURSE
from db.session import dialect_insert

TOP_CONCEPTS = 5
# How long after its attempt started an answer may come: quiz attempts untouched for a day are abandoned.
ANSWERS_WITHIN = timedelta(days=2)
# How far back the job looks for days it has not written (the bot was down): older gaps need `backfill`.
CATCH_UP_DAYS = 7
# Enrollment states that count a student in the class (a waitlisted or pending one has not started).
IN_CLASS = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED, EnrollmentStatus.DROPPED)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One course or cohort on one day: the columns of `class_analytics` (docs/analytics.md)."""

    course_id: int
    offering_id: int  # WHOLE_COURSE for the sum of every cohort
    day: date
    total_students: int
    active_students: int
    learning_students: int
    asking_students: int
    avg_questions: float
    avg_minutes: float
    engagement_score: float
    quiz_attempts: int
    quiz_passed: int
    tutor_sessions: int
    tutor_messages: int
    tutor_replies: int
    cached_replies: int
    thumbs_up: int
    thumbs_down: int
    tutor_tokens: int
    module_completion: dict[str, float]
    top_concepts: list[list[int]]
    struggling_concepts: list[list[float]]

    @property
    def quiz_pass_rate(self) -> float | None:
        return self.quiz_passed / self.quiz_attempts if self.quiz_attempts else None

    @property
    def cache_share(self) -> float | None:
        return self.cached_replies / self.tutor_replies if self.tutor_replies else None

    def as_row(self) -> dict[str, Any]:
        return {name.name: getattr(self, name.name) for name in fields(self)}


def engagement_score(*, total: int, active: int, learning: int, asking: int) -> float:
    """100 times the mean of three shares of the class: active, learning (finished something), asking the tutor."""
    if total == 0:
        return 0.0
    return round(100 * (active + learning + asking) / (3 * total), 1)


@dataclass(slots=True)
class _Tally:
    """What one cohort (or the whole course) did on the day, as it is read from the raw tables."""

    students: set[int] = field(default_factory=set)
    active: set[int] = field(default_factory=set)
    learning: set[int] = field(default_factory=set)
    asking: set[int] = field(default_factory=set)
    questions: int = 0
    seconds: float = 0.0
    quiz_attempts: int = 0
    quiz_passed: int = 0
    tutor_sessions: int = 0
    tutor_replies: int = 0
    cached_replies: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    tutor_tokens: int = 0
    modules_done: Counter[int] = field(default_factory=Counter)  # module id -> students who completed it
    cited: Counter[int] = field(default_factory=Counter)  # concept id -> citations
    answered: Counter[int] = field(default_factory=Counter)  # concept id -> answers
    right: Counter[int] = field(default_factory=Counter)  # concept id -> right answers

    def figures(self, course_id: int, offering_id: int, day: date, modules: Sequence[int]) -> DayFigures:
        total, active = len(self.students), len(self.active)
        struggling = sorted(
            ((concept, self.right[concept] / count) for concept, count in self.answered.items()),
            key=lambda pair: (pair[1], -self.answered[pair[0]], pair[0]),
        )
        return DayFigures(
            course_id=course_id,
            offering_id=offering_id,
            day=day,
            total_students=total,
            active_students=active,
            learning_students=len(self.learning),
            asking_students=len(self.asking),
            avg_questions=round(self.questions / active, 2) if active else 0.0,
            avg_minutes=round(self.seconds / 60 / active, 1) if active else 0.0,
            engagement_score=engagement_score(
                total=total, active=active, learning=len(self.learning), asking=len(self.asking)
            ),
            quiz_attempts=self.quiz_attempts,
            quiz_passed=self.quiz_passed,
            tutor_sessions=self.tutor_sessions,
            tutor_messages=self.questions,
            tutor_replies=self.tutor_replies,
            cached_replies=self.cached_replies,
            thumbs_up=self.thumbs_up,
            thumbs_down=self.thumbs_down,
            tutor_tokens=self.tutor_tokens,
            module_completion={
                str(module): round(self.modules_done[module] / total, 3) if total else 0.0 for module in modules
            },
            top_concepts=[[concept, count] for concept, count in self.cited.most_common(TOP_CONCEPTS)],
            struggling_concepts=[[concept, round(share, 3)] for concept, share in struggling[:TOP_CONCEPTS]],
        )


def day_window(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """The UTC instants a guild-local day starts and ends at."""
    return local_instant(day, time(0), time_zone), local_instant(day + timedelta(days=1), time(0), time_zone)


class _Day:
    """The reads behind one course's day; each method is one statement."""

    def __init__(self, session: AsyncSession, course_id: int, day: date, time_zone: str) -> None:
        self.session, self.course_id, self.day = session, course_id, day
        self.start, self.end = day_window(day, time_zone)
        self.offerings: list[int] = []
        self.tallies: defaultdict[int, _Tally] = defaultdict(_Tally)
        self.cohort_of: dict[int, int] = {}  # student -> the cohort their figures count in

    def _both(self, user_id: int | None, offering_id: int | None = None) -> Iterable[_Tally]:
        """The whole course's tally, and the cohort's when the student (or the row) belongs to one."""
        yield self.tallies[WHOLE_COURSE]
        cohort = offering_id if offering_id is not None else self.cohort_of.get(user_id or -1)
        if cohort is not None:
            yield self.tallies[cohort]

    def _during(self, column: Any) -> Any:
        return and_(column >= self.start, column < self.end)

    async def compute(self) -> list[DayFigures]:
        self.offerings = list(
            await self.session.scalars(select(CourseOffering.id).where(CourseOffering.course_id == self.course_id))
        )
        for offering_id in self.offerings:
            self.tallies[offering_id]  # every cohort gets its row, even an empty one
        self.tallies[WHOLE_COURSE]
        await self._students()
        modules = await self._modules()
        await self._progress()
        await self._quizzes()
        await self._tutor()
        await self._citations()
        await self._answers()
        return [
            tally.figures(self.course_id, offering_id, self.day, modules)
            for offering_id, tally in sorted(self.tallies.items())
        ]

    async def _students(self) -> None:
        rows = await self.session.execute(
            select(CourseEnrollment.user_id, CourseEnrollment.offering_id)
            .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
            .where(
                CourseOffering.course_id == self.course_id,
                CourseEnrollment.status.in_(IN_CLASS),
                CourseEnrollment.enrolled_at < self.end,
                or_(CourseEnrollment.dropped_at.is_(None), CourseEnrollment.dropped_at >= self.end),
            )
            .order_by(CourseEnrollment.enrolled_at)
        )
        for user_id, offering_id in rows:
            self.cohort_of[user_id] = offering_id  # the latest cohort a student joined
        for user_id, offering_id in self.cohort_of.items():
            for tally in self._both(user_id, offering_id):
                tally.students.add(user_id)

    async def _modules(self) -> list[int]:
        """Completion of each module by the day's end: students who completed every published item of it."""
        catalogue = published.items(self.course_id).with_only_columns(ContentItem.id, ContentItem.module_id)
        sizes = Counter(module for _, module in (await self.session.execute(catalogue)).all())
        done = (
            select(ContentProgress.user_id, ContentProgress.offering_id, ContentItem.module_id, func.count())
            .join(ContentItem, ContentItem.id == ContentProgress.item_id)
            .where(
                ContentProgress.item_id.in_(
                    catalogue.with_only_columns(ContentItem.id).correlate(None).scalar_subquery()
                ),
                ContentProgress.completed_at < self.end,
            )
            .group_by(ContentProgress.user_id, ContentProgress.offering_id, ContentItem.module_id)
        )
        for user_id, offering_id, module_id, count in await self.session.execute(done):
            if count >= sizes[module_id] and user_id in self.cohort_of:
                for tally in self._both(user_id, offering_id):
                    tally.modules_done[module_id] += 1
        return sorted(sizes)

    async def _progress(self) -> None:
        """Opened or completed items: active; completed ones: learning, and their estimated minutes."""
        rows = await self.session.execute(
            select(
                ContentProgress.user_id,
                ContentProgress.offering_id,
                self._during(ContentProgress.completed_at).label("completed"),
                ContentRevision.estimated_duration_seconds,
            )
            .join(ContentItem, ContentItem.id == ContentProgress.item_id)
            .outerjoin(
                ContentRevision,
                and_(
                    ContentRevision.item_id == ContentItem.id,
                    ContentRevision.version
                    == select(func.max(ContentRevision.version))
                    .where(ContentRevision.item_id == ContentItem.id)
                    .correlate(ContentItem)
                    .scalar_subquery(),
                ),
            )
            .where(
                ContentProgress.offering_id.in_(self.offerings),
                or_(
                    self._during(ContentProgress.first_opened_at),
                    self._during(ContentProgress.last_opened_at),
                    self._during(ContentProgress.completed_at),
                ),
            )
        )
        for user_id, offering_id, completed, seconds in rows:
            for tally in self._both(user_id, offering_id):
                tally.active.add(user_id)
                if completed:
                    tally.learning.add(user_id)
                    tally.seconds += seconds or 0

    async def _quizzes(self) -> None:
        rows = await self.session.execute(
            select(
                QuizAttempt.user_id,
                QuizAttempt.offering_id,
                QuizAttempt.status,
                QuizAttempt.passed,
                QuizAttempt.time_taken_seconds,
                self._during(QuizAttempt.submitted_at).label("submitted"),
            ).where(
                QuizAttempt.offering_id.in_(self.offerings),
                or_(self._during(QuizAttempt.started_at), self._during(QuizAttempt.submitted_at)),
            )
        )
        for user_id, offering_id, status, passed, seconds, submitted in rows:
            for tally in self._both(user_id, offering_id):
                if user_id is not None:
                    tally.active.add(user_id)
                if submitted and status is AttemptStatus.SUBMITTED:
                    tally.quiz_attempts += 1
                    tally.quiz_passed += bool(passed)
                    tally.seconds += seconds or 0
                    if user_id is not None:
                        tally.learning.add(user_id)

    async def _tutor(self) -> None:
        sessions = await self.session.execute(
            select(ChatSession.user_id).where(
                ChatSession.course_id == self.course_id, self._during(ChatSession.started_at)
            )
        )
        for (user_id,) in sessions:
            for tally in self._both(user_id):
                tally.tutor_sessions += 1
        messages = await self.session.execute(
            select(ChatSession.user_id, ChatMessage.role, ChatMessage.meta)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .where(ChatSession.course_id == self.course_id, self._during(ChatMessage.created_at))
        )
        for user_id, role, meta in messages:
            for tally in self._both(user_id):
                if role is MessageRole.USER:
                    tally.questions += 1
                    tally.active.add(user_id)
                    tally.asking.add(user_id)
                elif role is MessageRole.ASSISTANT:
                    tally.tutor_replies += 1
                    tally.cached_replies += bool(meta.get("cached"))
                    tally.tutor_tokens += int(meta.get("total_tokens") or 0)
        ratings = await self.session.execute(
            select(ChatSession.user_id, ChatMessageFeedback.rating)
            .join(ChatMessage, ChatMessage.id == ChatMessageFeedback.message_id)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .where(ChatSession.course_id == self.course_id, self._during(ChatMessageFeedback.created_at))
        )
        for user_id, rating in ratings:
            for tally in self._both(user_id):
                tally.thumbs_up += rating > 0
                tally.thumbs_down += rating < 0

    async def _citations(self) -> None:
        """Concepts of the lessons the day's tutor answers cited (uploaded files teach no declared concept)."""
        rows = await self.session.execute(
            select(ChatSession.user_id, ContentConcept.concept_id, func.count())
            .select_from(ChatMessageCitation)
            .join(ChatMessage, ChatMessage.id == ChatMessageCitation.message_id)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .join(MaterialChunk, MaterialChunk.id == ChatMessageCitation.chunk_id)
            .join(Material, Material.id == MaterialChunk.material_id)
            .join(ContentConcept, ContentConcept.item_id == Material.content_item_id)
            .where(ChatSession.course_id == self.course_id, self._during(ChatMessage.created_at))
            .group_by(ChatSession.user_id, ContentConcept.concept_id)
        )
        for user_id, concept_id, count in rows:
            for tally in self._both(user_id):
                tally.cited[concept_id] += count

    async def _answers(self) -> None:
        rows = await self.session.execute(
            select(
                QuizAttempt.user_id,
                QuizAttempt.offering_id,
                Question.concept_id,
                func.count(),
                func.count().filter(QuestionAnswer.is_correct.is_(True)),
            )
            .select_from(QuestionAnswer)
            .join(QuizAttempt, QuizAttempt.id == QuestionAnswer.attempt_id)
            .join(Question, Question.id == QuestionAnswer.question_id)
            .where(
                QuizAttempt.offering_id.in_(self.offerings),
                # Through the attempts of the days around (an attempt untouched for a day is abandoned), not every
                # answer the cohorts ever gave.
                QuizAttempt.started_at >= self.start - ANSWERS_WITHIN,
                QuizAttempt.started_at < self.end,
                Question.concept_id.is_not(None),
                self._during(QuestionAnswer.answered_at),
            )
            .group_by(QuizAttempt.user_id, QuizAttempt.offering_id, Question.concept_id)
        )
        for user_id, offering_id, concept_id, count, right in rows:
            for tally in self._both(user_id, offering_id):
                tally.answered[concept_id] += count
                tally.right[concept_id] += right


async def compute_day(session: AsyncSession, *, course_id: int, day: date, time_zone: str) -> list[DayFigures]:
    """The figures of a course's day, the whole course first, then each cohort; nothing is written."""
    return await _Day(session, course_id, day, time_zone).compute()


async def write_day(
    session: AsyncSession, *, course_id: int, day: date, time_zone: str, now: datetime, replace: bool
) -> list[DayFigures]:
    """Compute a course's day and store its rows: `replace` overwrites rows already there (a rebuild); otherwise
    they are kept as they are, so a rerun of the job changes nothing."""
    figures = await compute_day(session, course_id=course_id, day=day, time_zone=time_zone)
    rows = [{**row.as_row(), "computed_at": now} for row in figures]
    statement = dialect_insert(session, ClassAnalytics).values(rows)
    keys = [ClassAnalytics.course_id, ClassAnalytics.offering_id, ClassAnalytics.day]
    if replace:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in rows[0] if name not in {"day"}}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    await session.execute(statement)
    return figures


@dataclass(frozen=True, slots=True)
class SnapshotRun:
    courses: int  # courses with a day written now
    days: int  # course days written


async def _live_courses(session: AsyncSession, guild_id: int | None = None) -> list[tuple[int, str]]:
    query = (
        select(Course.id, Guild.time_zone)
        .join(Guild, Guild.id == Course.guild_id)
        .where(Course.deleted_at.is_(None))
        .order_by(Course.id)
    )
    if guild_id is not None:
        query = query.where(Course.guild_id == guild_id)
    return [(course_id, zone or "UTC") for course_id, zone in await session.execute(query)]


async def snapshot_due(session: AsyncSession, *, now: datetime) -> SnapshotRun:
    """Write each live course's complete guild-local days of the last `CATCH_UP_DAYS` that have no row yet, from
    its first enrollment on: normally yesterday only, and after downtime the days missed. A day written is never
    rewritten here, so the job may run every hour and restart at will."""
    courses = await _live_courses(session)
    window = now.date() - timedelta(days=CATCH_UP_DAYS + 1)
    stored: defaultdict[int, set[date]] = defaultdict(set)
    for course_id, day in await session.execute(
        select(ClassAnalytics.course_id, ClassAnalytics.day).where(
            ClassAnalytics.offering_id == WHOLE_COURSE, ClassAnalytics.day >= window
        )
    ):
        stored[course_id].add(day)
    first_enrolled = dict(
        (
            await session.execute(
                select(CourseOffering.course_id, func.min(CourseEnrollment.enrolled_at))
                .join(CourseEnrollment, CourseEnrollment.offering_id == CourseOffering.id)
                .group_by(CourseOffering.course_id)
            )
        ).all()
    )
    written = days = 0
    for course_id, zone in courses:
        if course_id not in first_enrolled:
            continue  # nobody to count yet
        yesterday = local_date(now, zone) - timedelta(days=1)
        first = max(yesterday - timedelta(days=CATCH_UP_DAYS - 1), local_date(first_enrolled[course_id], zone))
        missing = [first + timedelta(days=step) for step in range((yesterday - first).days + 1)]
        missing = [day for day in missing if day not in stored[course_id]]
        for day in missing:
            await write_day(session, course_id=course_id, day=day, time_zone=zone, now=now, replace=False)
        written += bool(missing)
        days += len(missing)
    return SnapshotRun(courses=written, days=days)


async def backfill(session: AsyncSession, *, now: datetime, days: int, guild_id: int | None = None) -> SnapshotRun:
    """Rebuild the last `days` complete days of every live course (of one guild, or all) from the raw tables."""
    courses = await _live_courses(session, guild_id)
    for course_id, zone in courses:
        yesterday = local_date(now, zone) - timedelta(days=1)
        for back in range(days):
            await write_day(
                session,
                course_id=course_id,
                day=yesterday - timedelta(days=back),
                time_zone=zone,
                now=now,
                replace=True,
            )
    return SnapshotRun(courses=len(courses), days=days * len(courses))


async def history(
    session: AsyncSession, *, course_id: int, offering_id: int, since: date | None, until: date
) -> list[DayFigures]:
    """Stored days of a course (or cohort) from `since` (None: the first) to `until`, oldest first."""
    query = select(ClassAnalytics).where(
        ClassAnalytics.course_id == course_id,
        ClassAnalytics.offering_id == offering_id,
        ClassAnalytics.day <= until,
    )
    if since is not None:
        query = query.where(ClassAnalytics.day >= since)
    names = [name.name for name in fields(DayFigures)]
    return [
        DayFigures(**{name: getattr(row, name) for name in names})
        for row in await session.scalars(query.order_by(ClassAnalytics.day))
    ]
