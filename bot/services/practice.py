"""Adaptive practice: the next question to practise, chosen from the student's concept mastery.

The choice (docs/reviews.md):

1. A concept is open when every concept it REQUIRES is MASTERED (RECOMMENDED and OPTIONAL ones never block).
2. Among the open concepts with questions, the weakest is practised: not mastered before mastered, then the
   lowest confidence (a concept never answered counts as 0), then the course's concept order.
3. Within the concept, questions the student never answered come first, then those they last got wrong, then the
   one longest due; the question just answered is not asked again straight away.

With a concept named, the student drills that one; if a concept it requires is not mastered yet, they are told
which to practise first. Answers go through `bot.services.reviews.answer` (`practice=True`): they reschedule the
question's review card and count for mastery, the streak and the capped review XP like a review.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import CourseError, NotFound
from bot.services import published
from bot.services.enrollment import active_enrollment
from bot.services.reviews import ReviewQuestion, review_question
from db.models import (
    Concept,
    ConceptDependency,
    ConceptMastery,
    ContentItem,
    DependencyStrength,
    MasteryLevel,
    Question,
    ReviewCard,
)


class PracticeLocked(CourseError):
    def __init__(self, concept: str, first: list[str]) -> None:
        names = ", ".join(f"**{name}**" for name in first)
        super().__init__(f"**{concept}** builds on {names}: practise that first (`/practice` picks for you).")


class NothingToPractise(CourseError):
    def __init__(self, concept: str | None = None) -> None:
        where = f"**{concept}** has" if concept else "This course has"
        super().__init__(f"{where} no quiz questions to practise yet.")


@dataclass(frozen=True, slots=True)
class ConceptStanding:
    concept_id: int
    slug: str
    name: str
    level: MasteryLevel
    confidence: float
    questions: int
    requires: tuple[int, ...]  # REQUIRED prerequisites' ids


@dataclass(frozen=True, slots=True)
class PracticePick:
    course_code: str | None
    concept_id: int
    concept_name: str
    level: MasteryLevel
    drilled: bool  # the student named the concept
    question: ReviewQuestion


async def standings(session: AsyncSession, *, user_id: int, course_id: int) -> list[ConceptStanding]:
    """Every concept of the course with the student's mastery, its question count and what it requires."""
    quiz_items = published.quizzes(course_id, ContentItem.id)
    counts = (
        select(Question.concept_id, func.count().label("questions"))
        .where(Question.is_active.is_(True), Question.item_id.in_(quiz_items))
        .group_by(Question.concept_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Concept.id, Concept.slug, Concept.name, ConceptMastery.level, ConceptMastery.confidence, counts.c.questions
        )
        .outerjoin(ConceptMastery, (ConceptMastery.concept_id == Concept.id) & (ConceptMastery.user_id == user_id))
        .outerjoin(counts, counts.c.concept_id == Concept.id)
        .where(Concept.course_id == course_id)
        .order_by(Concept.id)
    )
    concepts = rows.all()
    requires: dict[int, list[int]] = {concept_id: [] for concept_id, *_ in concepts}
    for concept_id, depends_on in await session.execute(
        select(ConceptDependency.concept_id, ConceptDependency.depends_on_id).where(
            ConceptDependency.concept_id.in_(requires), ConceptDependency.strength == DependencyStrength.REQUIRED
        )
    ):
        requires[concept_id].append(depends_on)
    return [
        ConceptStanding(
            concept_id,
            slug,
            name,
            level or MasteryLevel.NOT_STARTED,
            confidence or 0.0,
            questions or 0,
            tuple(requires[concept_id]),
        )
        for concept_id, slug, name, level, confidence, questions in concepts
    ]


def locked_by(concept: ConceptStanding, by_id: dict[int, ConceptStanding]) -> list[ConceptStanding]:
    """The REQUIRED prerequisites of `concept` the student has not mastered."""
    return [by_id[other] for other in concept.requires if by_id[other].level is not MasteryLevel.MASTERED]


def weakest_open(concepts: list[ConceptStanding]) -> ConceptStanding | None:
    """The concept to practise: the weakest open one with questions (module docstring, rules 1 and 2)."""
    by_id = {concept.concept_id: concept for concept in concepts}
    open_concepts = [concept for concept in concepts if concept.questions and not locked_by(concept, by_id)]
    if not open_concepts:
        return None
    return min(
        open_concepts,
        key=lambda concept: (concept.level is MasteryLevel.MASTERED, concept.confidence, concept.concept_id),
    )


async def next_question(
    session: AsyncSession,
    *,
    user_id: int,
    course_id: int,
    concept_id: int | None,
    exclude: int | None,
    number: int,
    course_code: str | None = None,
) -> PracticePick | None:
    """The next practice question: of `concept_id` when the student drills one, else of the weakest open concept.
    None when there is nothing to practise (no open concept, or the concept has no questions left)."""
    concepts = await standings(session, user_id=user_id, course_id=course_id)
    by_id = {concept.concept_id: concept for concept in concepts}
    chosen = weakest_open(concepts) if concept_id is None else by_id.get(concept_id)
    if chosen is None:
        return None
    quiz_items = published.quizzes(course_id, ContentItem.id)
    rows = (
        await session.execute(
            select(Question, ReviewCard.reps, ReviewCard.last_rating, ReviewCard.due)
            .outerjoin(ReviewCard, (ReviewCard.question_id == Question.id) & (ReviewCard.user_id == user_id))
            .where(
                Question.concept_id == chosen.concept_id,
                Question.is_active.is_(True),
                Question.item_id.in_(quiz_items),
                or_(ReviewCard.id.is_(None), ReviewCard.retired_at.is_(None)),
            )
            .order_by(Question.item_id, Question.position)
        )
    ).all()
    candidates = [row for row in rows if row[0].id != exclude] or rows
    if not candidates:
        return None
    # Never answered, then last answered wrong (rating 1), then the longest due; the outline order breaks ties.
    question, reps, _, _ = min(
        candidates,
        key=lambda row: (row[1] is not None, row[2] != 1, row[3].timestamp() if row[3] else 0.0),
    )
    return PracticePick(
        course_code=course_code,
        concept_id=chosen.concept_id,
        concept_name=chosen.name,
        level=chosen.level,
        drilled=concept_id is not None,
        question=review_question(question, owner_id=user_id, reps=reps or 0, number=number),
    )


async def start(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None, concept: str | None
) -> PracticePick:
    """Begin practice in the student's course: the weakest open concept, or the named one (slug or name)."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    concept_id = None
    if concept:
        concepts = await standings(session, user_id=user_id, course_id=enrollment.course_id)
        wanted = concept.strip().casefold()
        named = next((c for c in concepts if wanted in (c.slug.casefold(), c.name.casefold())), None)
        if named is None:
            raise NotFound("concept", concept)
        blocking = locked_by(named, {c.concept_id: c for c in concepts})
        if blocking:
            raise PracticeLocked(named.name, [c.name for c in blocking])
        if not named.questions:
            raise NothingToPractise(named.name)
        concept_id = named.concept_id
    pick = await next_question(
        session,
        user_id=user_id,
        course_id=enrollment.course_id,
        concept_id=concept_id,
        exclude=None,
        number=1,
        course_code=enrollment.course_code,
    )
    if pick is None:
        raise NothingToPractise()
    return pick


async def mastery_bars(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None
) -> list[ConceptStanding]:
    """The concepts of the student's course (their latest without a code) with their mastery, for `/course progress`."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    return await standings(session, user_id=user_id, course_id=enrollment.course_id)
