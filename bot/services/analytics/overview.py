"""What `/teach analytics` shows: the stored days of a period plus today live, the completion funnel, the concepts
with the lowest mastery and the quiz scores, for a course or one of its cohorts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date
from bot.errors import NotFound
from bot.services import courses, published
from bot.services.analytics.snapshots import DayFigures, compute_day, day_window, history
from db.models import (
    AttemptStatus,
    Concept,
    ConceptMastery,
    ContentItem,
    ContentKind,
    ContentRevision,
    CourseEnrollment,
    CourseOffering,
    Guild,
    ModuleRevision,
    QuizAttempt,
)
from db.models.analytics import WHOLE_COURSE

LOWEST_MASTERY_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Scope:
    """A course, or one cohort of it, as the staff named it."""

    course_id: int
    course_code: str
    course_title: str
    passing_score: int
    offering_id: int  # WHOLE_COURSE for every cohort
    cohort: str | None
    time_zone: str


@dataclass(frozen=True, slots=True)
class Overview:
    scope: Scope
    days: list[DayFigures]  # oldest first; the last is today, live
    funnel: list[tuple[str, float]]  # (module title, share of students who completed it), in course order
    lowest_mastery: list[tuple[str, float, int]]  # (concept, mean confidence 0-1, students), lowest first
    scores: list[float]  # every quiz attempt submitted in the period, percent
    quizzes: list[tuple[int, str]]  # (item id, title) of the published quizzes, for item analysis

    @property
    def today(self) -> DayFigures:
        return self.days[-1]

    @property
    def quiz_attempts(self) -> int:
        return sum(day.quiz_attempts for day in self.days)

    @property
    def quiz_pass_rate(self) -> float | None:
        attempts = self.quiz_attempts
        return sum(day.quiz_passed for day in self.days) / attempts if attempts else None

    @property
    def mean_active(self) -> float:
        return sum(day.active_students for day in self.days) / len(self.days)

    @property
    def mean_engagement(self) -> float:
        return sum(day.engagement_score for day in self.days) / len(self.days)

    def total(self, name: str) -> int:
        return sum(getattr(day, name) for day in self.days)


async def scope_of(session: AsyncSession, *, guild_id: int, code: str, cohort: str | None) -> Scope:
    """The course (and cohort, by its term name) staff asked about; NotFound when either does not exist."""
    course = await courses.live_course(session, guild_id=guild_id, code=code)
    zone = await session.scalar(select(Guild.time_zone).where(Guild.id == guild_id)) or "UTC"
    offering_id = WHOLE_COURSE
    if cohort is not None:
        found = await session.scalar(
            select(CourseOffering.id).where(
                CourseOffering.course_id == course.id, func.lower(CourseOffering.term_name) == cohort.strip().lower()
            )
        )
        if found is None:
            raise NotFound("cohort", cohort.strip().replace("`", "'")[:100])
        offering_id = found
    return Scope(course.id, course.code, course.title, course.passing_score, offering_id, cohort, zone)


async def overview(session: AsyncSession, *, scope: Scope, days: int | None, now: datetime) -> Overview:
    """The last `days` days up to today (None: since the first snapshot); today comes from the raw tables."""
    today = local_date(now, scope.time_zone)
    since = today - timedelta(days=days - 1) if days else None
    stored = await history(
        session, course_id=scope.course_id, offering_id=scope.offering_id, since=since, until=today - timedelta(1)
    )
    live = await compute_day(session, course_id=scope.course_id, day=today, time_zone=scope.time_zone)
    current = next(day for day in live if day.offering_id == scope.offering_id)
    first_day = since or (stored[0].day if stored else today)
    return Overview(
        scope=scope,
        days=[*stored, current],
        funnel=await _funnel(session, scope, current),
        lowest_mastery=await _lowest_mastery(session, scope),
        scores=await _scores(session, scope, since=day_window(first_day, scope.time_zone)[0]),
        quizzes=await quizzes_of(session, course_id=scope.course_id),
    )


async def quizzes_of(session: AsyncSession, *, course_id: int) -> list[tuple[int, str]]:
    query = published.items(course_id).where(ContentItem.kind == ContentKind.QUIZ)
    rows = await session.execute(
        query.with_only_columns(ContentItem.id, ContentRevision.title).order_by(
            ContentItem.module_id, ContentItem.sequence_index
        )
    )
    return [(item_id, title) for item_id, title in rows]


async def _funnel(session: AsyncSession, scope: Scope, today: DayFigures) -> list[tuple[str, float]]:
    modules = [int(module) for module in today.module_completion]
    if not modules:
        return []
    newest = (
        select(ModuleRevision.module_id, func.max(ModuleRevision.version).label("version"))
        .where(ModuleRevision.module_id.in_(modules))
        .group_by(ModuleRevision.module_id)
        .subquery()
    )
    titles = dict(
        (
            await session.execute(
                select(ModuleRevision.module_id, ModuleRevision.title).join(
                    newest,
                    (newest.c.module_id == ModuleRevision.module_id) & (newest.c.version == ModuleRevision.version),
                )
            )
        ).all()
    )
    order = await session.execute(
        published.items(scope.course_id)
        .with_only_columns(ContentItem.module_id)
        .group_by(ContentItem.module_id)
        .order_by(func.min(ContentItem.id))
    )
    return [(titles.get(module, "?"), today.module_completion[str(module)]) for (module,) in order]


async def _lowest_mastery(session: AsyncSession, scope: Scope) -> list[tuple[str, float, int]]:
    students = select(CourseEnrollment.user_id).join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
    students = students.where(CourseOffering.course_id == scope.course_id)
    if scope.offering_id != WHOLE_COURSE:
        students = students.where(CourseEnrollment.offering_id == scope.offering_id)
    rows = await session.execute(
        select(Concept.name, func.avg(ConceptMastery.confidence), func.count())
        .join(ConceptMastery, ConceptMastery.concept_id == Concept.id)
        .where(Concept.course_id == scope.course_id, ConceptMastery.user_id.in_(students.scalar_subquery()))
        .group_by(Concept.id, Concept.name)
        .order_by(func.avg(ConceptMastery.confidence), Concept.name)
        .limit(LOWEST_MASTERY_SHOWN)
    )
    return [(name, float(mean), count) for name, mean, count in rows]


async def _scores(session: AsyncSession, scope: Scope, *, since: datetime) -> list[float]:
    query = (
        select(QuizAttempt.score)
        .join(CourseOffering, CourseOffering.id == QuizAttempt.offering_id)
        .where(
            CourseOffering.course_id == scope.course_id,
            QuizAttempt.status == AttemptStatus.SUBMITTED,
            QuizAttempt.submitted_at >= since,
        )
    )
    if scope.offering_id != WHOLE_COURSE:
        query = query.where(QuizAttempt.offering_id == scope.offering_id)
    return [float(score) for score in await session.scalars(query) if score is not None]


def period_days(period: str) -> int | None:
    """`7d`, `30d` or `all` as a number of days (None: everything)."""
    return None if period == "all" else int(period.removesuffix("d"))
