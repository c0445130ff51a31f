"""Issue 5's walk-through in the console: a student takes a sample-course quiz with the numbered buttons, sees
feedback and results, gains the XP shown (once), and sees the streak and the leaderboard with their own rank."""

from __future__ import annotations

import re

from sqlalchemy import select

from db.models import Question
from db.session import Database
from tests.e2e.conftest import ConsoleSession

OPTION = re.compile(r"^\*\*([A-Z])\.\*\* (.*)$", re.MULTILINE)


async def questions(database: Database) -> list[Question]:
    async with database.session_scope() as session:
        return list(await session.scalars(select(Question).where(Question.is_active.is_(True))))


def right_letters(shown: str, known: list[Question]) -> list[str]:
    """The letters of the right options of the question printed: the student "knows" the answers."""
    displayed = dict(OPTION.findall(shown))
    question = next(q for q in known if q.text in shown and sorted(q.options) == sorted(displayed.values()))
    right = [question.options[index] for index in question.answer]
    return [letter for letter, text in displayed.items() if text in right]


async def test_a_student_takes_a_quiz_with_buttons_and_sees_xp_streak_and_rank(
    console: ConsoleSession, database: Database
) -> None:
    known = await questions(database)
    await console.run("/course enroll course:PY101")
    shown = await console.run("/quiz start quiz:first-steps-check")
    feedback = []
    for _ in range(5):
        assert re.search(r"question \d/5", shown), shown
        choices, letters = console.buttons(shown), right_letters(shown, known)
        if "Submit" in choices:  # a multi-select question: choose the right options (they turn green), submit
            for letter in letters:
                toggled = await console.run(str(choices[letter]))
                assert f"[{choices[letter]}: {letter} ✓]" in toggled
            shown = await console.run(str(choices["Submit"]))
        else:
            shown = await console.run(str(choices[letters[0]]))
        assert "✅ Right!" in shown, shown
        feedback.append(shown)
    assert "First steps check: Passed 🎉" in shown, shown

    earned = sum(int(amount) for block in feedback for amount in re.findall(r"XP: \+(\d+)", block))
    assert earned > 0
    results = await console.run("/quiz results")
    assert "First steps check · results" in results and "Attempt 1: **100%**, passed" in results
    assert results.count("✅") == 5

    streak = await console.run("/streak")
    assert "🔥 1-day streak" in streak

    board = await console.run("/leaderboard")
    # The XP on the board is exactly what the feedback showed: each award counted once.
    assert f"You: **#1** with {earned} XP" in board
