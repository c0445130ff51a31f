"""The gradebook: one row per enrolled student with progress, each quiz's best score and whether it was passed,
course XP, last activity and streak, as a CSV no spreadsheet evaluates (`bot.spreadsheets`). Every export is
audited: it hands members' results to whoever asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.analytics.at_risk import completed_items, last_activity
from bot.services.analytics.overview import Scope, quizzes_of
from bot.spreadsheets import csv_bytes
from db.models import (
    AttemptStatus,
    CourseEnrollment,
    CourseMemberStats,
    CourseOffering,
    EnrollmentStatus,
    QuizAttempt,
    Streak,
    User,
)
from db.models.analytics import WHOLE_COURSE

SHOWN_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED, EnrollmentStatus.DROPPED)


@dataclass(frozen=True, slots=True)
class QuizResult:
    best: float | None  # percent; None when never submitted
    passed: bool


@dataclass(frozen=True, slots=True)
class GradebookRow:
    user_id: int
    display_name: str
    cohort: str
    status: EnrollmentStatus
    progress: float  # percent of the published items completed
    quizzes: list[QuizResult]  # in the order of `Gradebook.quiz_titles`
    xp: int
    last_active: datetime | None
    streak: int


@dataclass(frozen=True, slots=True)
class Gradebook:
    course_code: str
    quiz_titles: list[str]
    rows: list[GradebookRow]

    def csv(self) -> bytes:
        header = ["user_id", "display_name", "cohort", "status", "progress_percent"]
        for title in self.quiz_titles:
            header += [f"{title} best %", f"{title} passed"]
        header += ["xp", "last_active", "streak_days"]
        lines = []
        for row in self.rows:
            cells: list[object] = [row.user_id, row.display_name, row.cohort, row.status.value, row.progress]
            for result in row.quizzes:
                cells += ["" if result.best is None else result.best, "yes" if result.passed else "no"]
            cells += [row.xp, row.last_active.isoformat() if row.last_active else "", row.streak]
            lines.append(cells)
        return csv_bytes(header, lines)


async def gradebook(session: AsyncSession, *, scope: Scope, actor_id: int, guild_id: int) -> Gradebook:
    """Every student who joined the course (or cohort), in cohort and name order; audited as `course.gradebook`."""
    students = (
        select(CourseEnrollment.user_id, User.display_name, CourseOffering.term_name, CourseEnrollment.status)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .join(User, User.id == CourseEnrollment.user_id)
        .where(CourseOffering.course_id == scope.course_id, CourseEnrollment.status.in_(SHOWN_STATUSES))
        .order_by(CourseOffering.id, User.display_name, CourseEnrollment.user_id)
    )
    if scope.offering_id != WHOLE_COURSE:
        students = students.where(CourseEnrollment.offering_id == scope.offering_id)
    enrolled = (await session.execute(students)).all()
    item_count, done = await completed_items(session, course_id=scope.course_id)
    quizzes = await quizzes_of(session, course_id=scope.course_id)
    results: dict[tuple[int, int], QuizResult] = {}
    rows = await session.execute(
        select(
            QuizAttempt.user_id,
            QuizAttempt.item_id,
            func.max(QuizAttempt.score),
            func.sum(case((QuizAttempt.passed.is_(True), 1), else_=0)),
        )
        .where(
            QuizAttempt.item_id.in_([item_id for item_id, _ in quizzes]),
            QuizAttempt.status == AttemptStatus.SUBMITTED,
            QuizAttempt.user_id.is_not(None),
        )
        .group_by(QuizAttempt.user_id, QuizAttempt.item_id)
    )
    for user_id, item_id, best, passes in rows:
        results[(user_id, item_id)] = QuizResult(float(best) if best is not None else None, bool(passes))
    xp = dict(
        (
            await session.execute(
                select(CourseMemberStats.user_id, CourseMemberStats.total_xp).where(
                    CourseMemberStats.course_id == scope.course_id
                )
            )
        ).all()
    )
    streaks = dict(
        (
            await session.execute(
                select(Streak.user_id, Streak.current).where(Streak.user_id.in_([row[0] for row in enrolled]))
            )
        ).all()
    )
    seen = await last_activity(session, course_id=scope.course_id)
    book = Gradebook(
        course_code=scope.course_code,
        quiz_titles=[title for _, title in quizzes],
        rows=[
            GradebookRow(
                user_id=user_id,
                display_name=name,
                cohort=cohort,
                status=status,
                progress=round(100 * done.get(user_id, 0) / item_count, 1) if item_count else 0.0,
                quizzes=[results.get((user_id, item_id), QuizResult(None, False)) for item_id, _ in quizzes],
                xp=xp.get(user_id, 0),
                last_active=seen.get(user_id),
                streak=streaks.get(user_id, 0),
            )
            for user_id, name, cohort, status in enrolled
        ],
    )
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="course.gradebook",
        target_type="course",
        target_ids=[scope.course_id],
        meta={"code": scope.course_code, "cohort": scope.cohort, "members": len(book.rows)},
    )
    return book
