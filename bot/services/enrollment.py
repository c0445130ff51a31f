"""Enrollment in cohorts: windows, visibility and invite codes, prerequisites, capacity with a waitlist.

A cohort (offering) takes enrollments while it is open and `now` is inside its window. PUBLIC and
UNLISTED cohorts take anyone who names the course (UNLISTED ones are just not advertised, so an open
PUBLIC cohort is chosen first); an INVITE_ONLY cohort takes whoever brings its invite code. When a
full cohort's student drops, the longest-waiting student on its waitlist takes the seat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import AlreadyEnrolled, EnrollmentClosed, NotEnrolled, PrerequisitesMissing
from bot.services import courses
from db.models import (
    Course,
    CourseEnrollment,
    CourseOffering,
    CoursePrerequisite,
    EnrollmentStatus,
    OfferingVisibility,
)

SEAT_HOLDING = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


@dataclass(frozen=True, slots=True)
class EnrollmentResult:
    course_code: str
    course_title: str
    term_name: str
    status: EnrollmentStatus
    role_id: int | None  # the cohort's Discord role to grant, when ACTIVE
    waitlist_position: int | None


@dataclass(frozen=True, slots=True)
class DropResult:
    course_code: str
    role_id: int | None  # the cohort's Discord role to remove
    promoted_user_id: int | None  # who took the freed seat (grant them the role)


def _window_open(offering: CourseOffering, now: datetime) -> bool:
    starts, ends = offering.enrollment_start, offering.enrollment_end
    return offering.is_open and (starts is None or starts <= now) and (ends is None or now <= ends)


async def _choose_cohort(
    session: AsyncSession, course: Course, *, invite_code: str | None, now: datetime
) -> CourseOffering:
    offerings = list(
        await session.scalars(
            select(CourseOffering).where(CourseOffering.course_id == course.id).order_by(CourseOffering.id.desc())
        )
    )
    if invite_code:
        invited = [offering for offering in offerings if offering.invite_code == invite_code.strip()]
        if not invited:
            raise EnrollmentClosed(
                f"That invite code doesn't match any cohort of {course.code}. Check it with your instructor."
            )
        candidates = invited
    else:
        candidates = [offering for offering in offerings if offering.visibility is not OfferingVisibility.INVITE_ONLY]
        # An open PUBLIC cohort comes first: an UNLISTED one is for those who were told about it.
        candidates.sort(key=lambda offering: offering.visibility is not OfferingVisibility.PUBLIC)
    open_now = [offering for offering in candidates if _window_open(offering, now)]
    if open_now:
        return open_now[0]
    invite_only_open = any(
        offering.visibility is OfferingVisibility.INVITE_ONLY and _window_open(offering, now) for offering in offerings
    )
    if not candidates or (not invite_code and invite_only_open):
        raise EnrollmentClosed(
            f"{course.code} is invite-only. Enroll with the `invite:` code your instructor gave you."
        )
    upcoming = [o.enrollment_start for o in candidates if o.is_open and o.enrollment_start and o.enrollment_start > now]
    if upcoming:
        opens = min(upcoming)
        raise EnrollmentClosed(f"Enrollment in {course.code} opens <t:{int(opens.timestamp())}:R>. Come back then!")
    raise EnrollmentClosed(f"Enrollment in {course.code} is closed right now. Ask an instructor about the next cohort.")


async def _missing_prerequisites(session: AsyncSession, course: Course, user_id: int) -> list[str]:
    prerequisite = Course.__table__.alias("prerequisite")
    completed = (
        select(CourseOffering.course_id)
        .join(CourseEnrollment, CourseEnrollment.offering_id == CourseOffering.id)
        .where(CourseEnrollment.user_id == user_id, CourseEnrollment.status == EnrollmentStatus.COMPLETED)
    )
    missing = await session.scalars(
        select(prerequisite.c.code)
        .join(CoursePrerequisite, CoursePrerequisite.prerequisite_id == prerequisite.c.id)
        .where(CoursePrerequisite.course_id == course.id, prerequisite.c.id.not_in(completed))
        .order_by(prerequisite.c.code)
    )
    return list(missing)


async def _refuse_if_enrolled(session: AsyncSession, course: Course, user_id: int) -> None:
    current = await session.scalar(
        select(CourseEnrollment.status)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .where(
            CourseOffering.course_id == course.id,
            CourseEnrollment.user_id == user_id,
            # COMPLETED too: enrolling again must not turn a finished course (and met prerequisites) back to ACTIVE.
            CourseEnrollment.status.in_(
                [EnrollmentStatus.ACTIVE, EnrollmentStatus.WAITLISTED, EnrollmentStatus.COMPLETED]
            ),
        )
        .limit(1)
    )
    if current is not None:
        raise AlreadyEnrolled(course.code, waitlisted=current is EnrollmentStatus.WAITLISTED)


async def enroll(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str, invite_code: str | None, now: datetime
) -> EnrollmentResult:
    """Enroll in the course's open cohort (or the invited one); WAITLISTED when it is full."""
    course = await courses.live_course(session, guild_id=guild_id, code=course_code, published_only=True)
    await _refuse_if_enrolled(session, course, user_id)
    if missing := await _missing_prerequisites(session, course, user_id):
        raise PrerequisitesMissing(course.code, missing)
    offering = await _choose_cohort(session, course, invite_code=invite_code, now=now)
    # Lock the cohort so two students can't both take its last seat (SQLite serialises writers anyway).
    await session.refresh(offering, with_for_update=True)
    # Asked again under the lock: the same student enrolling twice at once (a double click) waited here for the
    # first enrollment to commit, and is told it exists rather than welcomed a second time.
    await _refuse_if_enrolled(session, course, user_id)
    seats_taken = await session.scalar(
        select(func.count()).where(
            CourseEnrollment.offering_id == offering.id, CourseEnrollment.status.in_(SEAT_HOLDING)
        )
    )
    full = offering.capacity is not None and (seats_taken or 0) >= offering.capacity
    status = EnrollmentStatus.WAITLISTED if full else EnrollmentStatus.ACTIVE
    enrollment = await session.scalar(
        select(CourseEnrollment).where(CourseEnrollment.offering_id == offering.id, CourseEnrollment.user_id == user_id)
    )
    if enrollment is None:
        enrollment = CourseEnrollment(offering_id=offering.id, user_id=user_id)
        session.add(enrollment)
    # A re-enrollment after a drop keeps the row (and the progress that hangs off the cohort).
    enrollment.status, enrollment.enrolled_at, enrollment.dropped_at = status, now, None
    await session.flush()
    position = None
    if full:
        position = await session.scalar(
            select(func.count()).where(
                CourseEnrollment.offering_id == offering.id,
                CourseEnrollment.status == EnrollmentStatus.WAITLISTED,
                CourseEnrollment.enrolled_at <= now,
            )
        )
    return EnrollmentResult(
        course.code, course.title, offering.term_name, status, None if full else offering.role_id, position
    )


