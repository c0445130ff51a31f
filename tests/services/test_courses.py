"""Instructors create, publish, delete and run cohorts of courses; students only ever see published live ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.errors import EnrollmentClosed, InvalidInput, NotEnrolled, NotFound
from bot.services import courses, enrollment
from db.models import (
    AuditLog,
    ContentItem,
    ContentRevision,
    Course,
    CourseLevel,
    CourseOffering,
    EnrollmentStatus,
    Module,
    ModuleType,
    OfferingVisibility,
    RevisionVisibility,
)
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    INSTRUCTOR,
    NOW,
    ONE_SEAT,
    OTHER_GUILD,
    enroll,
    import_course,
    move,
    new_cohort,
    replace_item,
    sample_package,
    seed_people,
    tiny_package,
)

LATER = NOW + timedelta(hours=1)


async def create(database: Database, code: str, title: str = "A course", *, guild_id: int = GUILD) -> Course:
    async with database.session_scope() as session:
        return await courses.create_course(session, guild_id=guild_id, actor_id=INSTRUCTOR, code=code, title=title)


async def publish(database: Database, code: str, published: bool = True) -> int:
    async with database.session_scope() as session:
        return await courses.set_published(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code=code, published=published, now=NOW
        )


async def listed(
    database: Database, user_id: int = ALICE, **options: bool
) -> list[tuple[str, EnrollmentStatus | None]]:
    async with database.session_scope() as session:
        found = await courses.list_courses(session, guild_id=GUILD, user_id=user_id, **options)
    return [(course.code, course.enrollment_status) for course in found]


async def test_a_new_course_is_an_unpublished_empty_course_with_a_public_cohort(database: Database) -> None:
    await seed_people(database)

    created = await create(database, " py101 ", "Python Basics")

    assert created.code == "PY101"
    async with database.session_scope() as session:
        course = await courses.live_course(session, guild_id=GUILD, code="py101")
        assert (course.title, course.level, course.is_published, course.created_by) == (
            "Python Basics",
            CourseLevel.INTRODUCTORY,
            False,
            INSTRUCTOR,
        )
        assert list(await session.scalars(select(Module.module_type))) == [ModuleType.COURSE_ROOT]
        assert [cohort.term_name for cohort in await courses.cohorts_of(session, course_id=course.id)] == [
            courses.DEFAULT_COHORT
        ]
        audited = (await session.execute(select(AuditLog.action, AuditLog.meta))).all()
    assert [tuple(row) for row in audited] == [("course.create", {"code": "PY101"})]
    assert await listed(database) == []
    assert await listed(database, include_unpublished=True) == [("PY101", None)]


async def test_a_duplicate_code_is_refused_until_the_course_is_deleted(database: Database) -> None:
    await seed_people(database)
    first = await create(database, "PY101")

    with pytest.raises(courses.DuplicateCourse, match=r"already has a course `PY101`\. Pick another code"):
        await create(database, "py101")
    async with database.session_scope() as session:
        await courses.delete_course(session, guild_id=GUILD, actor_id=INSTRUCTOR, code="PY101", now=NOW)
    second = await create(database, "PY101", "Take two")

    assert second.id != first.id
    async with database.session_scope() as session:
        assert (await courses.live_course(session, guild_id=GUILD, code="PY101")).title == "Take two"
        deleted = await session.get(Course, first.id)
        assert (deleted.deleted_at, deleted.deleted_by) == (NOW, INSTRUCTOR)
    # The same code in another server is another course.
    assert (await create(database, "PY101", guild_id=OTHER_GUILD)).id not in {first.id, second.id}


async def test_a_course_code_must_be_one_the_package_format_accepts(database: Database) -> None:
    await seed_people(database)

    for code in ["", "P", "1PY", "PY 101", "PŸ101", "A" * 21]:
        with pytest.raises(InvalidInput, match="such as `PY101`"):
            await create(database, code)
    assert (await create(database, "web-dev-2")).code == "WEB-DEV-2"


async def test_publishing_makes_the_newest_drafts_what_students_read(database: Database) -> None:
    await seed_people(database)
    await import_course(database, sample_package(), publish=False)
    changed = replace_item(sample_package(), "variables", body="# Variables\n\nSecond draft.")
    await import_course(database, changed, publish=False)

    assert await publish(database, "PY101") == 11

    async with database.session_scope() as session:
        rows = await session.execute(
            select(ContentItem.slug, ContentRevision.version, ContentRevision.visibility)
            .join(ContentItem, ContentItem.id == ContentRevision.item_id)
            .order_by(ContentItem.slug, ContentRevision.version)
        )
        visibility = {(slug, version): seen for slug, version, seen in rows}
    assert visibility.pop(("variables", 1)) is RevisionVisibility.DRAFT  # superseded before anyone saw it
    assert visibility.pop(("variables", 2)) is RevisionVisibility.PUBLISHED
    assert set(visibility.values()) == {RevisionVisibility.PUBLISHED} and len(visibility) == 10
    assert await publish(database, "PY101") == 0
    await enroll(database, ALICE, "PY101")
    page = await move(database, ALICE, "open", code="PY101", lesson="variables")
    assert page.body == "# Variables\n\nSecond draft."


async def test_unpublishing_hides_a_course_from_the_list_from_enrollment_and_from_its_students(
    database: Database,
) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"))
    await import_course(database, tiny_package("MORE"))
    await enroll(database, ALICE, "TINY")

    assert await publish(database, "TINY", published=False) == 0

    assert await listed(database) == [("MORE", None)]
    assert await listed(database, include_unpublished=True) == [("MORE", None), ("TINY", EnrollmentStatus.ACTIVE)]
    with pytest.raises(NotFound, match="TINY"):
        await enroll(database, BOB, "TINY")
    with pytest.raises(NotEnrolled):
        await move(database, ALICE, "next", code="TINY")
    async with database.session_scope() as session:
        with pytest.raises(NotFound):
            await courses.course_details(session, guild_id=GUILD, code="TINY")
        assert (await courses.course_details(session, guild_id=GUILD, code="TINY", include_unpublished=True)).code
        assert [row.action for row in await session.scalars(select(AuditLog).order_by(AuditLog.id))][-1] == (
            "course.unpublish"
        )


async def test_the_course_list_shows_this_guilds_published_live_courses_with_my_status(database: Database) -> None:
    await seed_people(database)
    for code in ("BETA", "ALPHA", "GAMMA", "DELTA"):
        await import_course(database, tiny_package(code, cohorts=ONE_SEAT))
    await import_course(database, tiny_package("DRAFT"), publish=False)
    await import_course(database, tiny_package("ELSEWHERE"), guild_id=OTHER_GUILD)
    await import_course(database, tiny_package("GONE"))
    async with database.session_scope() as session:
        await courses.delete_course(session, guild_id=GUILD, actor_id=INSTRUCTOR, code="GONE", now=NOW)
    await enroll(database, ALICE, "ALPHA")
    await enroll(database, BOB, "BETA")
    await enroll(database, ALICE, "BETA", now=LATER)
    await enroll(database, ALICE, "GAMMA")
    async with database.session_scope() as session:
        await enrollment.drop(session, guild_id=GUILD, user_id=ALICE, course_code="GAMMA", now=LATER)

    assert await listed(database) == [
        ("ALPHA", EnrollmentStatus.ACTIVE),
        ("BETA", EnrollmentStatus.WAITLISTED),
        ("DELTA", None),
        ("GAMMA", None),
    ]
    assert await listed(database, BOB) == [
        ("ALPHA", None),
        ("BETA", EnrollmentStatus.ACTIVE),
        ("DELTA", None),
        ("GAMMA", None),
    ]
    async with database.session_scope() as session:
        elsewhere = await courses.list_courses(session, guild_id=OTHER_GUILD, user_id=ALICE, include_unpublished=True)
        with pytest.raises(NotFound):
            await courses.course_details(session, guild_id=GUILD, code="ELSEWHERE")
    assert [course.code for course in elsewhere] == ["ELSEWHERE"]


async def test_course_details_describe_what_a_student_can_join(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"))
    await import_course(database, sample_package().model_copy(update={"prerequisites": ("TINY",)}))
    await new_cohort(database, "PY101", "Small group", capacity=1, role_id=555)

    async with database.session_scope() as session:
        details = await courses.course_details(session, guild_id=GUILD, code="py101")

    assert (details.code, details.title, details.level, details.passing_score, details.is_published) == (
        "PY101",
        "Python Basics",
        "INTRODUCTORY",
        70,
        True,
    )
    assert details.description == sample_package().description
    assert details.prerequisites == ["TINY"]
    assert details.module_titles == [module.title for module in sample_package().modules]
    assert details.lesson_count == 11
    assert [(c.term_name, c.visibility, c.is_open, c.capacity, c.role_id) for c in details.cohorts] == [
        ("Self-paced", OfferingVisibility.PUBLIC, True, None, None),
        ("Small group", OfferingVisibility.PUBLIC, True, 1, 555),
    ]


async def test_cohort_seat_counts_follow_enrollments(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY", cohorts=ONE_SEAT))
    await enroll(database, ALICE, "TINY")
    await enroll(database, BOB, "TINY", now=LATER)
    await enroll(database, CAROL, "TINY", now=LATER + timedelta(minutes=1))

    async with database.session_scope() as session:
        details = await courses.course_details(session, guild_id=GUILD, code="TINY")
    assert [(c.term_name, c.active_count, c.waitlist_count) for c in details.cohorts] == [("Solo", 1, 2)]


async def test_cohorts_are_created_closed_and_reopened(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"))

    made = await new_cohort(database, "TINY", "  Spring 2027 ", capacity=30, role_id=42)
    assert (made.term_name, made.is_open, made.capacity, made.role_id) == ("Spring 2027", True, 30, 42)
    async with database.session_scope() as session:
        await courses.set_cohort_open(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="TINY", term_name="Open", is_open=False
        )
    result = await enroll(database, ALICE, "TINY")
    assert result.term_name == "Spring 2027" and result.role_id == 42
    async with database.session_scope() as session:
        await courses.set_cohort_open(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="TINY", term_name="Spring 2027", is_open=False
        )
    with pytest.raises(EnrollmentClosed, match="closed right now"):
        await enroll(database, BOB, "TINY")
    async with database.session_scope() as session:
        await courses.set_cohort_open(
            session, guild_id=GUILD, actor_id=INSTRUCTOR, code="TINY", term_name="Open", is_open=True
        )
        with pytest.raises(NotFound, match="Autumn"):
            await courses.set_cohort_open(
                session, guild_id=GUILD, actor_id=INSTRUCTOR, code="TINY", term_name="Autumn", is_open=True
            )
    assert (await enroll(database, BOB, "TINY")).term_name == "Open"
    async with database.session_scope() as session:
        cohorts = await courses.cohorts_of(session, course_id=await session.scalar(select(Course.id)))
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert [(c.term_name, c.is_open) for c in cohorts] == [("Open", True), ("Spring 2027", False)]
    assert actions[-3:] == ["cohort.close", "cohort.close", "cohort.open"] and "cohort.create" in actions


async def test_a_cohort_needs_a_unique_name_and_invite_only_needs_an_unused_code(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"))
    await import_course(database, tiny_package("MORE"))
    await new_cohort(database, "MORE", "Friends", visibility=OfferingVisibility.INVITE_ONLY, invite_code="HELLO")

    with pytest.raises(InvalidInput, match="already has a cohort called `Open`"):
        await new_cohort(database, "TINY", "Open")
    with pytest.raises(InvalidInput, match="needs an invite code"):
        await new_cohort(database, "TINY", "Secret", visibility=OfferingVisibility.INVITE_ONLY)
    with pytest.raises(InvalidInput, match="already used"):
        await new_cohort(database, "TINY", "Secret", visibility=OfferingVisibility.INVITE_ONLY, invite_code="HELLO")
    with pytest.raises(InvalidInput, match="at least 1"):
        await new_cohort(database, "TINY", "Nobody", capacity=0)
    with pytest.raises(InvalidInput, match="ends before it starts"):
        await new_cohort(database, "TINY", "Backwards", enrollment_start=LATER, enrollment_end=NOW)

    async with database.session_scope() as session:
        terms = list(await session.scalars(select(CourseOffering.term_name).order_by(CourseOffering.id)))
    assert terms == ["Open", "Open", "Friends"]


async def test_the_roster_lists_everyone_with_how_much_they_completed(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"))
    await import_course(database, tiny_package("MORE"))
    await new_cohort(database, "TINY", "Evening")
    await enroll(database, CAROL, "TINY")
    await enroll(database, BOB, "TINY")
    await enroll(database, ALICE, "MORE")
    for _ in range(3):  # opens intro, setup, check: intro and setup are done
        await move(database, BOB, "next", code="TINY")
    async with database.session_scope() as session:
        await enrollment.drop(session, guild_id=GUILD, user_id=CAROL, course_code="TINY", now=LATER)

    async with database.session_scope() as session:
        entries = await courses.roster(session, guild_id=GUILD, code="TINY")

    assert [(e.display_name, e.term_name, e.status, e.completed_items) for e in entries] == [
        ("Bob", "Evening", EnrollmentStatus.ACTIVE, 2),
        ("Carol", "Evening", EnrollmentStatus.DROPPED, 0),
    ]
