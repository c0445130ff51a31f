"""Issue 5's walk-through in the console: a student takes a sample-course quiz with the numbered buttons, sees
feedback and results, gains the XP shown (once), and sees the streak and the leaderboard with their own rank."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from bot.sandbox import DiscordSandbox
from bot.sandbox.console import Console, first_start
from db.models import Question
from db.session import Database

SAMPLE = Path(__file__).resolve().parent.parent.parent / "content" / "python-basics"
BUTTON = re.compile(r"\[(\d+): ([^\]]+)\]")
OPTION = re.compile(r"^\*\*([A-Z])\.\*\* (.*)$", re.MULTILINE)


class Transcript:
    """What the console printed, block by block."""

    def __init__(self) -> None:
        self.blocks: list[str] = []

    def write(self, text: str) -> None:
        self.blocks.append(text)

    def since(self, start: int) -> str:
        return "\n".join(self.blocks[start:])


@pytest.fixture
async def console(database: Database, settings: Settings) -> AsyncIterator[tuple[Console, Transcript]]:
    bot = CourseBot(settings, database=database, clock=FixedClock(datetime(2026, 11, 23, 10, tzinfo=UTC)))
    sandbox = DiscordSandbox(bot, timeout=30.0)
    await sandbox.start()
    transcript = Transcript()
    console = Console(sandbox, acting_as="student", write=transcript.write)
    try:
        await first_start(console, bot, SAMPLE)
        yield console, transcript
        sandbox.assert_no_errors()
    finally:
        await sandbox.close()


async def run(console: Console, transcript: Transcript, line: str) -> str:
    start = len(transcript.blocks)
    await console.handle(line)
    return transcript.since(start)


async def questions(database: Database) -> list[Question]:
    async with database.session_scope() as session:
        return list(await session.scalars(select(Question).where(Question.is_active.is_(True))))


def right_letters(shown: str, known: list[Question]) -> list[str]:
    """The letters of the right options of the question printed: the student "knows" the answers."""
    displayed = dict(OPTION.findall(shown))
    question = next(q for q in known if q.text in shown and sorted(q.options) == sorted(displayed.values()))
    right = [question.options[index] for index in question.answer]
    return [letter for letter, text in displayed.items() if text in right]


def buttons(shown: str) -> dict[str, int]:
    """The numbered buttons of the last message printed: label -> number."""
    last_row = [line for line in shown.splitlines() if BUTTON.search(line)][-1]
    return {label.removesuffix(" ✓"): int(number) for number, label in BUTTON.findall(last_row)}


async def test_a_student_takes_a_quiz_with_buttons_and_sees_xp_streak_and_rank(
    console: tuple[Console, Transcript], database: Database
) -> None:
    student, transcript = console
    known = await questions(database)
    await run(student, transcript, "/course enroll course:PY101")
    shown = await run(student, transcript, "/quiz start quiz:first-steps-check")
    feedback = []
    for _ in range(5):
        assert re.search(r"question \d/5", shown), shown
        choices, letters = buttons(shown), right_letters(shown, known)
        if "Submit" in choices:  # a multi-select question: choose the right options (they turn green), submit
            for letter in letters:
                toggled = await run(student, transcript, str(choices[letter]))
                assert f"[{choices[letter]}: {letter} ✓]" in toggled
            shown = await run(student, transcript, str(choices["Submit"]))
        else:
            shown = await run(student, transcript, str(choices[letters[0]]))
        assert "✅ Right!" in shown, shown
        feedback.append(shown)
    assert "First steps check: Passed 🎉" in shown, shown

    earned = sum(int(amount) for block in feedback for amount in re.findall(r"XP: \+(\d+)", block))
    assert earned > 0
    results = await run(student, transcript, "/quiz results")
    assert "First steps check · results" in results and "Attempt 1: **100%**, passed" in results
    assert results.count("✅") == 5

    streak = await run(student, transcript, "/streak")
    assert "🔥 1-day streak" in streak

    board = await run(student, transcript, "/leaderboard")
    # The XP on the board is exactly what the feedback showed: each award counted once.
    assert f"You: **#1** with {earned} XP" in board
