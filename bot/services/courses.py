"""Courses and their cohorts as instructors run them, and as students find them.

Instructor changes (create, publish, unpublish, delete, cohorts) write an audit row in the same
transaction. Students only ever see live, published courses of their own guild.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.errors import CourseError, InvalidInput, NotFound, PrerequisiteCycle
from bot.services import audit, nudges, published, views
from bot.services.coursepack.model import COURSE_CODE_PATTERN
from db.models import (
    ContentItem,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseLevel,
    CourseOffering,
    CoursePrerequisite,
    EnrollmentStatus,
    Module,
    ModuleRevision,
    ModuleType,
    OfferingVisibility,
    RevisionVisibility,
    User,
)

# The root of every course's module tree; not a valid package slug, so it never collides with one.
ROOT_SLUG = "__root__"
DEFAULT_COHORT = "Self-paced"


def normalise_code(code: str) -> str:
    return code.strip().upper()


async def live_course(session: AsyncSession, *, guild_id: int, code: str, published_only: bool = False) -> Course:
    """The guild's course with this code (case-insensitive), or NotFound. Deleted courses do not exist here."""
    query = select(Course).where(
        Course.guild_id == guild_id, Course.code == normalise_code(code), Course.deleted_at.is_(None)
    )
    if published_only:
        query = query.where(Course.is_published.is_(True))
    course = await session.scalar(query)
    if course is None:
        raise NotFound("course", normalise_code(code))
    return course


@dataclass(frozen=True, slots=True)
class CourseSummary:
    code: str
    title: str
    description: str
    level: str
    is_published: bool
    enrollment_status: EnrollmentStatus | None  # the viewer's, in this course's latest cohort they joined


async def list_courses(
    session: AsyncSession, *, guild_id: int, user_id: int, include_unpublished: bool = False
) -> list[CourseSummary]:
    """Courses of the guild in code order, with the viewer's own enrollment status."""
    my_status = (
        select(CourseEnrollment.status)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .where(
            CourseOffering.course_id == Course.id,
            CourseEnrollment.user_id == user_id,
            CourseEnrollment.status != EnrollmentStatus.DROPPED,
        )
        .order_by(CourseEnrollment.enrolled_at.desc())
        .limit(1)
        .correlate(Course)
        .scalar_subquery()
    )
    query = (
        select(Course, my_status).where(Course.guild_id == guild_id, Course.deleted_at.is_(None)).order_by(Course.code)
    )
    if not include_unpublished:
        query = query.where(Course.is_published.is_(True))
    rows = await session.execute(query)
    return [
        CourseSummary(
            course.code,
            course.title,
            course.description,
            course.level.value,
            course.is_published,
            EnrollmentStatus(status) if status else None,
        )
        for course, status in rows
    ]


@dataclass(frozen=True, slots=True)
class CohortSummary:
    term_name: str
    visibility: OfferingVisibility
    is_open: bool
    enrollment_start: datetime | None
    enrollment_end: datetime | None
    capacity: int | None
    active_count: int
    waitlist_count: int
    role_id: int | None


@dataclass(frozen=True, slots=True)
class CourseDetails:
    code: str
    title: str
    description: str
    level: str
    passing_score: int
    is_published: bool
    prerequisites: list[str]
    module_titles: list[str]
    lesson_count: int
    cohorts: list[CohortSummary]


async def prerequisite_codes(session: AsyncSession, *, course_id: int) -> list[str]:
    """The codes of the courses this one requires, in code order."""
    prerequisite = Course.__table__.alias("prerequisite")
    return list(
        await session.scalars(
            select(prerequisite.c.code)
            .join(CoursePrerequisite, CoursePrerequisite.prerequisite_id == prerequisite.c.id)
            .where(CoursePrerequisite.course_id == course_id)
            .order_by(prerequisite.c.code)
        )
    )


