"""Prerequisites across courses never form a loop: an import that would close one is refused, on both databases."""

from __future__ import annotations

import pytest

from bot.errors import PrerequisiteCycle
from bot.services import courses
from bot.services.coursepack import CoursePackage
from db.session import Database
from tests.services.course_fixtures import GUILD, INSTRUCTOR, NOW, import_course, row_counts, seed_people, tiny_package


def requiring(code: str, *prerequisites: str) -> CoursePackage:
    return tiny_package(code, prerequisites=prerequisites)


async def prerequisites_of(database: Database, code: str) -> list[str]:
    async with database.session_scope() as session:
        details = await courses.course_details(session, guild_id=GUILD, code=code, include_unpublished=True)
    return details.prerequisites


async def test_reimporting_a_course_to_require_its_own_dependent_is_refused_and_writes_nothing(
    database: Database,
) -> None:
    await seed_people(database)
    await import_course(database, requiring("CA"))
    await import_course(database, requiring("CB", "CA"))
    before = await row_counts(database)

    with pytest.raises(PrerequisiteCycle) as refused:
        await import_course(database, requiring("CA", "CB"))

    assert "CA needs CB, which needs CA" in str(refused.value)
    assert "Remove `CB` from `prerequisites` in course.toml" in str(refused.value)
    assert await row_counts(database) == before
    assert await prerequisites_of(database, "CA") == []


async def test_a_longer_loop_is_named_course_by_course(database: Database) -> None:
    await seed_people(database)
    await import_course(database, requiring("CA"))
    await import_course(database, requiring("CB", "CA"))
    await import_course(database, requiring("CC", "CB"))
    await import_course(database, requiring("CX"))

    with pytest.raises(PrerequisiteCycle, match="CA needs CC, which needs CB, which needs CA"):
        await import_course(database, requiring("CA", "CX", "CC"))


async def test_shared_prerequisites_without_a_loop_are_accepted(database: Database) -> None:
    await seed_people(database)
    await import_course(database, requiring("BASE"))
    await import_course(database, requiring("LEFT", "BASE"))
    await import_course(database, requiring("RIGHT", "BASE"))
    await import_course(database, requiring("TOP", "LEFT", "RIGHT"))

    await import_course(database, requiring("TOP", "LEFT", "RIGHT", "BASE"))  # a re-import, same shape

    assert await prerequisites_of(database, "TOP") == ["BASE", "LEFT", "RIGHT"]


async def test_a_course_may_drop_the_prerequisite_that_made_the_loop_and_then_be_required(database: Database) -> None:
    await seed_people(database)
    await import_course(database, requiring("CA"))
    await import_course(database, requiring("CB", "CA"))
    await import_course(database, requiring("CB"))  # CB no longer needs CA

    await import_course(database, requiring("CA", "CB"))

    assert await prerequisites_of(database, "CA") == ["CB"]


async def test_a_deleted_course_does_not_close_a_loop(database: Database) -> None:
    await seed_people(database)
    await import_course(database, requiring("CA"))
    await import_course(database, requiring("CB", "CA"))
    async with database.session_scope() as session:
        await courses.delete_course(session, guild_id=GUILD, actor_id=INSTRUCTOR, code="CB", now=NOW)
    await import_course(database, requiring("CB"))

    await import_course(database, requiring("CA", "CB"))

    assert await prerequisites_of(database, "CA") == ["CB"]
