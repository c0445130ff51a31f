"""Quizzes through real discord.py parsing: answer buttons, exactly-once answers, restarts, XP and boards."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from bot.app import CourseBot
from db.models import Question, QuestionAnswer, QuizAttempt, XPEvent
from db.session import Database
from sandbox import DiscordSandbox, Reply


@pytest.fixture
async def student_in_course(classroom: DiscordSandbox) -> DiscordSandbox:
    await classroom.slash("course enroll", course="PY101")
    return classroom


def question_number(reply: Reply) -> str:
    return reply.embeds[-1]["title"].rsplit("question ", 1)[-1]


async def ready_to_answer(sandbox: DiscordSandbox, question: Reply) -> tuple[Reply, str]:
    """The message and the button that answer "A": the A button itself, or on a multi-select question
    (questions are shuffled) A toggled on and then Submit."""
    if "Submit" in [component.label for component in question.components]:
        return await sandbox.click(question, "A"), "Submit"
    return question, "A"


async def answer_a(sandbox: DiscordSandbox, question: Reply) -> Reply:
    message, button = await ready_to_answer(sandbox, question)
    return await sandbox.click(message, button)


async def answer_correctly(sandbox: DiscordSandbox, database: Database, question: Reply) -> Reply:
    """Press the right option(s), read from the database, as a student who knows the answers."""
    custom_ids = [component.custom_id or "" for component in question.components]
    question_id = int(custom_ids[0].split(":")[2])
    async with database.session_scope() as session:
        right = (await session.get(Question, question_id)).answer  # type: ignore[union-attr]
    if any(custom_id.endswith(":submit") for custom_id in custom_ids):
        message = question
        for option in right:
            message = await sandbox.click(message, f"quiz:{custom_ids[0].split(':')[1]}:{question_id}:t{option}")
        return await sandbox.click(message, "Submit")
    return await sandbox.click(question, f"quiz:{custom_ids[0].split(':')[1]}:{question_id}:{right[0]}")


async def answer_everything(sandbox: DiscordSandbox, first: Reply) -> Reply:
    """Answer A to every question; returns the final summary."""
    current = first
    while "question" in current.embeds[-1]["title"]:
        current = await answer_a(sandbox, current)
    return current


async def test_a_student_takes_a_quiz_to_the_end_and_reviews_it(student_in_course: DiscordSandbox) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    assert first.ephemeral and question_number(first) == "1/5"
    summary = await answer_everything(student_in_course, first)
    assert "Score" in summary.text and "passes" in summary.text
    review = await student_in_course.slash("quiz results")
    assert "Attempt 1" in review.text and review.text.count("Right:") == 5


async def test_feedback_shows_the_explanation_and_right_answer(student_in_course: DiscordSandbox) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    answered = await answer_a(student_in_course, first)
    feedback = answered.messages[0]
    assert ("Right!" in feedback.text) or ("Not quite" in feedback.text and "Right answer" in feedback.text)
    assert "Why" in feedback.text
    assert not feedback.components  # the answered question's buttons are gone


def refusals(sandbox: DiscordSandbox) -> list[object]:
    """Follow-ups telling the student their press was a repeat."""
    return [call for call in sandbox.http.calls if "already answered" in json.dumps(call.json or {})]


async def test_fifty_concurrent_presses_record_one_answer(
    student_in_course: DiscordSandbox, database: Database
) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    message, button = await ready_to_answer(student_in_course, first)
    await asyncio.gather(*(student_in_course.click(message, button) for _ in range(50)))
    # Presses are acknowledged at once and answered after the database; wait for all 49 refusals to arrive.
    async with asyncio.timeout(20):
        while len(refusals(student_in_course)) < 49:
            await student_in_course.http.activity()
    assert len(refusals(student_in_course)) == 49
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(QuestionAnswer)) == 1
        xp_rows = await session.scalar(select(func.count()).select_from(XPEvent))
    assert xp_rows <= 1  # a right first answer earns once, a wrong one nothing


async def test_a_double_click_reaching_the_bot_at_once_is_acknowledged_twice_and_answered_once(
    student_in_course: DiscordSandbox, database: Database
) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    message, button = await ready_to_answer(student_in_course, first)
    replies = await student_in_course.click_many([(message, button, None)] * 2)
    # Both presses are acknowledged (Discord would show "interaction failed" otherwise), before any database work.
    assert [reply.response_type for reply in replies] == [6, 6]
    assert all(reply.acknowledged_after is not None and reply.acknowledged_after >= 0 for reply in replies)
    assert len(refusals(student_in_course)) == 1
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(QuestionAnswer)) == 1


async def test_buttons_keep_working_after_a_restart(
    student_in_course: DiscordSandbox,
    database: Database,
    settings,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    http = student_in_course.http
    await student_in_course.close()
    restarted = DiscordSandbox(CourseBot(settings, database=database, clock=clock), http=http)
    await restarted.start()
    try:
        answered = await answer_a(restarted, first)
        assert "question 2/5" in answered.text
        restarted.assert_no_errors()
    finally:
        await restarted.close()


async def test_a_quiz_resumes_where_it_was_left(student_in_course: DiscordSandbox, database: Database) -> None:
    first = await student_in_course.slash("quiz start", quiz="first-steps-check")
    await answer_a(student_in_course, first)
    resumed = await student_in_course.slash("quiz start", quiz="first-steps-check")
    assert question_number(resumed) == "2/5"
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(QuizAttempt)) == 1


async def test_a_perfect_run_earns_xp_once_and_shows_on_streak_and_board(
    student_in_course: DiscordSandbox, database: Database
) -> None:
    current = await student_in_course.slash("quiz start", quiz="first-steps-check")
    while "question" in current.embeds[-1]["title"]:
        current = await answer_correctly(student_in_course, database, current)
    assert "Passed" in current.text and "100%" in current.text and "+50" in current.text
    streak = await student_in_course.slash("streak")
    assert "1-day streak" in streak.text
    board = await student_in_course.slash("leaderboard", period="all")
    assert "You: **#1** with 75 XP" in board.text  # 5 questions x 5 XP + 50 for passing
    again = await student_in_course.slash("quiz start", quiz="first-steps-check")
    while "question" in again.embeds[-1]["title"]:
        again = await answer_correctly(student_in_course, database, again)
    board = await student_in_course.slash("leaderboard", period="all")
    assert "with 75 XP" in board.text  # a second perfect attempt earns nothing more


async def first_question(sandbox: DiscordSandbox) -> tuple[Reply, str, int, int]:
    """The first question, its A button (a tampered client can send an answer's custom_id from any button) and the
    attempt and question ids its custom_id holds."""
    first = await sandbox.slash("quiz start", quiz="first-steps-check")
    _, attempt, question, _ = first.components[0].custom_id.split(":")  # type: ignore[union-attr]
    return first, "A", int(attempt), int(question)


async def answers_stored(database: Database) -> int:
    async with database.session_scope() as session:
        return await session.scalar(select(func.count()).select_from(QuestionAnswer)) or 0


async def test_a_forged_option_is_refused_and_results_still_work(
    student_in_course: DiscordSandbox, database: Database
) -> None:
    message, button, attempt, question = await first_question(student_in_course)
    stored = await answers_stored(database)

    forged = await student_in_course.click(message, button, forged_custom_id=f"quiz:{attempt}:{question}:999")

    assert "isn't one of this question's options" in forged.text and "Unexpected" not in forged.text
    assert await answers_stored(database) == stored
    summary = await answer_everything(student_in_course, await student_in_course.slash("quiz start"))
    assert "Score" in summary.text
    review = await student_in_course.slash("quiz results")
    assert "Attempt" in review.text and "Unexpected" not in review.text


@pytest.mark.parametrize("big", [1_080_000_000_000_000_403, 10**30], ids=["snowflake", "past-64-bits"])
@pytest.mark.parametrize(
    "template", ["quiz:{big}:{question}:0", "quiz:{attempt}:{big}:0", "quiz:{attempt}:{question}:{big}"]
)
async def test_ids_out_of_range_in_a_custom_id_are_not_found(
    student_in_course: DiscordSandbox, database: Database, template: str, big: int
) -> None:
    message, button, attempt, question = await first_question(student_in_course)
    stored = await answers_stored(database)

    forged = await student_in_course.click(
        message, button, forged_custom_id=template.format(attempt=attempt, question=question, big=big)
    )

    assert forged.ephemeral and "Unexpected" not in forged.text
    assert "already finished" in forged.text or "isn't one of this question's options" in forged.text
    assert await answers_stored(database) == stored


async def test_ten_concurrent_starts_all_resume_the_one_attempt(
    student_in_course: DiscordSandbox, database: Database
) -> None:
    replies = await asyncio.gather(
        *(student_in_course.slash("quiz start", quiz="first-steps-check") for _ in range(10))
    )

    assert all("Unexpected" not in reply.text and question_number(reply) == "1/5" for reply in replies)
    assert len({reply.components[0].custom_id for reply in replies}) == 1  # the same attempt and question
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(QuizAttempt)) == 1
