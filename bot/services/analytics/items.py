"""Quiz item analysis as Moodle's quiz statistics report defines it, from every student's first submitted attempt.

- Facility index: the share of the question's available marks first attempts scored, as a percent.
- Discrimination index: the correlation (times 100) between the question's score and the score on the rest of the
  quiz (the attempt's total minus this question), so a question does not correlate with itself.
- The most chosen wrong answer, from every submitted attempt.
- A question looks broken when almost nobody or almost everybody gets it right, or when its discrimination is
  negative (stronger students get it wrong more often than weaker ones: a wrong key, an ambiguous stem).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from bot.services import published
from db.models import AttemptStatus, ContentItem, ContentKind, ContentRevision, Question, QuestionAnswer, QuizAttempt
from db.models.analytics import WHOLE_COURSE

# A facility at or below / at or above these percents marks a question to look at (Moodle colours the same ends).
FACILITY_TOO_LOW = 10.0
FACILITY_TOO_HIGH = 95.0


@dataclass(frozen=True, slots=True)
class ItemStatistics:
    position: int
    text: str
    first_attempts: int
    facility: float | None  # percent; None when nobody answered it on a first attempt
    discrimination: float | None  # -100..100; None when the question or the rest of the quiz did not vary
    wrong_answer: str | None  # the most chosen wrong answer's option text(s)
    wrong_answer_count: int

    @property
    def flags(self) -> list[str]:
        found = []
        if self.facility is not None and self.facility <= FACILITY_TOO_LOW:
            found.append("almost nobody gets it right")
        if self.facility is not None and self.facility >= FACILITY_TOO_HIGH:
            found.append("almost everybody gets it right")
        if self.discrimination is not None and self.discrimination < 0:
            found.append("weaker students do better than stronger ones")
        return found


@dataclass(frozen=True, slots=True)
class QuizStatistics:
    title: str
    first_attempts: int
    mean_score: float | None  # percent, first attempts
    items: list[ItemStatistics]


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None when either side does not vary."""
    count = len(xs)
    if count < 2:
        return None
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    spread_x = math.sqrt(sum((x - mean_x) ** 2 for x in xs))
    spread_y = math.sqrt(sum((y - mean_y) ** 2 for y in ys))
    if spread_x == 0 or spread_y == 0:
        return None
    return covariance / (spread_x * spread_y)


async def quiz_statistics(
    session: AsyncSession, *, course_id: int, item_id: int, offering_id: int = WHOLE_COURSE
) -> QuizStatistics:
    """Item analysis of one published quiz of the course (of one cohort's attempts, or all)."""
    title = await session.scalar(
        published.items(course_id)
        .with_only_columns(ContentRevision.title)
        .where(ContentItem.id == item_id, ContentItem.kind == ContentKind.QUIZ)
    )
    if title is None:
        raise NotFound("quiz", str(item_id))
    attempts = select(QuizAttempt.id, QuizAttempt.attempt_number).where(
        QuizAttempt.item_id == item_id, QuizAttempt.status == AttemptStatus.SUBMITTED
    )
    if offering_id != WHOLE_COURSE:
        attempts = attempts.where(QuizAttempt.offering_id == offering_id)
    attempts_cte = attempts.cte("attempts")
    rows = await session.execute(
        select(
            attempts_cte.c.id,
            attempts_cte.c.attempt_number,
            QuestionAnswer.question_id,
            QuestionAnswer.answer,
            QuestionAnswer.is_correct,
        ).join(QuestionAnswer, QuestionAnswer.attempt_id == attempts_cte.c.id)
    )
    questions = list(
        await session.scalars(
            select(Question).where(Question.item_id == item_id).order_by(Question.is_active.desc(), Question.position)
        )
    )
    return _analyse(title, questions, rows.all())


def _analyse(title: str, questions: list[Question], answers: Sequence[Any]) -> QuizStatistics:
    points = {question.id: question.points for question in questions}
    # attempt -> question -> marks earned, first attempts only (Moodle's default "first attempt" statistics)
    earned: defaultdict[int, dict[int, float]] = defaultdict(dict)
    wrong: defaultdict[int, Counter[tuple[int, ...]]] = defaultdict(Counter)
    for attempt_id, attempt_number, question_id, chosen, is_correct in answers:
        if attempt_number == 1:
            earned[attempt_id][question_id] = points.get(question_id, 1) if is_correct else 0.0
        if not is_correct:
            wrong[question_id][tuple(chosen)] += 1
    totals = {attempt: sum(marks.values()) for attempt, marks in earned.items()}
    possible = sum(points.get(question.id, 1) for question in questions if question.is_active) or 1
    asked = [question for question in questions if question.is_active or any(question.id in m for m in earned.values())]
    items = []
    for question in asked:
        answered = [attempt for attempt, marks in earned.items() if question.id in marks]
        scores = [earned[attempt][question.id] for attempt in answered]
        rest = [totals[attempt] - earned[attempt][question.id] for attempt in answered]
        value = points.get(question.id, 1) or 1
        facility = round(100 * sum(scores) / (value * len(scores)), 1) if scores else None
        r = correlation(scores, rest)
        most_wrong = wrong[question.id].most_common(1)
        items.append(
            ItemStatistics(
                position=question.position,
                text=question.text,
                first_attempts=len(scores),
                facility=facility,
                discrimination=round(100 * r, 1) if r is not None else None,
                wrong_answer=_options_text(question, most_wrong[0][0]) if most_wrong else None,
                wrong_answer_count=most_wrong[0][1] if most_wrong else 0,
            )
        )
    mean = round(100 * sum(totals.values()) / (possible * len(totals)), 1) if totals else None
    return QuizStatistics(title=title, first_attempts=len(totals), mean_score=mean, items=items)


def _options_text(question: Question, chosen: tuple[int, ...]) -> str:
    return " + ".join(str(question.options[index]) for index in chosen if 0 <= index < len(question.options))
