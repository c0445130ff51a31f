"""Enrollment: cohort windows, visibility and invite codes, prerequisites, capacity with a fair waitlist."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from bot.errors import AlreadyEnrolled, EnrollmentClosed, NotEnrolled, PrerequisitesMissing
from bot.services import courses, enrollment, navigation
from bot.services.coursepack import CohortSpec, ModuleSpec, Visibility
from db.models import CourseEnrollment, EnrollmentStatus
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    NOW,
    ONE_SEAT,
    enroll,
    import_course,
    lesson,
    move,
    seed_people,
    tiny_package,
)

ROLE = 7777


async def drop(database: Database, user_id: int, code: str = "TINY") -> enrollment.DropResult:
    async with database.session_scope() as session:
        return await enrollment.drop(session, guild_id=GUILD, user_id=user_id, course_code=code, now=NOW)


async def status_of(database: Database, user_id: int) -> list[EnrollmentStatus]:
    async with database.session_scope() as session:
        return list(await session.scalars(select(CourseEnrollment.status).where(CourseEnrollment.user_id == user_id)))


async def open_connections(database: Database, count: int) -> None:
    async def hold() -> None:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(count)))


async def course_with(database: Database, *cohorts: CohortSpec, code: str = "TINY") -> None:
    await seed_people(database)
    await import_course(database, tiny_package(code, cohorts=cohorts))


async def test_enrolling_in_a_public_cohort_makes_you_an_active_student(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Open", role_id=ROLE))

    result = await enroll(database, ALICE, "tiny")

    assert result == enrollment.EnrollmentResult("TINY", "Course TINY", "Open", EnrollmentStatus.ACTIVE, ROLE, None)
    async with database.session_scope() as session:
        active = await enrollment.active_enrollment(session, guild_id=GUILD, user_id=ALICE, course_code=None)
    assert (active.course_code, active.passing_score) == ("TINY", 70)


async def test_enrolling_twice_is_refused(database: Database) -> None:
    await course_with(database, *ONE_SEAT)
    await enroll(database, ALICE, "TINY")
    await enroll(database, BOB, "TINY")

    with pytest.raises(AlreadyEnrolled, match="already enrolled in TINY"):
        await enroll(database, ALICE, "TINY")
    with pytest.raises(AlreadyEnrolled, match="already on the waitlist of TINY"):
        await enroll(database, BOB, "TINY")
    assert await status_of(database, ALICE) == [EnrollmentStatus.ACTIVE]


async def test_before_the_window_opens_the_message_says_when(database: Database) -> None:
    opens = NOW + timedelta(days=3)
    await course_with(database, CohortSpec(term_name="Spring", enrollment_start=opens))

    with pytest.raises(EnrollmentClosed) as closed:
        await enroll(database, ALICE, "TINY")

    assert str(closed.value) == f"Enrollment in TINY opens <t:{int(opens.timestamp())}:R>. Come back then!"
    assert (await enroll(database, ALICE, "TINY", now=opens)).status is EnrollmentStatus.ACTIVE


async def test_after_the_window_or_in_a_closed_cohort_enrollment_is_closed(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Last year", enrollment_end=NOW - timedelta(seconds=1)))

    with pytest.raises(EnrollmentClosed, match="TINY is closed right now"):
        await enroll(database, ALICE, "TINY")

    await import_course(database, tiny_package("OPEN"))
    async with database.session_scope() as session:
        await courses.set_cohort_open(
            session, guild_id=GUILD, actor_id=ALICE, code="OPEN", term_name="Open", is_open=False
        )
    with pytest.raises(EnrollmentClosed, match="OPEN is closed right now"):
        await enroll(database, ALICE, "OPEN")
    assert await status_of(database, ALICE) == []


async def test_an_invite_only_cohort_needs_its_code(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Friends", visibility=Visibility.INVITE_ONLY, invite_code="K3Y"))

    with pytest.raises(EnrollmentClosed, match=r"invite-only\. Enroll with the `invite:` code"):
        await enroll(database, ALICE, "TINY")
    with pytest.raises(EnrollmentClosed, match="doesn't match any cohort of TINY"):
        await enroll(database, ALICE, "TINY", invite="KEY")
    result = await enroll(database, ALICE, "TINY", invite=" K3Y ")

    assert (result.term_name, result.status) == ("Friends", EnrollmentStatus.ACTIVE)


async def test_a_closed_public_cohort_beside_an_open_invite_only_one_asks_for_the_invite(database: Database) -> None:
    await course_with(
        database,
        CohortSpec(term_name="Public", enrollment_end=NOW - timedelta(days=1)),
        CohortSpec(term_name="Friends", visibility=Visibility.INVITE_ONLY, invite_code="K3Y"),
    )

    with pytest.raises(EnrollmentClosed, match=r"invite-only\. Enroll with the `invite:` code"):
        await enroll(database, ALICE, "TINY")


async def test_an_unlisted_cohort_takes_whoever_names_it_or_brings_its_code(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Quiet", visibility=Visibility.UNLISTED))
    assert (await enroll(database, ALICE, "TINY")).term_name == "Quiet"

    await import_course(
        database,
        tiny_package(
            "BOTH",
            cohorts=(
                CohortSpec(term_name="Everyone", role_id=1),
                CohortSpec(term_name="Staff", visibility=Visibility.UNLISTED, invite_code="STAFF", role_id=2),
            ),
        ),
    )
    staff = await enroll(database, ALICE, "BOTH", invite="STAFF")
    student = await enroll(database, BOB, "BOTH")

    assert (staff.term_name, staff.role_id) == ("Staff", 2)
    # Nobody lands in the unadvertised cohort (and gets its role) without its code while a public one is open.
    assert (student.term_name, student.role_id) == ("Everyone", 1)


async def test_prerequisites_must_be_completed_first(database: Database) -> None:
    await seed_people(database)
    one_lesson = (ModuleSpec(slug="only", title="Only", items=(lesson("only"),)),)
    await import_course(database, tiny_package("BASICS", modules=one_lesson))
    await import_course(database, tiny_package("NEXT", prerequisites=("BASICS",)))

    with pytest.raises(PrerequisitesMissing, match="NEXT needs you to complete `BASICS` first"):
        await enroll(database, ALICE, "NEXT")
    await enroll(database, ALICE, "BASICS")
    with pytest.raises(PrerequisitesMissing):  # enrolled is not completed
        await enroll(database, ALICE, "NEXT")
    await move(database, ALICE, "next", code="BASICS")
    assert await move(database, ALICE, "next", code="BASICS") == navigation.CourseEnd("BASICS", course_completed=True)

    result = await enroll(database, ALICE, "NEXT")

    assert result.status is EnrollmentStatus.ACTIVE
    with pytest.raises(AlreadyEnrolled):  # finishing a course is not undone by enrolling again
        await enroll(database, ALICE, "BASICS")
    assert sorted(await status_of(database, ALICE)) == [EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED]


async def test_a_full_cohort_waitlists_in_order_and_a_drop_promotes_the_longest_waiting(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Solo", capacity=1, role_id=ROLE))

    alice = await enroll(database, ALICE, "TINY")
    bob = await enroll(database, BOB, "TINY", now=NOW + timedelta(minutes=1))
    carol = await enroll(database, CAROL, "TINY", now=NOW + timedelta(minutes=2))

    assert (alice.status, alice.role_id, alice.waitlist_position) == (EnrollmentStatus.ACTIVE, ROLE, None)
    assert (bob.status, bob.role_id, bob.waitlist_position) == (EnrollmentStatus.WAITLISTED, None, 1)
    assert (carol.status, carol.waitlist_position) == (EnrollmentStatus.WAITLISTED, 2)
    with pytest.raises(NotEnrolled):  # the waitlist does not open the lessons
        await move(database, BOB, "next", code="TINY")

    assert await drop(database, CAROL) == enrollment.DropResult("TINY", role_id=None, promoted_user_id=None)
    assert await drop(database, ALICE) == enrollment.DropResult("TINY", role_id=ROLE, promoted_user_id=BOB)

    assert await status_of(database, BOB) == [EnrollmentStatus.ACTIVE]
    assert isinstance(await move(database, BOB, "next", code="TINY"), navigation.LessonPage)
    assert await status_of(database, ALICE) == [EnrollmentStatus.DROPPED]
    with pytest.raises(NotEnrolled):
        await drop(database, ALICE)


async def test_dropping_and_enrolling_again_keeps_the_enrollment_and_its_progress(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Open"))
    await enroll(database, ALICE, "TINY")
    async with database.session_scope() as session:
        first_id = await session.scalar(select(CourseEnrollment.id))
    for _ in range(3):
        await move(database, ALICE, "next", code="TINY")

    await drop(database, ALICE)
    with pytest.raises(NotEnrolled):
        await move(database, ALICE, "resume", code="TINY")
    again = await enroll(database, ALICE, "TINY", now=NOW + timedelta(days=1))

    assert again.status is EnrollmentStatus.ACTIVE
    async with database.session_scope() as session:
        rows = (await session.scalars(select(CourseEnrollment))).all()
        progress = await navigation.course_progress(session, guild_id=GUILD, user_id=ALICE, course_code="TINY")
    assert [(row.id, row.status, row.dropped_at) for row in rows] == [(first_id, EnrollmentStatus.ACTIVE, None)]
    assert progress.done == 2
    assert (await move(database, ALICE, "resume", code="TINY")).slug == "check"


async def test_students_racing_for_the_last_seat_get_one_seat_and_waitlist_places(database: Database) -> None:
    await seed_people(database)
    codes = ["RACE-1", "RACE-2", "RACE-3"]  # a few races, so a missing lock cannot slip through by luck
    for code in codes:
        await import_course(database, tiny_package(code, cohorts=ONE_SEAT))
    await open_connections(database, 3)  # so the racers start together instead of queueing on connects

    for code in codes:
        results = await asyncio.gather(*(enroll(database, user, code) for user in (ALICE, BOB, CAROL)))
        assert sorted(result.status for result in results) == [
            EnrollmentStatus.ACTIVE,
            EnrollmentStatus.WAITLISTED,
            EnrollmentStatus.WAITLISTED,
        ], code

    async with database.session_scope() as session:
        statuses = list(await session.scalars(select(CourseEnrollment.status)))
    assert statuses.count(EnrollmentStatus.ACTIVE) == len(codes)


async def test_one_student_enrolling_ten_times_at_once_is_welcomed_once(database: Database) -> None:
    await course_with(database, CohortSpec(term_name="Open", role_id=ROLE))
    await open_connections(database, 10)  # so the racers start together instead of queueing on connects

    outcomes = await asyncio.gather(*(enroll(database, ALICE, "TINY") for _ in range(10)), return_exceptions=True)

    welcomed = [outcome for outcome in outcomes if isinstance(outcome, enrollment.EnrollmentResult)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, AlreadyEnrolled)]
    assert (len(welcomed), len(refused)) == (1, 9), outcomes
    assert "already enrolled in TINY" in str(refused[0])
    assert await status_of(database, ALICE) == [EnrollmentStatus.ACTIVE]
