"""Adaptive practice on both databases: prerequisites gate concepts, the weakest open one is chosen, unseen and
missed questions come first, and mastery follows its documented rule."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.errors import NotFound
from bot.services import mastery, practice
from bot.services.coursepack import ConceptDependency, ConceptSpec, QuestionSpec
from db.models import ConceptMastery, MasteryLevel, Question
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    GUILD,
    NOW,
    answer_review,
    enroll,
    import_course,
    replace_item,
    seed_people,
    tiny_package,
)

# A chain: basics ← loops ← recursion (REQUIRED), and style merely RECOMMENDS basics.
CONCEPTS = (
    ConceptSpec(slug="basics", name="Basics"),
    ConceptSpec(slug="loops", name="Loops", depends_on=(ConceptDependency(concept="basics"),)),
    ConceptSpec(slug="recursion", name="Recursion", depends_on=(ConceptDependency(concept="loops"),)),
    ConceptSpec(slug="style", name="Style", depends_on=(ConceptDependency(concept="basics", strength="RECOMMENDED"),)),
)
QUESTIONS = tuple(
    QuestionSpec(type="MULTIPLE_CHOICE", text=text, options=("right", "wrong"), answer=0, concept=concept)
    for text, concept in [
        ("B1", "basics"),
        ("B2", "basics"),
        ("L1", "loops"),
        ("R1", "recursion"),
        ("S1", "style"),
    ]
)


@pytest.fixture
async def chain(database: Database) -> Database:
    await seed_people(database)
    package = replace_item(tiny_package(concepts=CONCEPTS), "check", questions=QUESTIONS)
    await import_course(database, package)
    await enroll(database, ALICE, "TINY")
    return database


async def pick(database: Database, concept: str | None = None) -> practice.PracticePick:
    async with database.session_scope() as session:
        return await practice.start(session, guild_id=GUILD, user_id=ALICE, course_code=None, concept=concept)


async def text_of(database: Database, chosen: practice.PracticePick) -> str:
    async with database.session_scope() as session:
        question = await session.get(Question, chosen.question.question_id)
        assert question is not None
        return question.text


async def practise(database: Database, settings: Settings, chosen: practice.PracticePick, *, right: bool) -> None:
    question = chosen.question
    await answer_review(
        database, settings, question.question_id, right=right, now=NOW, reps=question.reps, practice=True
    )


async def test_only_concepts_whose_required_prerequisites_are_mastered_are_practised(
    chain: Database, settings: Settings
) -> None:
    first = await pick(chain)
    assert first.concept_name == "Basics" and not first.drilled  # Style is open too, but comes later in the course
    with pytest.raises(practice.PracticeLocked, match=r"\*\*Recursion\*\* builds on \*\*Loops\*\*"):
        await pick(chain, "recursion")
    with pytest.raises(practice.PracticeLocked, match=r"builds on \*\*Basics\*\*"):
        await pick(chain, "Loops")
    assert (await pick(chain, "style")).drilled  # a RECOMMENDED prerequisite never blocks
    for _ in range(3):
        chosen = await pick(chain, "basics")
        await practise(chain, settings, chosen, right=True)
    async with chain.session_scope() as session:
        level = await session.scalar(select(ConceptMastery.level).where(ConceptMastery.user_id == ALICE))
    assert level is MasteryLevel.MASTERED
    assert (await pick(chain)).concept_name == "Loops"  # Basics is mastered; Loops is open now and weakest
    assert (await pick(chain, "loops")).drilled
    with pytest.raises(practice.PracticeLocked):
        await pick(chain, "recursion")


async def test_unseen_questions_come_first_then_those_got_wrong(chain: Database, settings: Settings) -> None:
    first = await pick(chain, "basics")
    assert await text_of(chain, first) == "B1"
    await practise(chain, settings, first, right=False)
    second = await pick(chain, "basics")
    assert await text_of(chain, second) == "B2"  # never seen beats got wrong
    await practise(chain, settings, second, right=True)
    third = await pick(chain, "basics")
    assert await text_of(chain, third) == "B1" and third.question.reps == 1  # got wrong beats got right
    async with chain.session_scope() as session:
        after_b1 = await practice.next_question(
            session,
            user_id=ALICE,
            course_id=1,
            concept_id=third.concept_id,
            exclude=third.question.question_id,
            number=2,
        )
    assert (
        after_b1 is not None and await text_of(chain, after_b1) == "B2"
    )  # the question just answered is not asked straight again


async def test_a_concept_with_no_such_name_is_not_found(chain: Database) -> None:
    with pytest.raises(NotFound):
        await pick(chain, "nope")


def test_mastery_weighs_recent_answers() -> None:
    confidence = None
    history = []
    for right in [False, True, True, True, True]:
        confidence = mastery.next_confidence(confidence, correct=right)
        history.append(round(confidence, 3))
    assert history == [0.0, 0.4, 0.64, 0.784, 0.87]
    assert not mastery.is_mastered(attempts=4, confidence=0.784)
    assert mastery.is_mastered(attempts=5, confidence=0.87)
    assert not mastery.is_mastered(attempts=2, confidence=1.0)  # two right answers are not enough