async def drop(session: AsyncSession, *, guild_id: int, user_id: int, course_code: str, now: datetime) -> DropResult:
    """Leave the course (active or waitlisted); a freed seat goes to the longest-waiting student."""
    course = await courses.live_course(session, guild_id=guild_id, code=course_code)
    row = (
        await session.execute(
            select(CourseEnrollment, CourseOffering)
            .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
            .where(
                CourseOffering.course_id == course.id,
                CourseEnrollment.user_id == user_id,
                CourseEnrollment.status.in_([EnrollmentStatus.ACTIVE, EnrollmentStatus.WAITLISTED]),
            )
        )
    ).first()
    if row is None:
        raise NotEnrolled(course.code)
    enrollment, offering = row
    # Lock the cohort as `enroll` does, so two drops at once can't both hand their seat to one student.
    await session.refresh(offering, with_for_update=True)
    held_seat = enrollment.status is EnrollmentStatus.ACTIVE
    enrollment.status, enrollment.dropped_at = EnrollmentStatus.DROPPED, now
    promoted = None
    if held_seat and offering.capacity is not None:
        await session.flush()
        promoted = await session.scalar(
            select(CourseEnrollment)
            .where(CourseEnrollment.offering_id == offering.id, CourseEnrollment.status == EnrollmentStatus.WAITLISTED)
            .order_by(CourseEnrollment.enrolled_at, CourseEnrollment.id)
            .limit(1)
        )
        if promoted is not None:
            promoted.status = EnrollmentStatus.ACTIVE
    return DropResult(
        course.code,
        offering.role_id if held_seat else None,
        promoted.user_id if promoted is not None else None,
    )


@dataclass(frozen=True, slots=True)
class ActiveEnrollment:
    enrollment_id: int
    offering_id: int
    course_id: int
    course_code: str
    course_title: str
    passing_score: int


async def active_enrollment(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None
) -> ActiveEnrollment:
    """The student's ACTIVE (or COMPLETED, still readable) enrollment in the course; without a code, their
    most recent one in this guild. NotEnrolled otherwise."""
    query = (
        select(CourseEnrollment.id, CourseOffering.id, Course.id, Course.code, Course.title, Course.passing_score)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .join(Course, Course.id == CourseOffering.course_id)
        .where(
            Course.guild_id == guild_id,
            Course.deleted_at.is_(None),
            Course.is_published.is_(True),
            CourseEnrollment.user_id == user_id,
            or_(
                CourseEnrollment.status == EnrollmentStatus.ACTIVE,
                CourseEnrollment.status == EnrollmentStatus.COMPLETED,
            ),
        )
        .order_by(CourseEnrollment.enrolled_at.desc())
        .limit(1)
    )
    if course_code:
        query = query.where(Course.code == courses.normalise_code(course_code))
    row = (await session.execute(query)).first()
    if row is None:
        raise NotEnrolled(courses.normalise_code(course_code) if course_code else None)
    return ActiveEnrollment(*row)
