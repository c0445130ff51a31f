"""Moving through a course: next, previous, a named lesson, or back where you left off; and progress.

The course outline is the course's published items (`published.items`: live items, each as its newest
published revision) in module order then item order. Opening an item records it as the
student's position; moving on with `next` marks the lesson left behind as completed (a quiz is completed
by passing it). Each move costs three statements: the enrollment, the target page together with where the
student is, and one progress upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date
from bot.config import Settings
from bot.errors import LessonInAnotherCourse, NotEnrolled, NotFound, NothingToRead
from bot.services import published, streaks, tenancy, xp
from bot.services.enrollment import ActiveEnrollment, active_enrollment
from db.models import (
    ContentItem,
    ContentKind,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    EnrollmentStatus,
    Module,
    ModuleRevision,
    RevisionVisibility,
)
from db.session import dialect_insert, greatest

Move = Literal["next", "prev", "open", "resume"]


@dataclass(frozen=True, slots=True)
class LessonPage:
    course_code: str
    item_id: int
    slug: str
    kind: ContentKind
    title: str
    module_title: str
    body: str  # Markdown as authored
    objectives: list[str]
    estimated_minutes: int | None
    position: int  # 1-based within the course outline
    total: int
    completed: bool
    course_completed: bool = False  # this move finished the last remaining item
    xp_awarded: int = 0  # for the lesson this move completed


@dataclass(frozen=True, slots=True)
class CourseEnd:
    """`next` from the last item: it was marked completed; `course_completed` if that finished the course."""

    course_code: str
    course_completed: bool
    xp_awarded: int = 0


def _outline(course_id: int):  # type: ignore[no-untyped-def]
    """The published outline of a course as a CTE: item, its newest published revision, module, position."""
    module_title = (
        select(ModuleRevision.title)
        .where(ModuleRevision.module_id == Module.id, ModuleRevision.visibility == RevisionVisibility.PUBLISHED)
        .order_by(ModuleRevision.version.desc())
        .limit(1)
        .correlate(Module)
        .scalar_subquery()
    )
    return (
        published.items(course_id)
        .with_only_columns(
            ContentItem.id.label("item_id"),
            ContentItem.slug,
            ContentItem.kind,
            ContentRevision.id.label("revision_id"),
            Module.id.label("module_id"),
            module_title.label("module_title"),
            func.row_number().over(order_by=published.OUTLINE_ORDER).label("position"),
            func.count().over().label("total"),
        )
        .cte("outline")
    )


def _own_progress(outline, enrollment: ActiveEnrollment, user_id: int):  # type: ignore[no-untyped-def]
    """Join condition: the student's progress row for each outline item, in their cohort."""
    return and_(
        ContentProgress.item_id == outline.c.item_id,
        ContentProgress.offering_id == enrollment.offering_id,
        ContentProgress.user_id == user_id,
    )


def _current_item(enrollment: ActiveEnrollment, user_id: int):  # type: ignore[no-untyped-def]
    """Where the student is: the item they opened last, as a one-row CTE (no row before their first move)."""
    return (
        select(ContentProgress.item_id)
        .where(
            ContentProgress.offering_id == enrollment.offering_id,
            ContentProgress.user_id == user_id,
            # A row only ever completed (a quiz passed without opening it here) is no place to resume from.
            ContentProgress.last_opened_at > _LONG_AGO,
        )
        .order_by(ContentProgress.last_opened_at.desc(), ContentProgress.id.desc())
        .limit(1)
        .cte("current_item")
    )


