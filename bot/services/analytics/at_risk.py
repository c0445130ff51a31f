"""Students at risk, for staff only: inactive for a while, not passing a quiz they tried, or behind their cohort's
pace. Each student is listed once with every reason that applies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import published
from bot.services.analytics.overview import Scope
from db.models import (
    AttemptStatus,
    ChatMessage,
    ChatSession,
    ContentItem,
    ContentKind,
    ContentProgress,
    ContentRevision,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    MessageRole,
    QuizAttempt,
    User,
)
from db.models.analytics import WHOLE_COURSE


@dataclass(frozen=True, slots=True)
class StudentAtRisk:
    user_id: int
    display_name: str
    cohort: str
    last_active: datetime | None
    progress: float  # share of the course's published items completed
    reasons: list[str]


def expected_progress(starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> float | None:
    """The share of its time a cohort has used: where a student keeping pace would be. None without both dates."""
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        return None
    return min(1.0, max(0.0, (now - starts_at) / (ends_at - starts_at)))


async def last_activity(session: AsyncSession, *, course_id: int) -> dict[int, datetime]:
    """Each student's latest sign of work in the course: an item opened, a quiz started, a tutor question."""
    moments = union_all(
        select(ContentProgress.user_id.label("user_id"), func.max(ContentProgress.last_opened_at).label("at"))
        .join(ContentItem, ContentItem.id == ContentProgress.item_id)
        .where(ContentItem.course_id == course_id)
        .group_by(ContentProgress.user_id),
        select(QuizAttempt.user_id, func.max(QuizAttempt.started_at))
        .join(ContentItem, ContentItem.id == QuizAttempt.item_id)
        .where(ContentItem.course_id == course_id, QuizAttempt.user_id.is_not(None))
        .group_by(QuizAttempt.user_id),
        select(ChatSession.user_id, func.max(ChatMessage.created_at))
        .join(ChatMessage, ChatMessage.session_id == ChatSession.id)
        .where(ChatSession.course_id == course_id, ChatMessage.role == MessageRole.USER)
        .group_by(ChatSession.user_id),
    ).subquery()
    rows = await session.execute(select(moments.c.user_id, func.max(moments.c.at)).group_by(moments.c.user_id))
    return {user_id: at for user_id, at in rows if at is not None}


async def completed_items(session: AsyncSession, *, course_id: int) -> tuple[int, dict[int, int]]:
    """How many items the course has published, and how many of them each student has completed (by user id)."""
    catalogue = published.items(course_id)
    item_count = await session.scalar(catalogue.with_only_columns(func.count(ContentItem.id))) or 0
    done = dict(
        (
            await session.execute(
                select(ContentProgress.user_id, func.count(func.distinct(ContentProgress.item_id)))
                .where(
                    ContentProgress.item_id.in_(
                        catalogue.with_only_columns(ContentItem.id).correlate(None).scalar_subquery()
                    ),
                    ContentProgress.completed_at.is_not(None),
                )
                .group_by(ContentProgress.user_id)
            )
        ).all()
    )
    return item_count, done


async def students_at_risk(
    session: AsyncSession, *, scope: Scope, now: datetime, inactive_days: int, pace_margin: float
) -> list[StudentAtRisk]:
    """Active students of the course (or cohort) with at least one reason to worry, the most reasons first."""
    enrolled = (
        select(CourseEnrollment.user_id, User.display_name, CourseOffering.term_name, CourseOffering.starts_at)
        .add_columns(CourseOffering.ends_at)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .join(User, User.id == CourseEnrollment.user_id)
        .where(CourseOffering.course_id == scope.course_id, CourseEnrollment.status == EnrollmentStatus.ACTIVE)
    )
    if scope.offering_id != WHOLE_COURSE:
        enrolled = enrolled.where(CourseEnrollment.offering_id == scope.offering_id)
    students = (await session.execute(enrolled.order_by(User.display_name, CourseEnrollment.user_id))).all()
    item_count, done = await completed_items(session, course_id=scope.course_id)
    failing: defaultdict[int, list[str]] = defaultdict(list)
    quiz_rows = await _failing_quizzes(session, scope.course_id)
    for user_id, title in quiz_rows:
        failing[user_id].append(title)
    seen = await last_activity(session, course_id=scope.course_id)
    quiet_since = now - timedelta(days=inactive_days)
    found = []
    for user_id, name, cohort, starts_at, ends_at in students:
        reasons = []
        last = seen.get(user_id)
        if last is None or last < quiet_since:
            reasons.append(f"no activity for {inactive_days}+ days" if last else "never started")
        for title in failing.get(user_id, []):
            reasons.append(f"below the passing score in {title}")
        progress = done.get(user_id, 0) / item_count if item_count else 0.0
        expected = expected_progress(starts_at, ends_at, now)
        if expected is not None and progress < expected - pace_margin:
            reasons.append(f"behind the cohort's pace ({progress:.0%} done, {expected:.0%} of its time used)")
        if reasons:
            found.append(StudentAtRisk(user_id, name, cohort, last, progress, reasons))
    return sorted(found, key=lambda student: -len(student.reasons))


async def _failing_quizzes(session: AsyncSession, course_id: int) -> list[tuple[int, str]]:
    """(student, quiz title) for every published quiz a student submitted and never passed."""
    quizzes = (
        published.items(course_id)
        .with_only_columns(ContentItem.id.label("item_id"), ContentRevision.title.label("title"))
        .where(ContentItem.kind == ContentKind.QUIZ)
        .subquery()
    )
    rows = await session.execute(
        select(QuizAttempt.user_id, quizzes.c.title)
        .join(quizzes, quizzes.c.item_id == QuizAttempt.item_id)
        .where(QuizAttempt.status == AttemptStatus.SUBMITTED, QuizAttempt.user_id.is_not(None))
        .group_by(QuizAttempt.user_id, quizzes.c.item_id, quizzes.c.title)
        .having(func.sum(case((QuizAttempt.passed.is_(True), 1), else_=0)) == 0)
    )
    return [(user_id, title) for user_id, title in rows]
