"""Grading one answer to a choice question, and what the student is shown about it: the same for a quiz question and
a review or practice card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import NotAnOption
from db.models import Question


@dataclass(frozen=True, slots=True)
class AnswerFeedback:
    """What the student is shown about their answer; the result of a quiz answer or a review extends it."""

    question_text: str  # the question answered, as asked (all of it, every line)
    correct: bool
    explanation: str
    right_options: list[str]
    chosen_options: list[str]


def grade(question: Question, choice: Sequence[int]) -> tuple[list[int], bool]:
    """The chosen option indexes (sorted, once each) and whether they are the right answer.

    No choice, or one naming no option of the question, is a forged button: refused with `NotAnOption`, since such an
    answer would break the question's review."""
    chosen = sorted(set(choice))
    if not chosen or not all(0 <= index < len(question.options) for index in chosen):
        raise NotAnOption()
    return chosen, chosen == sorted(question.answer)


def feedback(question: Question, chosen: Sequence[int], *, correct: bool) -> AnswerFeedback:
    return AnswerFeedback(
        question_text=question.text,
        correct=correct,
        explanation=question.explanation,
        right_options=[question.options[index] for index in question.answer],
        chosen_options=[question.options[index] for index in chosen],
    )
