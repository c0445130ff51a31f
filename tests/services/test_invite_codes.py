"""Invite codes belong to a guild: another guild may use the same code, and can't learn whether one is taken."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.errors import InvalidInput
from bot.services import courses
from bot.services.coursepack import CohortSpec, PackageInvalid, Visibility
from db.models import Course, CourseOffering, EnrollmentStatus, OfferingVisibility
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    GUILD,
    INSTRUCTOR,
    NOW,
    OTHER_GUILD,
    enroll,
    import_course,
    new_cohort,
    seed_people,
    tiny_package,
)

SECRET = CohortSpec(term_name="Friends", visibility=Visibility.INVITE_ONLY, invite_code="OPEN-SESAME")
OPEN_SESAME: dict[str, object] = {"visibility": OfferingVisibility.INVITE_ONLY, "invite_code": "OPEN-SESAME"}


async def test_two_guilds_can_use_the_same_invite_code_and_each_enrolls_its_own_students(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"), guild_id=GUILD)
    await import_course(database, tiny_package("TINY"), guild_id=OTHER_GUILD)

    await new_cohort(database, "TINY", "Friends", **OPEN_SESAME)
    # No "already used": nothing leaks.
    await new_cohort(database, "TINY", "Neighbours", guild_id=OTHER_GUILD, **OPEN_SESAME)

    here = await enroll(database, ALICE, "TINY", invite="OPEN-SESAME")
    there = await enroll(database, BOB, "TINY", invite="OPEN-SESAME", guild_id=OTHER_GUILD)
    assert (here.term_name, here.status) == ("Friends", EnrollmentStatus.ACTIVE)
    assert (there.term_name, there.status) == ("Neighbours", EnrollmentStatus.ACTIVE)


async def test_a_guild_cannot_reuse_its_own_invite_code_in_any_of_its_courses(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY"))
    await import_course(database, tiny_package("MORE"))
    await new_cohort(database, "TINY", "Friends", **OPEN_SESAME)

    with pytest.raises(InvalidInput, match="already used by another cohort"):
        await new_cohort(database, "TINY", "Family", **OPEN_SESAME)
    with pytest.raises(InvalidInput, match="already used by another cohort"):
        await new_cohort(database, "MORE", "Friends", **OPEN_SESAME)


async def test_a_deleted_course_frees_its_invite_codes(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("OLD", cohorts=(SECRET,)))
    async with database.session_scope() as session:
        await courses.delete_course(session, guild_id=GUILD, actor_id=INSTRUCTOR, code="OLD", now=NOW)
    await import_course(database, tiny_package("NEW"))

    await new_cohort(database, "NEW", "Friends", **OPEN_SESAME)


async def test_an_import_checks_invite_codes_within_its_guild_only(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("FIRST", cohorts=(SECRET,)), guild_id=OTHER_GUILD)

    await import_course(database, tiny_package("FIRST", cohorts=(SECRET,)), guild_id=GUILD)
    await import_course(database, tiny_package("FIRST", cohorts=(SECRET,)), guild_id=GUILD)  # re-import keeps it
    with pytest.raises(PackageInvalid, match="OPEN-SESAME"):
        await import_course(database, tiny_package("SECOND", cohorts=(SECRET,)), guild_id=GUILD)

    async with database.session_scope() as session:
        holders = await session.execute(
            select(Course.guild_id, Course.code).join(CourseOffering).where(CourseOffering.invite_code == "OPEN-SESAME")
        )
        assert sorted(holders.all()) == [(GUILD, "FIRST"), (OTHER_GUILD, "FIRST")]


async def test_the_database_refuses_one_invite_code_twice_in_a_course(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package("TINY", cohorts=(SECRET,)))

    with pytest.raises(IntegrityError):
        async with database.session_scope() as session:
            course_id = await session.scalar(select(Course.id).where(Course.code == "TINY"))
            session.add(CourseOffering(course_id=course_id, term_name="Again", invite_code="OPEN-SESAME"))
