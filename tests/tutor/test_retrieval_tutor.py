"""The tutor with no model server: questions embedded in process, the open lesson preferred, sources citing lesson and
section."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.clock import FixedClock
from bot.config import Settings
from bot.tutor import materials
from bot.tutor.embeddings import local_embedder
from bot.tutor.tutor import Tutor
from db.session import Database
from tests.tutor.conftest import STUDENT, CourseRows, open_session_in
from tests.tutor.documents import LOOPS

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
THREAD = 9_000_000_000_000_002
# The same text under two lessons: only the preference for the open one can tell them apart.
LESSONS = ("Loops", "Repetition")


@pytest.fixture
async def tutor(database: Database, settings: Settings, course: CourseRows) -> AsyncIterator[Tutor]:
    """A Tutor with no chat or embedding model configured, on a course whose two lessons are indexed."""
    settings.llm.chat_model = ""
    for lesson_id, title in zip(course.lesson_ids, LESSONS, strict=True):
        await materials.index_lesson(
            database,
            course_id=course.id,
            content_item_id=lesson_id,
            title=title,
            markdown=LOOPS.replace("# Loops", f"# {title}\n\n## Counting rounds"),
            llm=local_embedder(),
        )
    tutor = Tutor(database, settings, FixedClock(NOW))
    yield tutor
    await tutor.aclose()


@pytest.mark.parametrize("open_lesson", [0, 1])
async def test_the_open_lesson_is_cited_first_with_its_section(
    tutor: Tutor, database: Database, course: CourseRows, open_lesson: int
) -> None:
    async with database.session_scope() as session:
        await open_session_in(session, course, thread_id=THREAD, now=NOW, lesson=open_lesson)

    turn = await tutor.answer(thread_id=THREAD, user_id=STUDENT, text="how many times does my loop go round")
    answer = await turn.finish()

    [first, *_] = answer.sources
    assert first.title == f"{LESSONS[open_lesson]} > Counting rounds"