async def move(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    course_code: str | None,
    to: Move,
    now: datetime,
    lesson: str | None = None,
    settings: Settings | None = None,
) -> LessonPage | CourseEnd:
    """Open the item `to` points at and record it; `next` also completes the lesson being left (a quiz is
    completed by passing it, see `complete_item`), and past the last item returns CourseEnd.

    With `settings`, completing a lesson earns its XP (once per lesson) and counts toward the streak.
    """
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    outline = _outline(enrollment.course_id)
    # Where the student is rides along in the page query: one statement fewer on every move.
    current = select(_current_item(enrollment, user_id).c.item_id).scalar_subquery()
    current_kind = select(ContentItem.kind).where(ContentItem.id == current).correlate(None).scalar_subquery()
    current_position = select(outline.c.position).where(outline.c.item_id == current).correlate(None).scalar_subquery()
    if to == "open":
        if not lesson:
            raise NotFound("lesson", "")
        target = outline.c.slug == lesson
    elif to == "resume":
        target = outline.c.position == func.coalesce(current_position, 1)
    elif to == "next":
        target = outline.c.position == case((current.is_(None), 1), else_=current_position + literal(1))
    else:
        target = outline.c.position == current_position - literal(1)
    row = (
        await session.execute(
            select(
                outline,
                ContentRevision,
                ContentProgress.completed_at,
                current.label("current_id"),
                current_kind.label("current_kind"),
            )
            .join(ContentRevision, ContentRevision.id == outline.c.revision_id)
            .outerjoin(ContentProgress, _own_progress(outline, enrollment, user_id))
            .where(target)
        )
    ).first()
    if row is None:
        leaving, leaving_kind = (await session.execute(select(current, current_kind))).one()
        if to == "next" and leaving is not None:
            # Past the last item: the lesson being left is finished, and so may be the course.
            finished, xp_awarded = False, 0
            if leaving_kind is not ContentKind.QUIZ:
                finished = await complete_item(session, enrollment, user_id=user_id, item_id=leaving, now=now)
                xp_awarded = await _reward_lesson(session, enrollment, guild_id, user_id, leaving, now, settings)
            return CourseEnd(enrollment.course_code, course_completed=finished, xp_awarded=xp_awarded)
        if to == "open" and course_code is None:
            await _point_to_the_course_of(session, guild_id=guild_id, user_id=user_id, lesson=lesson or "")
        raise _nothing_there(to, enrollment.course_code, lesson)
    leaving_lesson = to == "next" and row.current_id is not None and row.current_kind is not ContentKind.QUIZ
    completing = row.current_id if leaving_lesson and row.current_id != row.item_id else None
    await _record_progress(session, enrollment, user_id=user_id, opened=row.item_id, completed=completing, now=now)
    course_completed, xp_awarded = False, 0
    if completing is not None:
        xp_awarded = await _reward_lesson(session, enrollment, guild_id, user_id, completing, now, settings)
    if completing is not None and row.completed_at is not None:
        # Only when the opened item was already done can leaving this one finish the course.
        course_completed = await _complete_enrollment_if_done(session, enrollment, user_id=user_id, now=now)
    revision: ContentRevision = row.ContentRevision
    seconds = revision.estimated_duration_seconds
    return LessonPage(
        course_code=enrollment.course_code,
        item_id=row.item_id,
        slug=row.slug,
        kind=ContentKind(row.kind),
        title=revision.title,
        module_title=row.module_title or "",
        body=revision.body,
        objectives=list(revision.learning_objectives),
        estimated_minutes=seconds // 60 if seconds else None,
        position=row.position,
        total=row.total,
        completed=row.completed_at is not None,
        course_completed=course_completed,
        xp_awarded=xp_awarded,
    )


async def _reward_lesson(
    session: AsyncSession,
    enrollment: ActiveEnrollment,
    guild_id: int,
    user_id: int,
    item_id: int,
    now: datetime,
    settings: Settings | None,
) -> int:
    """XP for a completed lesson (once per student and lesson, whatever the replays) and a streak day."""
    if settings is None:
        return 0
    guild_zone, user_zone = await tenancy.time_zones(session, guild_id=guild_id, user_id=user_id)
    award = await xp.award(
        session,
        guild_id=guild_id,
        user_id=user_id,
        course_id=enrollment.course_id,
        amount=settings.xp.lesson_completed,
        action="lesson_completed",
        source_key=f"lesson:{user_id}:{item_id}",
        day=local_date(now, guild_zone),
    )
    await streaks.record_study(
        session, user_id=user_id, guild_id=guild_id, at=now, time_zone=user_zone, settings=settings
    )
    return award.amount


