"""The quiz engine: attempts with a fixed order, answers recorded exactly once, scoring and rewards.

An attempt fixes its question order and each question's option order when it starts (shuffled unless
the quiz says `shuffle = false`), so a resumed attempt, or a button pressed after a restart, sees the
same quiz. An answer is a row unique per (attempt, question): a double click or two racing presses
insert once, and the loser is told so. Options are always identified by their index in the authored
question, whatever order they are shown in.
"""

from __future__ import annotations

import functools
import random
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Select, and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bot.clock import local_date
from bot.config import Settings
from bot.errors import AlreadyAnswered, AttemptFinished, NotFound, NotYourQuiz, QuizUnavailable
from bot.services import grading, mastery, navigation, published, reviews, xp
from bot.services.enrollment import ActiveEnrollment, active_enrollment
from db.models import (
    AttemptStatus,
    ContentItem,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseOffering,
    Guild,
    Question,
    QuestionAnswer,
    QuestionType,
    QuizAttempt,
    ReviewCard,
    Streak,
    User,
)
from db.session import dialect_insert

# An attempt left untouched this long is abandoned when its owner next starts the quiz.
STALE_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class QuestionCard:
    """One question as the student sees it, options in this attempt's order."""

    attempt_id: int
    quiz_title: str
    question_id: int
    number: int  # 1-based
    total: int
    text: str
    question_type: QuestionType
    options: list[tuple[int, str]]  # (authored option index, text) in display order
    immediate_feedback: bool


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    attempt_id: int
    quiz_title: str
    score: float  # percent of points
    correct_count: int
    total: int
    passed: bool
    passing_score: int
    xp_awarded: int
    course_completed: bool


@dataclass(frozen=True, slots=True)
class AnswerResult(grading.AnswerFeedback):
    immediate_feedback: bool
    next_question: QuestionCard | None
    finished: AttemptSummary | None
    xp_awarded: int  # for this answer; a pass bonus is the summary's


def _quiz_settings(revision: ContentRevision) -> dict[str, Any]:
    return {"shuffle": True, "feedback": "immediate", "max_attempts": None, "passing_score": None, **revision.data}


async def _published_quiz(
    session: AsyncSession, course_id: int, slug: str | None
) -> tuple[ContentItem, ContentRevision]:
    """The course's published quiz by slug (or its first in the outline), with its newest published revision."""
    query = published.quizzes(course_id, ContentItem, ContentRevision).order_by(*published.OUTLINE_ORDER).limit(1)
    if slug:
        query = query.where(ContentItem.slug == slug)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("quiz", slug) if slug else QuizUnavailable("This course has no published quiz yet.")
    return row[0], row[1]


