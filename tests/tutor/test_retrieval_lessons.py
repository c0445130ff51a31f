"""Lessons are ranked as well as passages: a lesson's card (title, learning objectives) and its best passage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.tutor import materials, retrieval
from db.models import ContentRevision, RevisionVisibility
from db.session import Database
from tests.tutor.conftest import CourseRows
from tests.tutor.test_retrieval import upload

PUBLISHED = datetime(2026, 12, 1, tzinfo=UTC)

NAMING = """# Variables

## Rules

A name holds letters, digits and underscores, and never starts with a digit. Keywords are reserved.
"""

LISTS = """# Lists

## Reading items

`names = ["Ada", "Grace"]` keeps names in order: `names[0]` is the first of the names, `names[-1]` the last of
the names.
"""


async def publish(
    database: Database, *, course_id: int, item_id: int, title: str, body: str, objectives: list[str]
) -> materials.MaterialRecord:
    """The lesson published with its objectives, and indexed as publishing does."""
    async with database.session_scope() as session:
        session.add(
            ContentRevision(
                item_id=item_id,
                version=1,
                title=title,
                body=body,
                learning_objectives=objectives,
                visibility=RevisionVisibility.PUBLISHED,
                published_at=PUBLISHED,
            )
        )
    return await materials.index_lesson(
        database, course_id=course_id, content_item_id=item_id, title=title, markdown=body
    )


@pytest.mark.parametrize("card_weight", [0.0, retrieval.CARD_WEIGHT])
async def test_a_lessons_card_lifts_the_lesson_that_is_about_the_question(
    database: Database, course: CourseRows, card_weight: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    naming_lesson, lists_lesson = course.lesson_ids
    naming = await publish(
        database,
        course_id=course.id,
        item_id=naming_lesson,
        title="Variables",
        body=NAMING,
        objectives=["Choose clear, valid variable names"],
    )
    lists = await publish(
        database,
        course_id=course.id,
        item_id=lists_lesson,
        title="Lists",
        body=LISTS,
        objectives=["Read items by index and slice"],
    )
    monkeypatch.setattr(retrieval, "CARD_WEIGHT", card_weight)

    async with database.session_scope() as session:
        found = await retrieval.search(session, course_id=course.id, query="which names am i allowed to use for a name")

    # Without the card the passage that says "names" most leads; the card says which lesson is about names to use.
    assert [passage.material_id for passage in found] == (
        [naming.id, lists.id] if card_weight else [lists.id, naming.id]
    )


async def test_only_a_lessons_best_passage_gains_its_lessons_score(
    database: Database, course: CourseRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = "# Loops\n\n" + "\n\n".join(f"## Part {n}\n\nA for loop repeats, part {n}." for n in range(4))
    await upload(database, course.id, "loops", document)
    await upload(database, course.id, "more-loops", document.replace("Loops", "More loops"))
    question = "how does a for loop repeat"

    async with database.session_scope() as session:
        with_lessons = await retrieval.search(session, course_id=course.id, query=question, k=50)
        monkeypatch.setattr(retrieval, "LESSON_WEIGHT", 0.0)
        passages_only = await retrieval.search(session, course_id=course.id, query=question, k=50)

    plain = {passage.chunk_id: passage.score for passage in passages_only}
    lifted = [passage.material_id for passage in with_lessons if passage.score > plain[passage.chunk_id]]
    assert len(with_lessons) == len(passages_only) == 8
    assert sorted(lifted) == sorted({passage.material_id for passage in passages_only})
