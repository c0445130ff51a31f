"""Issue 17's walk-through in the console: a student takes the sample quiz and misses a question, moves the clock
three days, and `/review` brings the missed question back first; `/practice` picks the weakest open concept."""

from __future__ import annotations

import re

import pytest

from db.session import Database
from tests.e2e.conftest import ConsoleSession
from tests.e2e.test_console_quiz import OPTION, questions, right_letters


async def choose(console: ConsoleSession, shown: str, letters: list[str]) -> str:
    """Answer the question (or card) printed with the options `letters`: on a multi-select one each is toggled,
    then Submit; otherwise the one option's button."""
    choices = console.buttons(shown)
    if "Submit" in choices:
        for letter in letters:
            await console.run(str(choices[letter]))
        return await console.run(str(choices["Submit"]))
    return await console.run(str(choices[letters[0]]))


# The walk-through shows the console; tests/cogs/test_review.py and tests/services run every flow on both backends.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_missed_question_comes_back_after_the_clock_moves(console: ConsoleSession, database: Database) -> None:
    known = await questions(database)
    await console.run("/course enroll course:PY101")
    shown = await console.run("/quiz start quiz:first-steps-check")
    missed = next(question.text for question in known if question.text in shown)
    for number in range(5):
        letters = right_letters(shown, known)
        if number == 0:  # the first question: a wrong option
            letters = [next(letter for letter, _ in OPTION.findall(shown) if letter not in letters)]
        shown = await choose(console, shown, letters)
    assert "First steps check" in shown and "Score **" in shown

    assert "Nothing to review in PY101 today" in await console.run("/review")
    await console.run("clock +3d")
    review = await console.run("/review")
    assert re.search(r"Review · card 1 of 5 due today", review), review
    assert missed in review  # the question answered wrong is the oldest due
    answered = await choose(console, review, right_letters(review, known))
    assert "✅ Right!" in answered and "Review · card 2" in answered

    practice = await console.run("/practice")
    # Which concept depends on the question missed (the quiz's order is shuffled): one whose prerequisites are met.
    assert "Practice · " in practice and "your weakest open concept" in practice
    streak = await console.run("/streak")
    assert "Due today: **4**" in streak
