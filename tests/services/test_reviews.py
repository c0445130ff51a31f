"""Review cards on both databases: FSRS schedules, the local-day queue, XP caps, exactly-once answers, revisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import fsrs
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from bot.clock import local_date
from bot.config import Settings
from bot.errors import AlreadyAnswered, NotAnOption
from bot.services import quizzes, reviews
from bot.services.coursepack import QuestionSpec
from db.models import ConceptMastery, Question, User, XPEvent
from db.session import Database
from tests.conftest import counted_statements
from tests.services.course_fixtures import (
    ALICE,
    GUILD,
    NOW,
    answer_review,
    card_of,
    class_of_two,
    import_course,
    replace_item,
    right_first_questions,
    tiny_package,
)

QUESTIONS = right_first_questions(6)


def package(questions: tuple[QuestionSpec, ...] = QUESTIONS):  # type: ignore[no-untyped-def]
    return replace_item(tiny_package(), "check", questions=questions, max_attempts=5)


@pytest.fixture
def exact(settings: Settings) -> Settings:
    """The shipped settings without FSRS's random spread, so schedules can be compared."""
    return settings.model_copy(update={"reviews": settings.reviews.model_copy(update={"fuzz": False})})


@pytest.fixture
async def course(database: Database) -> Database:
    await class_of_two(database, package())
    return database


async def question_ids(database: Database) -> list[int]:
    async with database.session_scope() as session:
        return list(
            await session.scalars(select(Question.id).where(Question.is_active.is_(True)).order_by(Question.position))
        )


async def take_quiz(
    database: Database, settings: Settings, *, wrong: set[str], now: datetime = NOW, costs: list[int] | None = None
) -> None:
    """Alice takes the quiz, answering wrong the questions whose text is in `wrong` (`costs`: statements each)."""
    async with database.session_scope() as session:
        card = await quizzes.start(
            session, guild_id=GUILD, user_id=ALICE, course_code="TINY", quiz_slug="check", now=now
        )
    while card is not None:
        async with database.session_scope() as session:
            question = await session.get(Question, card.question_id)
            assert question is not None
        with counted_statements(database) as statements:
            async with database.session_scope() as session:
                result = await quizzes.answer(
                    session,
                    attempt_id=card.attempt_id,
                    question_id=card.question_id,
                    choice=[1 if question.text in wrong else 0],
                    user_id=ALICE,
                    now=now,
                    settings=settings,
                )
        if costs is not None:
            costs.append(len(statements))
        card = result.next_question


async def test_a_quiz_answer_writes_a_card_and_fsrs_schedules_it_as_the_package_does(
    course: Database, exact: Settings
) -> None:
    await take_quiz(course, exact, wrong={"Q1"})
    first, second = (await question_ids(course))[:2]
    scheduler = fsrs.Scheduler(
        desired_retention=exact.reviews.desired_retention,
        learning_steps=(),
        relearning_steps=(),
        maximum_interval=exact.reviews.maximum_interval_days,
        enable_fuzzing=False,
    )
    expected = fsrs.Card(card_id=1, due=NOW)
    expected, _ = scheduler.review_card(expected, fsrs.Rating.Again, NOW)
    # A scripted history for Q1: wrong in the quiz, then right, right, wrong, right at each due time.
    moment = NOW
    for right in [True, True, False, True]:
        card = await card_of(course, first)
        assert card is not None
        assert (card.due, card.stability, card.difficulty) == (
            expected.due,
            pytest.approx(expected.stability),
            pytest.approx(expected.difficulty),
        )
        moment = card.due + timedelta(hours=1)
        await answer_review(course, exact, first, right=right, now=moment)
        rating = fsrs.Rating.Good if right else fsrs.Rating.Again
        expected, _ = scheduler.review_card(expected, rating, moment)
    card = await card_of(course, first)
    assert card is not None and card.due == expected.due and card.stability == pytest.approx(expected.stability)
    assert (card.reps, card.lapses) == (5, 1)  # the quiz's answer and four reviews, one of them forgotten
    right_first = await card_of(course, second)
    assert right_first is not None and right_first.reps == 1 and right_first.due > NOW + timedelta(days=1)


async def test_a_quiz_answer_stays_within_its_statement_budget(course: Database, settings: Settings) -> None:
    costs: list[int] = []
    await take_quiz(course, settings, wrong=set(), costs=costs)
    # The day's first answer: the answer, XP, its card, mastery, the streak (row and day); the next question rides
    # along with the first read. Later answers: no streak writes.
    assert costs[0] == 7 and costs[1:-1] == [5] * (len(costs) - 2), costs


