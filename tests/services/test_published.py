"""What students see of a course: live items with a published revision, each as its newest published revision;
on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.services import published
from db.models import ContentItem, Course, Module
from db.session import Database
from tests.services.course_fixtures import (
    NOW,
    import_course,
    lesson,
    replace_item,
    seed_people,
    tiny_package,
)

LATER = NOW + timedelta(hours=1)


async def published_titles(database: Database, *codes: str) -> dict[str, str]:
    async with database.session_scope() as session:
        course_ids = (await session.scalars(select(Course.id).where(Course.code.in_(codes)))).all()
        rows = await session.execute(published.items(*course_ids).order_by(ContentItem.id))
        return {row.slug: row.title for row in rows}


async def test_students_see_the_newest_published_revision_not_a_newer_draft(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    package = replace_item(tiny_package(), "intro", title="Intro, rewritten")
    start, finish = package.modules
    with_draft_lesson = package.model_copy(
        update={"modules": (start.model_copy(update={"items": (*start.items, lesson("draft-only"))}), finish)}
    )
    await import_course(database, with_draft_lesson, publish=False, now=LATER)

    assert await published_titles(database, "TINY") == {
        "intro": "Intro",
        "setup": "Setup",
        "check": "Check",
        "wrap-up": "Wrap up",
    }


async def test_deleted_items_and_the_items_of_deleted_modules_are_left_out(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    async with database.session_scope() as session:
        await session.execute(update(ContentItem).where(ContentItem.slug == "intro").values(deleted_at=NOW))
        await session.execute(update(Module).where(Module.slug == "finish").values(deleted_at=NOW))

    assert list(await published_titles(database, "TINY")) == ["setup"]


async def test_several_courses_at_once_each_with_its_items(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    await import_course(database, tiny_package("MORE"))
    async with database.session_scope() as session:
        rows = (await session.execute(published.items(*(await session.scalars(select(Course.id))).all()))).all()
        codes = dict((await session.execute(select(Course.id, Course.code))).all())

    assert sorted((codes[row.course_id], row.slug) for row in rows) == [
        (code, slug) for code in ("MORE", "TINY") for slug in ("check", "intro", "setup", "wrap-up")
    ]
