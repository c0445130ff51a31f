"""The quiz guard: what of a student's open quiz attempts stays out of the tutor's prompts.

While a student has an attempt IN_PROGRESS in a course, the tutor must not hand them the answers. `guard_for` says
what is kept out (the pure rule): every passage of the quizzes' own items, and any passage or earlier message that
quotes one of their questions, right options or explanations. `read_quiz_guard` is its query;
`in_progress_quizzes` is the one statement both it and the turn's opening read (`bot.tutor.sessions`) build on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tutor.retrieval import Passage
from db.models import AttemptStatus, CourseOffering, Question, QuizAttempt

# Quiz texts shorter than this ("7", "True") are too common to look for; longer ones are the giveaways.
GUARDED_TEXT_MIN_CHARS = 12


@dataclass(frozen=True, slots=True)
class QuizGuard:
    """What of the student's IN_PROGRESS quizzes must stay out of a prompt."""

    quiz_item_ids: frozenset[int]
    guarded_texts: tuple[str, ...]  # normalised question texts, right options and explanations

    @property
    def active(self) -> bool:
        return bool(self.quiz_item_ids)

    def allows(self, text: str) -> bool:
        normalised = _normalised(text)
        return not any(guarded in normalised for guarded in self.guarded_texts)

    def allows_passage(self, passage: Passage) -> bool:
        return passage.content_item_id not in self.quiz_item_ids and self.allows(f"{passage.title}\n{passage.content}")

    def shown(self, text: str, *, by_student: bool) -> str:
        """An earlier message as the prompt's history may show it: itself, or a placeholder in its place when it
        quotes the quiz, so the conversation keeps its turns (a student message, then an answer) in order."""
        if self.allows(text):
            return text
        return WITHHELD_STUDENT_MESSAGE if by_student else WITHHELD_ANSWER


NO_QUIZ = QuizGuard(frozenset(), ())
WITHHELD_STUDENT_MESSAGE = "(The student's message here is about the quiz they are taking now; it is left out.)"
WITHHELD_ANSWER = "(The answer here was about the quiz the student is taking now; it is left out.)"


def guard_for(quiz_item_ids: Collection[int], questions: Iterable[Question]) -> QuizGuard:
    """The guard while the quizzes `quiz_item_ids` are being taken; `questions` are theirs."""
    if not quiz_item_ids:
        return NO_QUIZ
    guarded: set[str] = set()
    for question in questions:
        right = [question.options[index] for index in question.answer if 0 <= index < len(question.options)]
        for text in (question.text, question.explanation, *map(str, right)):
            if len(_normalised(text)) >= GUARDED_TEXT_MIN_CHARS:
                guarded.add(_normalised(text))
    return QuizGuard(frozenset(quiz_item_ids), tuple(sorted(guarded)))


def in_progress_quizzes(user_id: int | ColumnElement[int], course_id: int | ColumnElement[Any]) -> Select[Any]:
    """The quiz items `user_id` has an attempt IN_PROGRESS of in an offering of `course_id` (values or columns)."""
    return (
        select(QuizAttempt.item_id)
        .join(CourseOffering, CourseOffering.id == QuizAttempt.offering_id)
        .where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.status == AttemptStatus.IN_PROGRESS,
            CourseOffering.course_id == course_id,
        )
    )


async def read_quiz_guard(session: AsyncSession, *, user_id: int, course_id: int | None) -> QuizGuard:
    """The guard for the student's quizzes IN_PROGRESS in the course (`NO_QUIZ` without a course)."""
    if course_id is None:
        return NO_QUIZ
    quiz_item_ids = frozenset(await session.scalars(in_progress_quizzes(user_id, course_id)))
    if not quiz_item_ids:
        return NO_QUIZ
    # Inactive questions too: an attempt keeps pointing at the questions it was started with.
    questions = await session.scalars(select(Question).where(Question.item_id.in_(quiz_item_ids)))
    return guard_for(quiz_item_ids, questions)


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()