async def start(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    course_code: str | None,
    quiz_slug: str | None,
    now: datetime,
    rng: random.Random | None = None,
) -> QuestionCard:
    """Resume the student's open attempt of the quiz, or start a new one; returns the next unanswered question."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    item, revision = await _published_quiz(session, enrollment.course_id, quiz_slug)
    settings = _quiz_settings(revision)
    open_attempt = await _open_attempt(session, enrollment, item, user_id=user_id)
    if open_attempt is not None and now - open_attempt.started_at > STALE_AFTER:
        open_attempt.status = AttemptStatus.ABANDONED
        await session.flush()
        open_attempt = None
    if open_attempt is None:
        try:
            async with session.begin_nested():
                open_attempt = await _new_attempt(
                    session, enrollment, item, settings, user_id=user_id, now=now, rng=rng
                )
        except IntegrityError:
            # The same student's other /quiz start (a double submit) created the attempt meanwhile: resume it.
            open_attempt = await _open_attempt(session, enrollment, item, user_id=user_id)
            if open_attempt is None:
                raise
    card = await _next_card(session, open_attempt, revision.title, settings)
    # The last answer submits the attempt in its own transaction, so an open attempt always has a question left;
    # should one ever not, the student gets a way out rather than an empty card.
    if card is None:
        raise QuizUnavailable("This attempt has no questions left. See `/quiz results`.")
    return card


async def _open_attempt(
    session: AsyncSession, enrollment: ActiveEnrollment, item: ContentItem, *, user_id: int
) -> QuizAttempt | None:
    return await session.scalar(
        select(QuizAttempt).where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.offering_id == enrollment.offering_id,
            QuizAttempt.item_id == item.id,
            QuizAttempt.status == AttemptStatus.IN_PROGRESS,
        )
    )


async def _new_attempt(
    session: AsyncSession,
    enrollment: ActiveEnrollment,
    item: ContentItem,
    settings: dict[str, Any],
    *,
    user_id: int,
    now: datetime,
    rng: random.Random | None,
) -> QuizAttempt:
    previous = await session.scalar(
        select(func.count()).where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.offering_id == enrollment.offering_id,
            QuizAttempt.item_id == item.id,
        )
    )
    submitted = await session.scalar(
        select(func.count()).where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.offering_id == enrollment.offering_id,
            QuizAttempt.item_id == item.id,
            QuizAttempt.status == AttemptStatus.SUBMITTED,
        )
    )
    if settings["max_attempts"] is not None and (submitted or 0) >= settings["max_attempts"]:
        raise QuizUnavailable(
            f"You have used all {settings['max_attempts']} attempts of this quiz. See `/quiz results`."
        )
    questions = list(
        await session.scalars(
            select(Question)
            .where(Question.item_id == item.id, Question.is_active.is_(True))
            .order_by(Question.position)
        )
    )
    if not questions:
        raise QuizUnavailable("This quiz has no questions yet.")
    rng = rng or random.Random()
    order = [question.id for question in questions]
    option_orders = {str(question.id): list(range(len(question.options))) for question in questions}
    if settings["shuffle"]:
        rng.shuffle(order)
        for permutation in option_orders.values():
            rng.shuffle(permutation)
    attempt = QuizAttempt(
        user_id=user_id,
        offering_id=enrollment.offering_id,
        item_id=item.id,
        attempt_number=(previous or 0) + 1,
        question_order=order,
        option_orders=option_orders,
        started_at=now,
    )
    session.add(attempt)
    await session.flush()
    return attempt


async def _next_card(
    session: AsyncSession, attempt: QuizAttempt, quiz_title: str, settings: dict[str, Any]
) -> QuestionCard | None:
    answered = set(
        await session.scalars(select(QuestionAnswer.question_id).where(QuestionAnswer.attempt_id == attempt.id))
    )
    remaining = [question_id for question_id in attempt.question_order if question_id not in answered]
    if not remaining:
        return None
    question = await session.get(Question, remaining[0])
    assert question is not None
    return _card(attempt, question, quiz_title, settings, number=len(answered) + 1)


def _card(
    attempt: QuizAttempt, question: Question, quiz_title: str, settings: dict[str, Any], *, number: int
) -> QuestionCard:
    order = attempt.option_orders.get(str(question.id), list(range(len(question.options))))
    return QuestionCard(
        attempt_id=attempt.id,
        quiz_title=quiz_title,
        question_id=question.id,
        number=number,
        total=len(attempt.question_order),
        text=question.text,
        question_type=question.question_type,
        options=[(index, question.options[index]) for index in order],
        immediate_feedback=settings["feedback"] == "immediate",
    )


class _OrderedId(FunctionElement[int]):
    """The id at a 0-based position of a JSON array of ids (an attempt's question order), NULL past its end."""

    type = BigInteger()
    inherit_cache = True


@compiles(_OrderedId, "sqlite")
def _ordered_id_sqlite(element: _OrderedId, compiler: SQLCompiler, **kw: Any) -> str:
    array, position = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"json_extract({array}, '$[' || ({position}) || ']')"


@compiles(_OrderedId, "postgresql")
def _ordered_id_postgresql(element: _OrderedId, compiler: SQLCompiler, **kw: Any) -> str:
    array, position = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST({array} ->> CAST({position} AS INTEGER) AS BIGINT)"


@functools.cache
def _answer_context() -> Select[tuple[Any, ...]]:
    """Everything an answer needs, in one statement that locks the attempt row.

    Built once with bound parameters: under a burst of presses, building it anew for each press cost more
    than running it.
    """
    # BIGINT like the keys: as INTEGER, asyncpg would refuse any id past 2^31 instead of finding no row.
    attempt_id = bindparam("attempt_id", type_=BigInteger)
    answered_before = select(func.count()).where(QuestionAnswer.attempt_id == attempt_id).scalar_subquery()
    # The question after this one, read along: answered questions are a prefix of the order, this one is next.
    following = aliased(Question)
    return (
        select(
            QuizAttempt,
            Question,
            ContentRevision,
            Course,
            Guild.time_zone,
            User.time_zone,
            # Riding along so the common path needs no extra reads: answers so far, the streak as it stands.
            answered_before.label("answered_before"),
            Streak,
            ReviewCard,
            following,
        )
        .select_from(QuizAttempt)
        .join(Question, Question.id == bindparam("question_id", type_=BigInteger))
        .join(ContentRevision, published.newest_revision_of(QuizAttempt.item_id))
        .join(CourseOffering, CourseOffering.id == QuizAttempt.offering_id)
        .join(Course, Course.id == CourseOffering.course_id)
        .join(Guild, Guild.id == Course.guild_id)
        .join(User, User.id == QuizAttempt.user_id)
        .outerjoin(Streak, Streak.user_id == QuizAttempt.user_id)
        .outerjoin(ReviewCard, and_(ReviewCard.user_id == QuizAttempt.user_id, ReviewCard.question_id == Question.id))
        .outerjoin(following, following.id == _OrderedId(QuizAttempt.question_order, answered_before + 1))
        .where(QuizAttempt.id == attempt_id)
        .with_for_update(of=QuizAttempt)
    )


async def answer(
    session: AsyncSession,
    *,
    attempt_id: int,
    question_id: int,
    choice: list[int],
    user_id: int,
    now: datetime,
    settings: Settings,
) -> AnswerResult:
    """Record the student's answer once, score it, move to the next question or finish the attempt."""
    row = (await session.execute(_answer_context(), {"attempt_id": attempt_id, "question_id": question_id})).first()
    if row is None:
        raise AttemptFinished()
    attempt, question, revision, course, guild_zone, user_zone, answered_before, streak, card, following = row
    if attempt.user_id != user_id:
        raise NotYourQuiz()
    if attempt.status is not AttemptStatus.IN_PROGRESS or question.id not in attempt.question_order:
        raise AttemptFinished()
    chosen, correct = grading.grade(question, choice)
    inserted = await session.scalar(
        dialect_insert(session, QuestionAnswer)
        .values(attempt_id=attempt.id, question_id=question.id, answer=chosen, is_correct=correct, answered_at=now)
        .on_conflict_do_nothing(index_elements=[QuestionAnswer.attempt_id, QuestionAnswer.question_id])
        .returning(QuestionAnswer.id)
    )
    if inserted is None:
        raise AlreadyAnswered()
    quiz_settings = _quiz_settings(revision)
    guild_day = local_date(now, guild_zone)
    xp_awarded = 0
    if correct and attempt.attempt_number == 1 and settings.xp.correct_first_try:
        award = await xp.award(
            session,
            guild_id=course.guild_id,
            user_id=user_id,
            course_id=course.id,
            amount=settings.xp.correct_first_try,
            action="correct_first_try",
            source_key=f"correct:{user_id}:{question.id}",
            day=guild_day,
        )
        xp_awarded += award.amount
    # Every answered question comes back for review (bot.services.reviews), written with the answer.
    await reviews.record(
        session,
        user_id=user_id,
        course_id=course.id,
        question_id=question.id,
        seen=card,
        correct=correct,
        now=now,
        settings=settings.reviews,
    )
    await mastery.count_answer(
        session,
        question=question,
        correct=correct,
        user_id=user_id,
        guild_id=course.guild_id,
        user_zone=user_zone,
        streak=streak,
        now=now,
        settings=settings,
    )

    finished = None
    next_card = None
    answered_count = answered_before + 1
    if answered_count >= len(attempt.question_order):
        finished = await _submit(
            session, attempt, course, revision.title, quiz_settings, now=now, guild_day=guild_day, settings=settings
        )
    else:
        # Questions are only ever shown in order, so the answered ones are a prefix of the order.
        assert following is not None and following.id == attempt.question_order[answered_count]
        next_card = _card(attempt, following, revision.title, quiz_settings, number=answered_count + 1)
    return AnswerResult(
        **asdict(grading.feedback(question, chosen, correct=correct)),
        immediate_feedback=quiz_settings["feedback"] == "immediate",
        next_question=next_card,
        finished=finished,
        xp_awarded=xp_awarded,
    )


async def _submit(
    session: AsyncSession,
    attempt: QuizAttempt,
    course: Course,
    quiz_title: str,
    quiz_settings: dict[str, Any],
    *,
    now: datetime,
    guild_day: date,
    settings: Settings,
) -> AttemptSummary:
    rows = (
        await session.execute(
            select(Question.points, QuestionAnswer.is_correct)
            .join(QuestionAnswer, QuestionAnswer.question_id == Question.id)
            .where(QuestionAnswer.attempt_id == attempt.id)
        )
    ).all()
    total_points = sum(points for points, _ in rows) or 1
    earned = sum(points for points, correct in rows if correct)
    score = round(100 * earned / total_points, 1)
    passing = quiz_settings["passing_score"] if quiz_settings["passing_score"] is not None else course.passing_score
    attempt.status, attempt.submitted_at = AttemptStatus.SUBMITTED, now
    attempt.score, attempt.correct_count, attempt.passed = score, sum(correct for _, correct in rows), score >= passing
    attempt.time_taken_seconds = int((now - attempt.started_at).total_seconds())
    xp_awarded, course_completed = 0, False
    if attempt.passed:
        award = await xp.award(
            session,
            guild_id=course.guild_id,
            user_id=attempt.user_id,
            course_id=course.id,
            amount=settings.xp.quiz_passed,
            action="quiz_passed",
            source_key=f"quiz_passed:{attempt.user_id}:{attempt.item_id}",
            day=guild_day,
        )
        xp_awarded = award.amount
        enrollment_id = await session.scalar(
            select(CourseEnrollment.id).where(
                CourseEnrollment.user_id == attempt.user_id, CourseEnrollment.offering_id == attempt.offering_id
            )
        )
        enrollment = ActiveEnrollment(
            enrollment_id or 0, attempt.offering_id, course.id, course.code, course.title, course.passing_score
        )
        course_completed = await navigation.complete_item(
            session, enrollment, user_id=attempt.user_id, item_id=attempt.item_id, now=now
        )
    return AttemptSummary(
        attempt_id=attempt.id,
        quiz_title=quiz_title,
        score=score,
        correct_count=attempt.correct_count,
        total=len(attempt.question_order),
        passed=bool(attempt.passed),
        passing_score=passing,
        xp_awarded=xp_awarded,
        course_completed=course_completed,
    )


@dataclass(frozen=True, slots=True)
class ReviewedQuestion:
    text: str
    chosen: list[str]
    right: list[str]
    correct: bool
    explanation: str


@dataclass(frozen=True, slots=True)
class AttemptReview:
    quiz_title: str
    attempt_number: int
    score: float
    passed: bool
    submitted_at: datetime
    questions: list[ReviewedQuestion]


async def results(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None, quiz_slug: str | None
) -> AttemptReview:
    """The student's latest submitted attempt (of this quiz, or of any quiz of the course), question by question."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    query = (
        select(QuizAttempt, ContentItem.slug)
        .join(ContentItem, ContentItem.id == QuizAttempt.item_id)
        .where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.offering_id == enrollment.offering_id,
            QuizAttempt.status == AttemptStatus.SUBMITTED,
        )
        .order_by(QuizAttempt.submitted_at.desc(), QuizAttempt.id.desc())
        .limit(1)
    )
    if quiz_slug:
        query = query.where(ContentItem.slug == quiz_slug)
    row = (await session.execute(query)).first()
    if row is None and quiz_slug:
        await _published_quiz(session, enrollment.course_id, quiz_slug)  # NotFound when there is no such quiz
    if row is None:
        raise QuizUnavailable("No finished attempt yet. Take a quiz with `/quiz start`.")
    attempt: QuizAttempt = row[0]
    _, revision = await _published_quiz(session, enrollment.course_id, row.slug)
    answers = {
        answer.question_id: answer
        for answer in await session.scalars(select(QuestionAnswer).where(QuestionAnswer.attempt_id == attempt.id))
    }
    questions = {
        question.id: question
        for question in await session.scalars(select(Question).where(Question.id.in_(attempt.question_order)))
    }
    reviewed = []
    for question_id in attempt.question_order:
        question, given = questions[question_id], answers.get(question_id)
        # An index past the options is possible only in answers stored before `answer` refused them.
        chosen = [index for index in (given.answer if given else []) if 0 <= index < len(question.options)]
        reviewed.append(
            ReviewedQuestion(
                text=question.text,
                chosen=[question.options[index] for index in chosen],
                right=[question.options[index] for index in question.answer],
                correct=bool(given and given.is_correct),
                explanation=question.explanation,
            )
        )
    assert attempt.submitted_at is not None and attempt.score is not None
    return AttemptReview(
        revision.title, attempt.attempt_number, attempt.score, bool(attempt.passed), attempt.submitted_at, reviewed
    )


async def quiz_titles(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None
) -> list[tuple[str, str]]:
    """(slug, title) of the published quizzes of the student's course, in outline order, for autocomplete."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    quizzes = published.quizzes(enrollment.course_id, ContentItem.slug, ContentRevision.title)
    rows = await session.execute(quizzes.order_by(*published.OUTLINE_ORDER))
    return [(slug, title) for slug, title in rows]


async def abandon_stale_attempts(session: AsyncSession, *, now: datetime) -> int:
    """Mark attempts untouched for a day ABANDONED (a periodic sweep); returns how many."""
    result = await session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.status == AttemptStatus.IN_PROGRESS, QuizAttempt.started_at < now - STALE_AFTER)
        .values(status=AttemptStatus.ABANDONED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
