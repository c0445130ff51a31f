"""Integrity the database itself guarantees, on both backends: no Python check can race past these."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from db.models import (
    ContentItem,
    ContentKind,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    Guild,
    MemberStats,
    Module,
    ModuleType,
    RevisionVisibility,
    Streak,
    User,
    XPDaily,
    XPEvent,
)
from db.session import Database

GUILD, ALICE = 1001, 2001


async def seed_course(database: Database, code: str = "PY101") -> int:
    async with database.session_scope() as session:
        if await session.get(Guild, GUILD) is None:
            session.add_all([Guild(id=GUILD, name="School"), User(id=ALICE, display_name="Alice")])
            await session.flush()
        course = Course(guild_id=GUILD, code=code, title="Python")
        session.add(course)
        await session.flush()
        return course.id


async def test_a_second_ledger_row_with_the_same_source_key_is_refused(database: Database) -> None:
    await seed_course(database)
    day = date(2026, 11, 22)
    async with database.session_scope() as session:
        session.add(
            XPEvent(guild_id=GUILD, user_id=ALICE, amount=50, action="quiz_passed", source_key="quiz_passed:1", day=day)
        )
    with pytest.raises(IntegrityError):
        async with database.session_scope() as session:
            session.add(
                XPEvent(
                    guild_id=GUILD, user_id=ALICE, amount=50, action="quiz_passed", source_key="quiz_passed:1", day=day
                )
            )
    async with database.session_scope() as session:
        assert await session.scalar(select(func.sum(XPEvent.amount))) == 50
        # The ledger's trigger kept the totals, and the refused row added nothing to them.
        assert await session.scalar(select(MemberStats.total_xp)) == 50
        assert (await session.execute(select(XPDaily.day, XPDaily.course_id, XPDaily.xp))).all() == [(day, 0, 50)]


async def test_a_student_is_enrolled_once_per_cohort(database: Database) -> None:
    course_id = await seed_course(database)
    async with database.session_scope() as session:
        offering = CourseOffering(course_id=course_id, term_name="Fall")
        session.add(offering)
        await session.flush()
        session.add(CourseEnrollment(user_id=ALICE, offering_id=offering.id, status=EnrollmentStatus.ACTIVE))
    with pytest.raises(IntegrityError):
        async with database.session_scope() as session:
            session.add(CourseEnrollment(user_id=ALICE, offering_id=offering.id, status=EnrollmentStatus.ACTIVE))


async def test_course_codes_are_unique_among_live_courses_only(database: Database) -> None:
    first = await seed_course(database)
    with pytest.raises(IntegrityError):
        await seed_course(database)
    async with database.session_scope() as session:
        course = await session.get(Course, first)
        assert course is not None
        course.deleted_at, course.deleted_by = datetime.now(UTC), ALICE
    # The code is free again once the old course is soft-deleted, and the old row is still there.
    await seed_course(database)
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(Course).where(Course.code == "PY101")) == 2


async def test_deleting_a_course_removes_its_tree_but_not_the_guild(database: Database) -> None:
    course_id = await seed_course(database)
    async with database.session_scope() as session:
        root = Module(course_id=course_id, module_type=ModuleType.COURSE_ROOT, slug="root", sequence_index=0)
        session.add(root)
        await session.flush()
        item = ContentItem(
            course_id=course_id, module_id=root.id, kind=ContentKind.TEXT, slug="hello", sequence_index=0
        )
        session.add(item)
        await session.flush()
        session.add(ContentRevision(item_id=item.id, version=1, title="Hello", visibility=RevisionVisibility.DRAFT))
    async with database.session_scope() as session:
        await session.delete(await session.get(Course, course_id))
    async with database.session_scope() as session:
        for model in (Module, ContentItem, ContentRevision):
            assert await session.scalar(select(func.count()).select_from(model)) == 0, model.__tablename__
        assert await session.get(Guild, GUILD) is not None


async def test_enum_columns_refuse_unknown_values_even_from_raw_sql(database: Database) -> None:
    course_id = await seed_course(database)
    with pytest.raises(IntegrityError):
        async with database.session_scope() as session:
            await session.execute(
                text(
                    "INSERT INTO course_offerings (course_id, term_name, visibility, is_open, created_at)"
                    " VALUES (:course, 'Fall', 'SECRET', true, CURRENT_TIMESTAMP)"
                ),
                {"course": course_id},
            )


async def test_streak_freezes_can_never_go_negative(database: Database) -> None:
    await seed_course(database)
    with pytest.raises(IntegrityError):
        async with database.session_scope() as session:
            session.add(Streak(user_id=ALICE, current=1, longest=1, freezes_available=-1))
