"""The quiz engine on both databases: fixed order per attempt, answers exactly once, scoring and rewards."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.errors import AlreadyAnswered, AttemptFinished, NotFound, NotYourQuiz, QuizUnavailable
from bot.services import quizzes, streaks
from bot.services.coursepack import QuestionSpec
from db.models import AttemptStatus, ConceptMastery, ContentProgress, MemberStats, QuestionAnswer, QuizAttempt
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    GUILD,
    NOW,
    class_of_two,
    enroll,
    import_course,
    replace_item,
    right_first_questions,
    seed_people,
    tiny_package,
)

QUESTIONS = right_first_questions(4, weighted=True)


@pytest.fixture
async def quiz_course(database: Database) -> Database:
    await class_of_two(
        database, replace_item(tiny_package(), "check", questions=QUESTIONS, max_attempts=2, passing_score=50)
    )
    return database


async def start(database: Database, user_id: int = ALICE, seed: int = 1, now=NOW) -> quizzes.QuestionCard:  # type: ignore[no-untyped-def]
    async with database.session_scope() as session:
        return await quizzes.start(
            session,
            guild_id=GUILD,
            user_id=user_id,
            course_code="TINY",
            quiz_slug="check",
            now=now,
            rng=random.Random(seed),
        )


async def answer(
    database: Database,
    card: quizzes.QuestionCard,
    option: int,
    settings: Settings,
    user_id: int = ALICE,
    now: datetime = NOW,
) -> quizzes.AnswerResult:
    async with database.session_scope() as session:
        return await quizzes.answer(
            session,
            attempt_id=card.attempt_id,
            question_id=card.question_id,
            choice=[option],
            user_id=user_id,
            now=now,
            settings=settings,
        )


async def answer_to_the_end(
    database: Database,
    settings: Settings,
    choose: Callable[[quizzes.QuestionCard], int],
    card: quizzes.QuestionCard | None = None,
) -> list[quizzes.AnswerResult]:
    """Alice answers from `card` (by default a newly started attempt's first question) to the last question, each
    with the option `choose` picks; every answer's result, in order."""
    current = card if card is not None else await start(database)
    results: list[quizzes.AnswerResult] = []
    while current is not None:
        results.append(await answer(database, current, choose(current), settings))
        current = results[-1].next_question
    return results


async def test_an_attempt_keeps_its_shuffled_order_when_resumed(quiz_course: Database) -> None:
    first = await start(quiz_course, seed=3)
    again = await start(quiz_course, seed=99)  # a different shuffle would show if a new attempt were made
    assert (again.attempt_id, again.question_id, again.options) == (first.attempt_id, first.question_id, first.options)
    assert sorted(text for _, text in first.options) == ["also wrong", "right", "wrong"]


async def test_a_perfect_attempt_scores_passes_rewards_and_completes_the_item(
    quiz_course: Database, settings: Settings
) -> None:
    results = await answer_to_the_end(quiz_course, settings, lambda _: 0)
    assert all(result.correct for result in results)
    finished = results[-1].finished
    assert finished is not None
    assert (finished.score, finished.passed, finished.correct_count) == (100.0, True, 4)
    async with quiz_course.session_scope() as session:
        total = await session.scalar(select(MemberStats.total_xp).where(MemberStats.user_id == ALICE))
        mastery = await session.scalar(select(ConceptMastery).where(ConceptMastery.user_id == ALICE))
        completed = await session.scalar(
            select(func.count()).select_from(ContentProgress).where(ContentProgress.completed_at.is_not(None))
        )
    assert total == 4 * settings.xp.correct_first_try + settings.xp.quiz_passed
    assert mastery is not None and mastery.attempt_count == 4 and mastery.level.value == "MASTERED"
    assert completed == 1


async def test_scores_weigh_points_and_a_failed_attempt_earns_no_pass_xp(
    quiz_course: Database, settings: Settings
) -> None:
    # Right only on the 1-point question: 1 of 10 points.
    results = await answer_to_the_end(quiz_course, settings, lambda card: 0 if card.text == "Q1" else 1)
    finished = results[-1].finished
    assert finished is not None
    assert finished.score == 10.0 and not finished.passed and finished.xp_awarded == 0


async def test_an_answer_counts_once_even_when_fifty_arrive_together(quiz_course: Database, settings: Settings) -> None:
    card = await start(quiz_course)
    outcomes = await asyncio.gather(
        *(answer(quiz_course, card, 0, settings) for _ in range(50)), return_exceptions=True
    )
    assert sum(isinstance(outcome, quizzes.AnswerResult) for outcome in outcomes) == 1
    assert all(
        isinstance(outcome, AlreadyAnswered) for outcome in outcomes if not isinstance(outcome, quizzes.AnswerResult)
    )
    async with quiz_course.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(QuestionAnswer)) == 1
        assert await session.scalar(select(MemberStats.total_xp)) == settings.xp.correct_first_try