async def course_details(
    session: AsyncSession, *, guild_id: int, code: str, include_unpublished: bool = False
) -> CourseDetails:
    course = await live_course(session, guild_id=guild_id, code=code, published_only=not include_unpublished)
    prerequisites = await prerequisite_codes(session, course_id=course.id)
    newest = select(ModuleRevision.module_id, func.max(ModuleRevision.version).label("version"))
    if not include_unpublished:
        # Students see the titles that were published, not an instructor's pending draft.
        newest = newest.where(ModuleRevision.visibility == RevisionVisibility.PUBLISHED)
    newest = newest.group_by(ModuleRevision.module_id).subquery()
    modules = await session.scalars(
        select(ModuleRevision.title)
        .join(newest, and_(newest.c.module_id == ModuleRevision.module_id, newest.c.version == ModuleRevision.version))
        .join(Module, Module.id == ModuleRevision.module_id)
        .where(Module.course_id == course.id, Module.deleted_at.is_(None), Module.parent_id.is_not(None))
        .order_by(Module.sequence_index)
    )
    lesson_count = await session.scalar(select(func.count()).select_from(published.items(course.id).subquery()))
    return views.from_row(
        CourseDetails,
        course,
        level=course.level.value,
        prerequisites=prerequisites,
        module_titles=list(modules),
        lesson_count=lesson_count or 0,
        cohorts=await cohorts_of(session, course_id=course.id),
    )


async def cohorts_of(session: AsyncSession, *, course_id: int) -> list[CohortSummary]:
    counts = (
        select(
            CourseEnrollment.offering_id,
            func.count().filter(CourseEnrollment.status == EnrollmentStatus.ACTIVE).label("active"),
            func.count().filter(CourseEnrollment.status == EnrollmentStatus.WAITLISTED).label("waiting"),
        )
        .group_by(CourseEnrollment.offering_id)
        .subquery()
    )
    rows = await session.execute(
        select(CourseOffering, counts.c.active, counts.c.waiting)
        .outerjoin(counts, counts.c.offering_id == CourseOffering.id)
        .where(CourseOffering.course_id == course_id)
        .order_by(CourseOffering.id)
    )
    return [
        CohortSummary(
            offering.term_name,
            offering.visibility,
            offering.is_open,
            offering.enrollment_start,
            offering.enrollment_end,
            offering.capacity,
            active or 0,
            waiting or 0,
            offering.role_id,
        )
        for offering, active, waiting in rows
    ]


class DuplicateCourse(CourseError):
    def __init__(self, code: str) -> None:
        super().__init__(f"This server already has a course `{code}`. Pick another code, or import over it.")


async def create_course(
    session: AsyncSession,
    *,
    guild_id: int,
    actor_id: int,
    code: str,
    title: str,
    description: str = "",
    level: CourseLevel = CourseLevel.INTRODUCTORY,
) -> Course:
    """A new empty, unpublished course with a self-paced public cohort."""
    code = normalise_code(code)
    # The package format's rule, so every course can be exported and imported again.
    if not re.fullmatch(COURSE_CODE_PATTERN, code):
        raise InvalidInput("A course code is 2-20 letters, digits or `-`, starting with a letter, such as `PY101`.")
    if not title.strip():
        raise InvalidInput("A course needs a title students will recognise, such as `Python Basics`.")
    try:
        await live_course(session, guild_id=guild_id, code=code)
    except NotFound:
        pass
    else:
        raise DuplicateCourse(code)
    course = Course(
        guild_id=guild_id,
        code=code,
        title=title.strip()[:200],
        description=description,
        level=level,
        created_by=actor_id,
    )
    session.add(course)
    await session.flush()
    root = Module(course_id=course.id, module_type=ModuleType.COURSE_ROOT, slug=ROOT_SLUG, sequence_index=0, depth=0)
    session.add_all([root, CourseOffering(course_id=course.id, term_name=DEFAULT_COHORT)])
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="course.create",
        target_type="course",
        target_ids=[course.id],
        meta={"code": code},
    )
    return course


async def set_published(
    session: AsyncSession, *, guild_id: int, actor_id: int, code: str, published: bool, now: datetime
) -> int:
    """Publish (every item's newest draft becomes what students see) or unpublish a course.

    Publishing a course that is already live announces the items it newly published in the guild's announcement
    channel (`nudges.plan_announcement`); a course going live announces nothing item by item.
    Returns how many revisions were published (0 when unpublishing).
    """
    course = await live_course(session, guild_id=guild_id, code=code)
    was_live = course.is_published
    course.is_published = published
    published_items = await publish_latest_drafts(session, course_id=course.id, now=now) if published else []
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="course.publish" if published else "course.unpublish",
        target_type="course",
        target_ids=[course.id],
        meta={"code": course.code, "revisions": len(published_items)},
    )
    if was_live and published_items:
        await nudges.plan_announcement(
            session, guild_id=guild_id, course_id=course.id, item_ids=published_items, actor_id=actor_id, now=now
        )
    return len(published_items)