async def _point_to_the_course_of(session: AsyncSession, *, guild_id: int, user_id: int, lesson: str) -> None:
    """A lesson asked for without `course:` that lives in another published course of the guild: say which
    course holds it, and whether enrolling is needed first. Returns when no other course has it."""
    codes = (
        await session.scalars(
            published.items_of_guild(guild_id)
            .with_only_columns(Course.code)
            .where(ContentItem.slug == lesson)
            .order_by(Course.code)
        )
    ).all()
    for code in codes:
        try:
            await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=code)
        except NotEnrolled:
            continue
        raise LessonInAnotherCourse(lesson, code, enrolled=True)
    if codes:
        raise LessonInAnotherCourse(lesson, codes[0], enrolled=False)


def _nothing_there(to: Move, course_code: str, lesson: str | None) -> Exception:
    if to == "open":
        return NotFound("lesson", lesson or "")
    if to == "prev":
        return NothingToRead(f"You're at the first lesson of {course_code}; there is nothing before it.")
    return NothingToRead(f"{course_code} has no published lessons yet. Check back soon.")


# An opened-at time older than any real one: "leave this row's position as it is" in the upsert below.
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


async def _record_progress(
    session: AsyncSession,
    enrollment: ActiveEnrollment,
    *,
    user_id: int,
    opened: int | None,
    completed: int | None,
    now: datetime,
) -> None:
    """One upsert: the opened item becomes the position; the item left behind (if any) is completed."""
    base = {"user_id": user_id, "offering_id": enrollment.offering_id, "first_opened_at": now}
    rows = []
    if opened is not None:
        rows.append(
            {**base, "item_id": opened, "percent": 0, "attempts": 1, "last_opened_at": now, "completed_at": None}
        )
    if completed is not None:
        rows.append(
            {
                **base,
                "item_id": completed,
                "percent": 100,
                "attempts": 0,
                "last_opened_at": _LONG_AGO,
                "completed_at": now,
            }
        )
    statement = dialect_insert(session, ContentProgress).values(rows)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ContentProgress.user_id, ContentProgress.offering_id, ContentProgress.item_id],
            set_={
                "attempts": ContentProgress.attempts + excluded.attempts,
                "last_opened_at": greatest(session, ContentProgress.last_opened_at, excluded.last_opened_at),
                "percent": greatest(session, ContentProgress.percent, excluded.percent),
                "completed_at": func.coalesce(ContentProgress.completed_at, excluded.completed_at),
            },
        )
    )


async def complete_item(
    session: AsyncSession, enrollment: ActiveEnrollment, *, user_id: int, item_id: int, now: datetime
) -> bool:
    """Mark one item completed (a lesson read, a quiz passed); True when that finished the whole course."""
    await _record_progress(session, enrollment, user_id=user_id, opened=None, completed=item_id, now=now)
    return await _complete_enrollment_if_done(session, enrollment, user_id=user_id, now=now)


async def _complete_enrollment_if_done(
    session: AsyncSession, enrollment: ActiveEnrollment, *, user_id: int, now: datetime
) -> bool:
    progress = await course_progress_of(session, enrollment, user_id=user_id)
    if progress.total == 0 or progress.done < progress.total:
        return False
    row = await session.get(CourseEnrollment, enrollment.enrollment_id)
    if row is None or row.status is EnrollmentStatus.COMPLETED:
        return False
    row.status, row.completed_at = EnrollmentStatus.COMPLETED, now
    return True


@dataclass(frozen=True, slots=True)
class ModuleProgress:
    title: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class CourseProgress:
    course_code: str
    course_title: str
    modules: list[ModuleProgress]
    status: EnrollmentStatus | None = None

    @property
    def done(self) -> int:
        return sum(module.done for module in self.modules)

    @property
    def total(self) -> int:
        return sum(module.total for module in self.modules)


