"""Moving through a course: the published outline in order, progress as you go, and completing the course."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.errors import LessonInAnotherCourse, NotEnrolled, NotFound, NothingToRead
from bot.services import enrollment, navigation
from bot.services.coursepack import ModuleSpec, QuizSpec
from db.models import ContentKind, CourseEnrollment, EnrollmentStatus
from db.session import Database
from tests.conftest import counted_statements
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    GUILD,
    NOW,
    OTHER_GUILD,
    complete,
    enroll,
    import_course,
    lesson,
    move,
    quiz,
    sample_package,
    seed_people,
    tiny_package,
    without_item,
)

LATER = NOW + timedelta(hours=1)


async def tiny_course_with_alice(database: Database, **package: Any) -> None:
    """TINY: module Start (intro, setup), module Finish (quiz check, wrap-up); Alice enrolled."""
    await seed_people(database)
    await import_course(database, tiny_package(**package))
    await enroll(database, ALICE, "TINY")


async def progress(database: Database, user_id: int = ALICE, code: str | None = "TINY") -> navigation.CourseProgress:
    async with database.session_scope() as session:
        return await navigation.course_progress(session, guild_id=GUILD, user_id=user_id, course_code=code)


async def outline(database: Database, code: str = "TINY") -> list[str]:
    async with database.session_scope() as session:
        titles = await navigation.outline_titles(session, guild_id=GUILD, user_id=ALICE, course_code=code)
    return [slug for slug, _ in titles]


def per_module(course: navigation.CourseProgress) -> list[tuple[str, int, int]]:
    return [(module.title, module.done, module.total) for module in course.modules]


async def test_next_walks_the_sample_course_in_module_then_item_order(database: Database) -> None:
    await seed_people(database)
    package = sample_package()
    await import_course(database, package)
    await enroll(database, ALICE, "PY101")

    pages = [await move(database, ALICE, "next") for _ in range(11)]

    expected = [(module.title, item) for module in package.modules for item in module.items]
    assert [page.title for page in pages][:3] == ["What is Python?", "Running code", "Variables"]
    assert [(page.module_title, page.slug, page.title) for page in pages] == [
        (module_title, item.slug, item.title) for module_title, item in expected
    ]
    assert [(page.position, page.total) for page in pages] == [(n, 11) for n in range(1, 12)]
    assert [page.kind for page in pages] == [
        ContentKind.QUIZ if isinstance(item, QuizSpec) else ContentKind.TEXT for _, item in expected
    ]
    first = package.lessons[0]
    assert (pages[0].body, pages[0].objectives, pages[0].estimated_minutes) == (
        first.body,
        list(first.objectives),
        first.estimated_minutes,
    )
    assert await outline(database, "PY101") == [page.slug for page in pages]


async def test_reading_every_lesson_is_not_enough_until_the_quizzes_are_passed(database: Database) -> None:
    await seed_people(database)
    package = sample_package()
    await import_course(database, package)
    await enroll(database, ALICE, "PY101")
    for _ in range(11):
        await move(database, ALICE, "next", code="PY101")

    end = await move(database, ALICE, "next", code="PY101")

    assert end == navigation.CourseEnd("PY101", course_completed=False)
    course = await progress(database, code="PY101")
    assert per_module(course) == [(module.title, len(module.lessons), len(module.items)) for module in package.modules]
    assert course.status is EnrollmentStatus.ACTIVE
    finished = [await complete(database, ALICE, "PY101", quiz.slug) for quiz in package.quizzes]
    assert finished == [False, False, True]
    course = await progress(database, code="PY101")
    assert (course.done, course.total, course.status) == (11, 11, EnrollmentStatus.COMPLETED)
    async with database.session_scope() as session:
        assert await session.scalar(select(CourseEnrollment.completed_at)) == NOW


async def test_next_from_the_last_item_completes_the_course_once_everything_else_is_done(database: Database) -> None:
    await tiny_course_with_alice(database)
    for _ in range(3):
        await move(database, ALICE, "next")
    assert await complete(database, ALICE, "TINY", "check") is False
    wrap_up = await move(database, ALICE, "next")

    end = await move(database, ALICE, "next", now=LATER)

    assert (wrap_up.slug, wrap_up.course_completed) == ("wrap-up", False)
    assert end == navigation.CourseEnd("TINY", course_completed=True)
    assert (await progress(database)).status is EnrollmentStatus.COMPLETED
    async with database.session_scope() as session:
        assert await session.scalar(select(CourseEnrollment.completed_at)) == LATER
    # A finished course stays readable, and finishing it again is not news.
    assert await move(database, ALICE, "next") == navigation.CourseEnd("TINY", course_completed=False)
    assert (await move(database, ALICE, "open", lesson="intro")).completed


async def test_moving_onto_an_item_already_done_can_finish_the_course(database: Database) -> None:
    await tiny_course_with_alice(database)
    await move(database, ALICE, "open", lesson="wrap-up")
    await move(database, ALICE, "next")  # the end: wrap-up is done
    await complete(database, ALICE, "TINY", "check")
    await move(database, ALICE, "open", lesson="intro")
    await move(database, ALICE, "next")  # intro done

    page = await move(database, ALICE, "next")  # setup done, and the check was passed already

    assert (page.slug, page.completed, page.course_completed) == ("check", True, True)
    assert (await progress(database)).status is EnrollmentStatus.COMPLETED


async def test_prev_goes_back_and_stops_at_the_first_item(database: Database) -> None:
    await tiny_course_with_alice(database)
    await move(database, ALICE, "open", lesson="check")

    back = [(await move(database, ALICE, "prev")).slug for _ in range(2)]

    assert back == ["setup", "intro"]
    with pytest.raises(NothingToRead, match="first lesson of TINY"):
        await move(database, ALICE, "prev")
    assert (await progress(database)).done == 0  # going back completes nothing


async def test_open_goes_to_a_lesson_by_slug(database: Database) -> None:
    await tiny_course_with_alice(database)

    page = await move(database, ALICE, "open", lesson="wrap-up")

    assert (page.slug, page.title, page.module_title, page.position, page.completed) == (
        "wrap-up",
        "Wrap up",
        "Finish",
        4,
        False,
    )
    with pytest.raises(NotFound, match="`nowhere`"):
        await move(database, ALICE, "open", lesson="nowhere")
    assert (await move(database, ALICE, "next")) == navigation.CourseEnd("TINY", course_completed=False)


async def test_resume_reopens_the_last_item_opened(database: Database) -> None:
    await tiny_course_with_alice(database)
    assert (await move(database, ALICE, "resume")).slug == "intro"  # nothing opened yet: the start
    await move(database, ALICE, "next")
    await move(database, ALICE, "open", lesson="wrap-up", now=NOW + timedelta(minutes=1))
    await move(database, ALICE, "open", lesson="setup", now=NOW + timedelta(minutes=2))

    page = await move(database, ALICE, "resume", now=LATER)

    assert page.slug == "setup"
    assert (await move(database, ALICE, "next", now=LATER)).slug == "check"


async def test_a_quiz_passed_without_opening_it_is_not_where_you_resume(database: Database) -> None:
    await tiny_course_with_alice(database)

    await complete(database, ALICE, "TINY", "check")

    assert (await move(database, ALICE, "next")).slug == "intro"
    assert (await move(database, ALICE, "resume")).slug == "intro"


async def test_draft_only_and_removed_items_are_not_in_the_outline(database: Database) -> None:
    await tiny_course_with_alice(database)
    package = tiny_package()
    start, finish = package.modules
    with_draft = package.model_copy(
        update={"modules": (start.model_copy(update={"items": (lesson("draft-only"), *start.items)}), finish)}
    )
    await import_course(database, with_draft, publish=False)
    await import_course(database, without_item(with_draft, "setup"), publish=False, now=LATER)

    walked = [(await move(database, ALICE, "next")).slug for _ in range(3)]

    assert walked == ["intro", "check", "wrap-up"]
    assert await outline(database) == walked
    assert per_module(await progress(database)) == [("Start", 1, 1), ("Finish", 0, 2)]  # the quiz is not passed
    with pytest.raises(NotFound):
        await move(database, ALICE, "open", lesson="draft-only")
    with pytest.raises(NotFound):
        await move(database, ALICE, "open", lesson="setup")


async def test_a_course_without_published_items_says_so(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package())
    await enroll(database, ALICE, "TINY")
    await import_course(database, tiny_package(modules=()), now=LATER)

    with pytest.raises(NothingToRead, match="no published lessons yet"):
        await move(database, ALICE, "next")
    assert (await progress(database)).modules == []


async def test_progress_counts_each_module_apart_even_when_titles_repeat(database: Database) -> None:
    modules = (
        ModuleSpec(slug="one", title="Practice", items=(lesson("a"), lesson("b"))),
        ModuleSpec(slug="two", title="Practice", items=(lesson("c"), quiz("d"))),
    )
    await tiny_course_with_alice(database, modules=modules)
    for _ in range(4):
        await move(database, ALICE, "next")

    assert per_module(await progress(database)) == [("Practice", 2, 2), ("Practice", 1, 2)]


async def test_students_who_are_not_enrolled_are_told_how_to_join(database: Database) -> None:
    await tiny_course_with_alice(database)
    await import_course(database, tiny_package("AWAY"), guild_id=OTHER_GUILD)

    with pytest.raises(NotEnrolled, match="not enrolled in TINY"):
        await move(database, BOB, "next", code="tiny")
    with pytest.raises(NotEnrolled, match="in any course"):
        await progress(database, BOB, code=None)
    with pytest.raises(NotEnrolled):
        await outline(database, "AWAY")
    assert (await move(database, ALICE, "next", code=None)).course_code == "TINY"


async def test_a_lesson_of_another_course_names_that_course_and_whether_to_enroll(database: Database) -> None:
    await tiny_course_with_alice(database)
    extra = ModuleSpec(slug="more", title="More", items=(lesson("deep-dive"),))
    await import_course(database, tiny_package("DEEP", modules=(extra,)))

    with pytest.raises(LessonInAnotherCourse, match="`deep-dive` is a lesson of DEEP, which you are not enrolled in"):
        await move(database, ALICE, "open", lesson="deep-dive")
    await enroll(database, ALICE, "DEEP", now=LATER)
    await enroll(database, BOB, "TINY", now=LATER)
    await enroll(database, BOB, "DEEP", now=NOW)  # Bob's newest enrollment, the default course, is TINY

    assert (await move(database, ALICE, "open", lesson="deep-dive")).course_code == "DEEP"
    with pytest.raises(LessonInAnotherCourse, match="open it with `/lesson open course:DEEP`"):
        await move(database, BOB, "open", lesson="deep-dive")
    with pytest.raises(NotFound, match="`nowhere`"):
        await move(database, BOB, "open", lesson="nowhere")


async def test_next_costs_three_statements(database: Database) -> None:
    await tiny_course_with_alice(database)
    await move(database, ALICE, "next")
    with counted_statements(database) as statements:
        page = await move(database, ALICE, "next")

    assert page.slug == "setup"
    assert len(statements) <= 3, "\n\n".join(statements)
    assert (await progress(database)).done == 1


async def test_the_lesson_opened_last_skips_quizzes_and_is_none_before_the_first(database: Database) -> None:
    await tiny_course_with_alice(database)

    async def opened_last() -> navigation.OpenedLesson | None:
        async with database.session_scope() as session:
            active = await enrollment.active_enrollment(session, guild_id=GUILD, user_id=ALICE, course_code="TINY")
            return await navigation.last_opened_lesson(session, active, user_id=ALICE)

    assert await opened_last() is None
    await complete(database, ALICE, "TINY", "check")  # a quiz passed is not a lesson opened
    assert await opened_last() is None
    intro = await move(database, ALICE, "next")
    assert await opened_last() == navigation.OpenedLesson(intro.item_id, "Intro")
    setup = await move(database, ALICE, "next", now=LATER)
    assert (await move(database, ALICE, "next", now=LATER + timedelta(minutes=1))).slug == "check"
    assert await opened_last() == navigation.OpenedLesson(setup.item_id, "Setup")
