"""Concept mastery: how sure we are that a student knows a concept, updated from every answer they give.

The rule (docs/reviews.md explains it):

- `confidence` weighs recent answers most: the first answer sets it (1 right, 0 wrong), and each later answer moves
  it `RECENCY_WEIGHT` of the way towards its own value. Three right answers after a wrong one make 0.78, a fourth
  0.87: old mistakes fade, and one slip does not erase a long run of right answers.
- `level` is IN_PROGRESS from the first answer on, and MASTERED while the concept has at least
  `MASTERY_MIN_ATTEMPTS` answers and `confidence` is at least `MASTERY_CONFIDENCE`.

Quizzes, reviews and practice all record through `record_answer`, in the same unit of work as the answer (by way of
`count_answer`, which also counts the student's study day).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.services import streaks
from db.models import ConceptMastery, MasteryLevel, Question, Streak
from db.session import dialect_insert

RECENCY_WEIGHT = 0.4
MASTERY_MIN_ATTEMPTS = 3
MASTERY_CONFIDENCE = 0.8


def next_confidence(confidence: float | None, *, correct: bool) -> float:
    """The confidence after one more answer (None: the concept's first)."""
    value = 1.0 if correct else 0.0
    return value if confidence is None else confidence + RECENCY_WEIGHT * (value - confidence)


def is_mastered(*, attempts: int, confidence: float) -> bool:
    return attempts >= MASTERY_MIN_ATTEMPTS and confidence >= MASTERY_CONFIDENCE


async def record_answer(session: AsyncSession, *, user_id: int, concept_id: int, correct: bool, now: datetime) -> None:
    """Count one answer on the concept: one upsert, safe under concurrent answers (the row is updated in place)."""
    value = 1.0 if correct else 0.0
    attempts = ConceptMastery.attempt_count + 1
    # Clamped: float rounding must never step outside the table's 0..1 check.
    moved = ConceptMastery.confidence + RECENCY_WEIGHT * (value - ConceptMastery.confidence)
    confidence = case((moved > 1.0, 1.0), (moved < 0.0, 0.0), else_=moved)
    mastered = (attempts >= MASTERY_MIN_ATTEMPTS) & (confidence >= MASTERY_CONFIDENCE)
    await session.execute(
        dialect_insert(session, ConceptMastery)
        .values(
            user_id=user_id,
            concept_id=concept_id,
            level=MasteryLevel.IN_PROGRESS,
            confidence=value,
            correct_count=int(correct),
            attempt_count=1,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[ConceptMastery.user_id, ConceptMastery.concept_id],
            set_={
                "attempt_count": attempts,
                "correct_count": ConceptMastery.correct_count + int(correct),
                "confidence": confidence,
                "level": case((mastered, MasteryLevel.MASTERED.value), else_=MasteryLevel.IN_PROGRESS.value),
                "updated_at": now,
            },
        )
    )


async def count_answer(
    session: AsyncSession,
    *,
    question: Question,
    correct: bool,
    user_id: int,
    guild_id: int,
    user_zone: str,
    streak: Streak | None,
    now: datetime,
    settings: Settings,
) -> None:
    """What an answer counts for beyond its card, in a quiz and a review alike: the question's concept mastery and a
    study day. `streak` is the student's streak row as the caller read it (None: they have none yet)."""
    if question.concept_id is not None:
        await record_answer(session, user_id=user_id, concept_id=question.concept_id, correct=correct, now=now)
    await streaks.record_study(
        session,
        user_id=user_id,
        guild_id=guild_id,
        at=now,
        time_zone=user_zone,
        settings=settings,
        seen=streaks.StreakState.of(streak),
    )