async def test_the_due_queue_is_today_in_the_students_zone_oldest_first(course: Database, exact: Settings) -> None:
    await take_quiz(course, exact, wrong={"Q1", "Q2"})
    async with course.session_scope() as session:
        await session.execute(update(User).where(User.id == ALICE).values(time_zone="Pacific/Auckland"))
    # The wrong answers are due a day later; in Auckland (UTC+13) 09:00 UTC is already 22:00 local.
    async with course.session_scope() as session:
        started = await reviews.start(session, guild_id=GUILD, user_id=ALICE, course_code=None, now=NOW)
    assert started.question is None and started.next_due == NOW + timedelta(days=1)
    tomorrow_evening = NOW + timedelta(hours=14)  # 10:00 local the next day, still before the cards' due time
    async with course.session_scope() as session:
        started = await reviews.start(session, guild_id=GUILD, user_id=ALICE, course_code=None, now=tomorrow_evening)
    assert started.question is not None and started.question.due_count == 2
    first_two = (await question_ids(course))[:2]
    assert started.question.question_id in first_two


async def test_reading_the_due_queue_is_one_statement(course: Database, exact: Settings) -> None:
    await take_quiz(course, exact, wrong={"Q1"})
    async with course.session_scope() as session:
        with counted_statements(course) as statements:
            queue = await reviews.due_queue(
                session, user_id=ALICE, course_id=1, until=NOW + timedelta(days=30), limit=5
            )
    assert len(statements) == 1 and len(queue) == 5 and queue[0].due_count == 6
    assert queue[0].due == NOW + timedelta(days=1)  # the one answered wrong comes first


# Half-hour and 45-minute offsets, DST with a 30-minute shift (Lord Howe), UTC+14, midnight DST changes (Santiago).
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "America/Santiago",
]


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
)
def test_today_ends_at_the_students_next_local_midnight_across_zones_and_dst(moment: datetime, zone: str) -> None:
    ends = reviews.end_of_local_day(moment, zone)
    today = local_date(moment, zone)
    assert ends > moment
    assert local_date(ends - timedelta(microseconds=1), zone) == today
    assert local_date(ends, zone) > today
    assert ends - moment <= reviews.LONGEST_DAY_AHEAD
    assert ends.astimezone(ZoneInfo(zone)).time().hour in (0, 1)  # 01:00 only where midnight does not exist