async def publish_latest_drafts(session: AsyncSession, *, course_id: int, now: datetime) -> list[int]:
    """Mark the newest revision of each item and module PUBLISHED where it is still a draft; returns the ids of
    the items whose revision was published."""
    published_items = await session.scalars(
        update(ContentRevision)
        .where(ContentRevision.id.in_(_newest_drafts(ContentRevision.item_id, ContentItem, course_id)))
        .values(visibility=RevisionVisibility.PUBLISHED, published_at=now)
        .returning(ContentRevision.item_id)
        .execution_options(synchronize_session=False)
    )
    item_ids = sorted(published_items)
    await session.execute(
        update(ModuleRevision)
        .where(ModuleRevision.id.in_(_newest_drafts(ModuleRevision.module_id, Module, course_id)))
        .values(visibility=RevisionVisibility.PUBLISHED)
        .execution_options(synchronize_session=False)
    )
    return item_ids


def _newest_drafts(
    owner_key: InstrumentedAttribute[int], owner: type[ContentItem] | type[Module], course_id: int
) -> Select[tuple[int]]:
    """The ids of the revisions (of items, or of modules: `owner_key` is the revision's column naming its `owner`)
    that are their owner's newest in the course and still a draft."""
    revision = owner_key.class_
    newest = select(func.max(revision.version)).where(owner_key == owner.id).correlate(owner).scalar_subquery()
    return (
        select(revision.id)
        .join(owner, owner.id == owner_key)
        .where(
            owner.course_id == course_id,
            revision.version == newest,
            revision.visibility == RevisionVisibility.DRAFT,
        )
    )


async def refuse_prerequisite_cycle(
    session: AsyncSession, *, course: Course, prerequisite_ids: Collection[int]
) -> None:
    """Raise PrerequisiteCycle if `course` requiring `prerequisite_ids` would close a loop through the
    prerequisites of the guild's other live courses: no student could ever enroll in the courses of a loop.

    One query for the guild's prerequisite pairs, then a breadth-first walk, so the loop named is a shortest one.
    """
    if not prerequisite_ids:
        return
    pairs = await session.execute(
        select(CoursePrerequisite.course_id, CoursePrerequisite.prerequisite_id)
        .join(Course, Course.id == CoursePrerequisite.course_id)
        .where(Course.guild_id == course.guild_id, Course.deleted_at.is_(None), Course.id != course.id)
    )
    requires: dict[int, list[int]] = defaultdict(list)
    for course_id, prerequisite_id in pairs:
        requires[course_id].append(prerequisite_id)
    reached_from = {prerequisite: course.id for prerequisite in prerequisite_ids}  # course -> who requires it
    queue = deque(prerequisite_ids)
    while queue:
        current = queue.popleft()
        for prerequisite in requires[current]:
            if prerequisite == course.id:
                path = [current]
                while path[-1] != course.id:
                    path.append(reached_from[path[-1]])
                loop = [*reversed(path), course.id]
                code_of = dict((await session.execute(select(Course.id, Course.code).where(Course.id.in_(loop)))).all())
                raise PrerequisiteCycle([code_of[course_id] for course_id in loop])
            if prerequisite not in reached_from:
                reached_from[prerequisite] = current
                queue.append(prerequisite)


async def delete_course(session: AsyncSession, *, guild_id: int, actor_id: int, code: str, now: datetime) -> None:
    """Soft delete: students lose sight of it at once; rows stay for the record and the code is free again."""
    course = await live_course(session, guild_id=guild_id, code=code)
    course.deleted_at, course.deleted_by, course.is_published = now, actor_id, False
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="course.delete",
        target_type="course",
        target_ids=[course.id],
        meta={"code": course.code},
    )


async def invite_code_taken(session: AsyncSession, *, guild_id: int, invite_code: str) -> bool:
    """Whether a cohort of a live course of this guild already has the code. Other guilds' codes never count, so
    an admin can't probe them; the database itself keeps codes unique per course."""
    return (
        await session.scalar(
            select(CourseOffering.id)
            .join(Course, Course.id == CourseOffering.course_id)
            .where(Course.guild_id == guild_id, Course.deleted_at.is_(None), CourseOffering.invite_code == invite_code)
            .limit(1)
        )
    ) is not None