async def course_progress_of(session: AsyncSession, enrollment: ActiveEnrollment, *, user_id: int) -> CourseProgress:
    """Done/total per module of the published outline, computed in one query."""
    outline = _outline(enrollment.course_id)
    rows = await session.execute(
        select(
            outline.c.module_title,
            func.count(),
            func.count(ContentProgress.completed_at),
            func.min(outline.c.position).label("first"),
        )
        .outerjoin(ContentProgress, _own_progress(outline, enrollment, user_id))
        .group_by(outline.c.module_id, outline.c.module_title)  # by module: two may share a title
        .order_by("first")
    )
    modules = [ModuleProgress(title or "", done, total) for title, total, done, _ in rows]
    return CourseProgress(enrollment.course_code, enrollment.course_title, modules)


async def course_progress(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None
) -> CourseProgress:
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    progress = await course_progress_of(session, enrollment, user_id=user_id)
    status = await session.scalar(
        select(CourseEnrollment.status).where(CourseEnrollment.id == enrollment.enrollment_id)
    )
    return CourseProgress(progress.course_code, progress.course_title, progress.modules, status)


async def outline_titles(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None
) -> list[tuple[str, str]]:
    """(slug, title) of every published item of the student's course, in order: for autocomplete."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    outline = _outline(enrollment.course_id)
    rows = await session.execute(
        select(outline.c.slug, ContentRevision.title)
        .join(ContentRevision, ContentRevision.id == outline.c.revision_id)
        .order_by(outline.c.position)
    )
    return [(slug, title) for slug, title in rows]


@dataclass(frozen=True, slots=True)
class OpenedLesson:
    item_id: int
    title: str  # of its newest published revision


async def last_opened_lesson(
    session: AsyncSession, enrollment: ActiveEnrollment, *, user_id: int
) -> OpenedLesson | None:
    """The published lesson (never a quiz) the student opened last in the course; None before they open one."""
    row = (
        await session.execute(
            published.items(enrollment.course_id)
            .with_only_columns(ContentItem.id, ContentRevision.title)
            .join(
                ContentProgress,
                and_(
                    ContentProgress.item_id == ContentItem.id,
                    ContentProgress.offering_id == enrollment.offering_id,
                    ContentProgress.user_id == user_id,
                ),
            )
            .where(ContentItem.kind != ContentKind.QUIZ, ContentProgress.last_opened_at > _LONG_AGO)
            .order_by(ContentProgress.last_opened_at.desc(), ContentProgress.id.desc())
            .limit(1)
        )
    ).first()
    return OpenedLesson(row.id, row.title) if row is not None else None


@dataclass(frozen=True, slots=True)
class StudyPosition:
    """Where a student stands in a course, for a reminder: the item opened last, what comes next, the first quiz
    reached but not passed, and done/total."""

    course_code: str
    course_title: str
    current_title: str | None
    next_title: str | None
    quiz_to_pass: str | None
    done: int
    total: int


async def study_position(session: AsyncSession, enrollment: ActiveEnrollment, *, user_id: int) -> StudyPosition:
    """One query over the published outline and the student's progress in it."""
    outline = _outline(enrollment.course_id)
    current = select(_current_item(enrollment, user_id).c.item_id).scalar_subquery()
    rows = (
        await session.execute(
            select(
                outline.c.item_id,
                outline.c.kind,
                outline.c.position,
                ContentRevision.title,
                ContentProgress.completed_at,
                (outline.c.item_id == current).label("is_current"),
            )
            .join(ContentRevision, ContentRevision.id == outline.c.revision_id)
            .outerjoin(ContentProgress, _own_progress(outline, enrollment, user_id))
            .order_by(outline.c.position)
        )
    ).all()
    at = next((index for index, row in enumerate(rows) if row.is_current), None)
    upcoming = rows[at + 1 :] if at is not None else rows
    reached = rows[: at + 1] if at is not None else []
    return StudyPosition(
        course_code=enrollment.course_code,
        course_title=enrollment.course_title,
        current_title=rows[at].title if at is not None else None,
        next_title=next((row.title for row in upcoming if row.completed_at is None), None),
        quiz_to_pass=next(
            (row.title for row in reached if row.kind is ContentKind.QUIZ and row.completed_at is None), None
        ),
        done=sum(row.completed_at is not None for row in rows),
        total=len(rows),
    )