async def test_answers_on_consecutive_days_extend_the_streak_once_a_day(
    quiz_course: Database, settings: Settings
) -> None:
    card = await start(quiz_course)
    first = await answer(quiz_course, card, 0, settings)
    assert first.next_question is not None
    tomorrow = NOW + timedelta(days=1)
    second = await answer(quiz_course, first.next_question, 0, settings, now=tomorrow)
    assert second.next_question is not None
    await answer(quiz_course, second.next_question, 0, settings, now=tomorrow + timedelta(hours=1))
    async with quiz_course.session_scope() as session:
        shown = await streaks.streak_view(session, user_id=ALICE, today_local=tomorrow.date())
    assert (shown.current, shown.total_active_days) == (2, 2)


async def test_only_the_owner_answers_and_a_finished_attempt_refuses(quiz_course: Database, settings: Settings) -> None:
    card = await start(quiz_course)
    with pytest.raises(NotYourQuiz):
        await answer(quiz_course, card, 0, settings, user_id=BOB)
    await answer_to_the_end(quiz_course, settings, lambda _: 0, card)
    with pytest.raises(AttemptFinished):
        await answer(quiz_course, card, 1, settings)


async def test_attempt_limits_and_xp_only_on_the_first_attempt(quiz_course: Database, settings: Settings) -> None:
    for _ in range(2):
        await answer_to_the_end(quiz_course, settings, lambda _: 0)
    with pytest.raises(QuizUnavailable, match="all 2 attempts"):
        await start(quiz_course)
    async with quiz_course.session_scope() as session:
        assert (
            await session.scalar(select(MemberStats.total_xp))
            == 4 * settings.xp.correct_first_try + settings.xp.quiz_passed
        )


async def test_a_stale_attempt_is_abandoned_and_a_new_one_starts(quiz_course: Database) -> None:
    old = await start(quiz_course)
    fresh = await start(quiz_course, now=NOW + quizzes.STALE_AFTER + timedelta(minutes=1))
    assert fresh.attempt_id != old.attempt_id
    async with quiz_course.session_scope() as session:
        statuses = dict((await session.execute(select(QuizAttempt.id, QuizAttempt.status))).all())
    assert statuses == {old.attempt_id: AttemptStatus.ABANDONED, fresh.attempt_id: AttemptStatus.IN_PROGRESS}


async def test_the_sweep_abandons_only_stale_attempts(quiz_course: Database) -> None:
    await start(quiz_course, user_id=ALICE)
    await start(quiz_course, user_id=BOB, now=NOW + timedelta(hours=20))
    async with quiz_course.session_scope() as session:
        swept = await quizzes.abandon_stale_attempts(session, now=NOW + timedelta(hours=25))
    assert swept == 1


async def test_results_review_every_question(quiz_course: Database, settings: Settings) -> None:
    await answer_to_the_end(quiz_course, settings, lambda _: 1)
    async with quiz_course.session_scope() as session:
        review = await quizzes.results(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", quiz_slug=None)
    assert len(review.questions) == 4 and not review.passed
    assert all(reviewed.chosen == ["wrong"] and reviewed.right == ["right"] for reviewed in review.questions)


async def test_results_of_a_quiz_that_does_not_exist_say_so(quiz_course: Database) -> None:
    async with quiz_course.session_scope() as session:
        with pytest.raises(NotFound, match="No quiz called `nope`"):
            await quizzes.results(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", quiz_slug="nope")
        with pytest.raises(QuizUnavailable, match="No finished attempt yet"):
            await quizzes.results(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", quiz_slug="check")


async def test_no_quiz_in_a_course_says_so(database: Database) -> None:
    await seed_people(database)
    await import_course(database, tiny_package().model_copy(update={"modules": tiny_package().modules[:1]}))
    await enroll(database, ALICE, "TINY")
    with pytest.raises(QuizUnavailable):
        async with database.session_scope() as session:
            await quizzes.start(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", quiz_slug=None, now=NOW)


async def test_ten_starts_at_once_make_one_attempt_that_every_start_resumes(quiz_course: Database) -> None:
    async def hold() -> None:
        async with quiz_course.engine.connect() as connection:
            await connection.execute(select(1))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(10)))  # so the starts race instead of queueing on connects

    cards = await asyncio.gather(*(start(quiz_course, seed=seed) for seed in range(10)), return_exceptions=True)

    assert all(isinstance(card, quizzes.QuestionCard) for card in cards), cards
    assert len({(card.attempt_id, card.question_id, tuple(card.options)) for card in cards}) == 1  # type: ignore[union-attr]
    async with quiz_course.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(QuizAttempt)) == 1


async def test_the_answer_carries_the_whole_question_it_answers(database: Database, settings: Settings) -> None:
    await seed_people(database)
    asked = "What does this print?\n\n```python\nprint(1 + 1)\n```"
    question = QuestionSpec(type="MULTIPLE_CHOICE", text=asked, options=("2", "11"), answer=0)
    await import_course(database, replace_item(tiny_package(), "check", questions=(question,)))
    await enroll(database, ALICE, "TINY")

    result = await answer(database, await start(database), 0, settings)

    assert result.question_text == asked and result.correct