async def create_cohort(
    session: AsyncSession,
    *,
    guild_id: int,
    actor_id: int,
    code: str,
    term_name: str,
    visibility: OfferingVisibility = OfferingVisibility.PUBLIC,
    invite_code: str | None = None,
    capacity: int | None = None,
    role_id: int | None = None,
    enrollment_start: datetime | None = None,
    enrollment_end: datetime | None = None,
) -> CohortSummary:
    course = await live_course(session, guild_id=guild_id, code=code)
    term_name = term_name.strip()
    invite_code = invite_code.strip() if invite_code and invite_code.strip() else None
    if not term_name:
        raise InvalidInput("A cohort needs a name, such as `Spring 2027`.")
    if visibility is OfferingVisibility.INVITE_ONLY and not invite_code:
        raise InvalidInput("An invite-only cohort needs an invite code: students type it to enroll.")
    if capacity is not None and capacity < 1:
        raise InvalidInput("Capacity is a number of seats, at least 1.")
    if enrollment_start and enrollment_end and enrollment_end < enrollment_start:
        raise InvalidInput("The enrollment window ends before it starts.")
    existing = await session.scalar(
        select(CourseOffering.id).where(CourseOffering.course_id == course.id, CourseOffering.term_name == term_name)
    )
    if existing is not None:
        raise InvalidInput(f"{course.code} already has a cohort called `{term_name}`.")
    if invite_code and await invite_code_taken(session, guild_id=guild_id, invite_code=invite_code):
        raise InvalidInput("That invite code is already used by another cohort. Pick another.")
    offering = CourseOffering(
        course_id=course.id,
        term_name=term_name,
        visibility=visibility,
        invite_code=invite_code,
        capacity=capacity,
        role_id=role_id,
        enrollment_start=enrollment_start,
        enrollment_end=enrollment_end,
    )
    session.add(offering)
    await session.flush()
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="cohort.create",
        target_type="cohort",
        target_ids=[offering.id],
        meta={"course": course.code, "term": term_name, "visibility": visibility.value},
    )
    return CohortSummary(term_name, visibility, True, enrollment_start, enrollment_end, capacity, 0, 0, role_id)


async def set_cohort_open(
    session: AsyncSession, *, guild_id: int, actor_id: int, code: str, term_name: str, is_open: bool
) -> None:
    course = await live_course(session, guild_id=guild_id, code=code)
    offering = await session.scalar(
        select(CourseOffering).where(CourseOffering.course_id == course.id, CourseOffering.term_name == term_name)
    )
    if offering is None:
        raise NotFound("cohort", term_name)
    offering.is_open = is_open
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="cohort.open" if is_open else "cohort.close",
        target_type="cohort",
        target_ids=[offering.id],
        meta={"course": course.code, "term": term_name},
    )


@dataclass(frozen=True, slots=True)
class RosterEntry:
    user_id: int
    display_name: str
    term_name: str
    status: EnrollmentStatus
    enrolled_at: datetime
    completed_items: int


async def roster(session: AsyncSession, *, guild_id: int, code: str) -> list[RosterEntry]:
    """Everyone who enrolled in any cohort of the course, with how many items they completed."""
    course = await live_course(session, guild_id=guild_id, code=code)
    completed = (
        select(ContentProgress.user_id, ContentProgress.offering_id, func.count().label("done"))
        .where(ContentProgress.completed_at.is_not(None))
        .group_by(ContentProgress.user_id, ContentProgress.offering_id)
        .subquery()
    )
    rows = await session.execute(
        select(CourseEnrollment, User.display_name, CourseOffering.term_name, completed.c.done)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .join(User, User.id == CourseEnrollment.user_id)
        .outerjoin(
            completed,
            and_(completed.c.user_id == CourseEnrollment.user_id, completed.c.offering_id == CourseOffering.id),
        )
        .where(CourseOffering.course_id == course.id)
        .order_by(CourseOffering.id, User.display_name, CourseEnrollment.user_id)
    )
    return [
        RosterEntry(enrollment.user_id, name, term, enrollment.status, enrollment.enrolled_at, done or 0)
        for enrollment, name, term, done in rows
    ]
