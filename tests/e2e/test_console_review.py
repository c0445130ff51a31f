"""Issue 17's walk-through in the console: a student takes the sample quiz and misses a question, moves the clock
three days, and `/review` brings the missed question back first; `/practice` picks the weakest open concept."""

from __future__ import annotations

import re

import pytest

from db.session import Database
from tests.e2e.conftest import ConsoleSession
from tests.e2e.test_console_quiz import OPTION, questions, right_letters


# The walk-through shows the console; tests/cogs/test_review.py and tests/services run every flow on both backends.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_missed_question_comes_back_after_the_clock_moves(console: ConsoleSession, database: Database) -> None:
    known = await questions(database)
    await console.run("/course enroll course:PY101")
    shown = await console.run("/quiz start quiz:first-steps-check")
    missed = next(question.text for question in known if question.text in shown)
    for number in range(5):
        choices, letters = console.buttons(shown), right_letters(shown, known)
        if number == 0:  # the first question: a wrong option
            letters = [next(letter for letter, _ in OPTION.findall(shown) if letter not in letters)]
        if "Submit" in choices:
            for letter in letters:
                await console.run(str(choices[letter]))
            shown = await console.run(str(choices["Submit"]))
        else:
            shown = await console.run(str(choices[letters[0]]))
    assert "First steps check" in shown and "Score **" in shown

    assert "Nothing to review in PY101 today" in await console.run("/review")
    await console.run("clock +3d")
    review = await console.run("/review")
    assert re.search(r"Review · card 1 of 5 due today", review), review
    assert missed in review  # the question answered wrong is the oldest due
    letters = right_letters(review, known)
    choices = console.buttons(review)
    if "Submit" in choices:
        for letter in letters:
            await console.run(str(choices[letter]))
        answered = await console.run(str(choices["Submit"]))
    else:
        answered = await console.run(str(choices[letters[0]]))
    assert "✅ Right!" in answered and "Review · card 2" in answered

    practice = await console.run("/practice")
    # Which concept depends on the question missed (the quiz's order is shuffled): one whose prerequisites are met.
    assert "Practice · " in practice and "your weakest open concept" in practice
    streak = await console.run("/streak")
    assert "Due today: **4**" in streak