async def test_a_double_click_reviews_once(course: Database, exact: Settings) -> None:
    await take_quiz(course, exact, wrong={"Q1"})
    first = (await question_ids(course))[0]
    later = NOW + timedelta(days=1, hours=1)
    results = await asyncio.gather(
        answer_review(course, exact, first, right=True, now=later, reps=1),
        answer_review(course, exact, first, right=True, now=later, reps=1),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["AlreadyAnswered", "ReviewAnswer"]
    card = await card_of(course, first)
    assert card is not None and card.reps == 2
    with pytest.raises(AlreadyAnswered):  # the old button, pressed again later
        await answer_review(course, exact, first, right=True, now=later, reps=1)
    with pytest.raises(NotAnOption):
        async with course.session_scope() as session:
            await reviews.answer(
                session,
                owner_id=ALICE,
                user_id=ALICE,
                question_id=first,
                seen_reps=2,
                choice=[7],
                number=1,
                now=later,
                settings=exact,
            )


async def test_review_xp_is_capped_per_day_and_a_card_earns_once_a_day(course: Database, exact: Settings) -> None:
    rules = exact.model_copy(
        update={"reviews": exact.reviews.model_copy(update={"xp_per_review": 2, "daily_xp_cap": 6})}
    )
    questions = await question_ids(course)
    earned = [
        (await answer_review(course, rules, question, right=True, now=NOW, practice=True)).xp_awarded
        for question in questions
    ]
    assert earned == [2] * 3 + [0] * 3
    # Another day: the same card earns once, not twice.
    day_two = NOW + timedelta(days=1)
    again = [
        (await answer_review(course, rules, questions[0], right=True, now=day_two + timedelta(minutes=m))).xp_awarded
        for m in (0, 1)
    ]
    assert again == [2, 0]
    async with course.session_scope() as session:
        total = await session.scalar(select(func.sum(XPEvent.amount)).where(XPEvent.action == reviews.XP_ACTION))
    assert total == 8


async def test_a_review_answer_costs_at_most_six_statements_and_counts_for_mastery(
    course: Database, exact: Settings
) -> None:
    await take_quiz(course, exact, wrong={"Q1", "Q2", "Q3"})
    first, second = (await question_ids(course))[:2]
    later = NOW + timedelta(days=1, hours=1)  # a new day: the first answer moves the streak too
    with counted_statements(course) as statements:
        await answer_review(course, exact, first, right=True, now=later, reps=1)
    assert len(statements) == 6, statements  # context and next card, card, XP, mastery, streak row and day
    with counted_statements(course) as statements:
        await answer_review(course, exact, second, right=False, now=later, reps=1)
    assert len(statements) == 3, statements  # no XP for a wrong answer, the day already counted
    async with course.session_scope() as session:
        mastery = await session.scalar(select(ConceptMastery).where(ConceptMastery.user_id == ALICE))
    assert mastery is not None and mastery.attempt_count == 8


async def test_a_session_stops_at_its_cap_and_resumes(course: Database, exact: Settings) -> None:
    rules = exact.model_copy(update={"reviews": exact.reviews.model_copy(update={"session_cards": 2})})
    await take_quiz(course, rules, wrong={"Q1", "Q2", "Q3"})
    later = NOW + timedelta(days=1, hours=1)
    async with course.session_scope() as session:
        started = await reviews.start(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", now=later)
    assert started.question is not None and started.question.due_count == 3
    first = await answer_review(course, rules, started.question.question_id, right=True, now=later)
    assert first.next_question is not None and first.next_question.number == 2
    async with course.session_scope() as session:
        second = await reviews.answer(
            session,
            owner_id=ALICE,
            user_id=ALICE,
            question_id=first.next_question.question_id,
            seen_reps=first.next_question.reps,
            choice=[0],
            number=2,
            now=later,
            settings=rules,
        )
    assert second.next_question is None and second.more_due
    async with course.session_scope() as session:
        resumed = await reviews.start(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", now=later)
    assert resumed.question is not None and resumed.question.due_count == 1


async def test_cards_follow_a_revised_question_or_retire(course: Database, exact: Settings) -> None:
    await take_quiz(course, exact, wrong={"Q1", "Q2"})
    old_first, old_second = (await question_ids(course))[:2]
    revised = (
        QUESTIONS[0].model_copy(update={"options": ("right", "wrong", "new wrong")}),  # same question, options fixed
        QUESTIONS[1].model_copy(update={"text": "Q2, asked differently"}),  # a different question
        *QUESTIONS[2:],
    )
    await import_course(course, package(revised))
    later = NOW + timedelta(days=1, hours=1)
    async with course.session_scope() as session:
        started = await reviews.start(session, guild_id=GUILD, user_id=ALICE, course_code="TINY", now=later)
    new_first = (await question_ids(course))[0]
    assert started.question is not None and started.question.question_id == new_first
    assert started.question.due_count == 1  # Q2's card retired with its question
    moved = await card_of(course, new_first)
    assert moved is not None and moved.reps == 1 and await card_of(course, old_first) is None
    retired = await card_of(course, old_second)
    assert retired is not None and retired.retired_at == later


async def test_the_most_forgotten_concepts_are_counted_by_lapses(course: Database, exact: Settings) -> None:
    await take_quiz(course, exact, wrong=set())
    first, second = (await question_ids(course))[:2]
    later = NOW + timedelta(days=3)
    await answer_review(course, exact, first, right=False, now=later)
    await answer_review(course, exact, second, right=False, now=later)
    async with course.session_scope() as session:
        assert await reviews.most_forgotten_concepts(session, course_id=1, limit=5) == [("Basics", 2)]


async def test_the_outlook_counts_due_cards_and_recall(course: Database, exact: Settings) -> None:
    await take_quiz(course, exact, wrong={"Q1"})
    async with course.session_scope() as session:
        now_view = await reviews.outlook(session, user_id=ALICE, now=NOW, settings=exact.reviews)
        week_view = await reviews.outlook(session, user_id=ALICE, now=NOW + timedelta(days=1), settings=exact.reviews)
    assert (now_view.due_today, now_view.cards) == (0, 6)
    assert now_view.due_this_week == 6 and now_view.recall_share == pytest.approx(1.0)
    assert week_view.due_today == 1 and week_view.recall_share is not None and week_view.recall_share < 1.0
    async with course.session_scope() as session:  # what a reminder for a day says is due
        due = [
            await reviews.due_on(session, user_id=ALICE, course_id=1, day=NOW.date() + timedelta(days=n))
            for n in (0, 1)
        ]
    assert due == [0, 1]
