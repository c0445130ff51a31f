"""Spaced repetition: every answered question becomes a review card, scheduled by FSRS, asked again when due.

A card is one row per (student, question) holding FSRS's memory state; the `fsrs` package does all the
scheduling. The rating rule: a wrong answer is Again, a right one Good (docs/reviews.md says why there is no Hard
or Easy). Quizzes write the card in the answer's own unit of work (`record`), reviews and practice through `answer`.

The due queue is the student's live cards of a course due before the end of their local day, oldest first: one
indexed statement (`due_queue`). A card's `reps` is its version: a review button carries the `reps` it was shown
with and the answer is a compare-and-set on it, so a double click, or two racing presses, update the card once.
A card whose question was replaced by a course re-import follows the new question when it asks the same thing
(same quiz, same text), and retires otherwise (`follow_revisions`).
"""

from __future__ import annotations

import functools
import random
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import fsrs
from sqlalchemy import BigInteger, Select, String, and_, bindparam, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import local_date, local_instant
from bot.config import ReviewSettings, Settings
from bot.errors import AlreadyAnswered, CourseError
from bot.services import grading, mastery, tenancy
from bot.services.enrollment import active_enrollment
from db.models import (
    CardState,
    Concept,
    ContentItem,
    Course,
    Guild,
    Question,
    QuestionType,
    ReviewCard,
    Streak,
    User,
    XPEvent,
)
from db.session import dialect_insert

XP_ACTION = "review"
# The latest a local day ends after `now` anywhere (UTC+14): the answer path reads the next card within this, then
# keeps it only when it is due before the end of the student's own day.
LONGEST_DAY_AHEAD = timedelta(hours=38)
WEEK = timedelta(days=7)

_STATE_OF = {
    fsrs.State.Learning: CardState.LEARNING,
    fsrs.State.Review: CardState.REVIEW,
    fsrs.State.Relearning: CardState.RELEARNING,
}
_FSRS_STATE = {state: fsrs_state for fsrs_state, state in _STATE_OF.items()}


class NotYourReview(CourseError):
    message = "These cards belong to someone else. Run `/review` for your own."


class QuestionGone(CourseError):
    message = "This question was removed from the course. Run `/review` again for your next card."


@functools.cache
def _scheduler(retention: float, maximum_interval: int, fuzz: bool) -> fsrs.Scheduler:
    # No learning steps: the queue works in local days, so a card answered wrong comes back the next day, not in
    # ten minutes, and a right first answer goes straight to FSRS's first interval.
    return fsrs.Scheduler(
        desired_retention=retention,
        learning_steps=(),
        relearning_steps=(),
        maximum_interval=maximum_interval,
        enable_fuzzing=fuzz,
    )


def scheduler(settings: ReviewSettings) -> fsrs.Scheduler:
    return _scheduler(settings.desired_retention, settings.maximum_interval_days, settings.fuzz)


def rating(*, correct: bool) -> fsrs.Rating:
    """The rating rule: wrong is Again, right is Good."""
    return fsrs.Rating.Good if correct else fsrs.Rating.Again


def fsrs_card(card: ReviewCard | None, *, now: datetime) -> fsrs.Card:
    """The stored card as the `fsrs` package knows it; a new card when there is none yet."""
    if card is None:
        return fsrs.Card(card_id=0, due=now)  # an explicit id: the package would otherwise sleep to make one
    return fsrs.Card(
        card_id=card.id or 0,
        state=_FSRS_STATE[card.state],
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        last_review=card.last_review,
    )


def scheduled_columns(
    card: ReviewCard | None, *, correct: bool, now: datetime, settings: ReviewSettings
) -> dict[str, Any]:
    """The card's FSRS columns after one more answer at `now`."""
    reviewed, _ = scheduler(settings).review_card(
        fsrs_card(card, now=now), rating(correct=correct), review_datetime=now.astimezone(UTC)
    )
    return {
        "state": _STATE_OF[reviewed.state],
        "step": reviewed.step,
        "stability": reviewed.stability,
        "difficulty": reviewed.difficulty,
        "due": reviewed.due,
        "last_review": reviewed.last_review,
        "last_rating": int(rating(correct=correct)),
    }


async def record(
    session: AsyncSession,
    *,
    user_id: int,
    course_id: int,
    question_id: int,
    seen: ReviewCard | None,
    correct: bool,
    now: datetime,
    settings: ReviewSettings,
) -> None:
    """A quiz answer's card write: create the card, or review it (`seen` is the card as read with the answer)."""
    columns = scheduled_columns(seen, correct=correct, now=now, settings=settings)
    await session.execute(
        dialect_insert(session, ReviewCard)
        .values(user_id=user_id, course_id=course_id, question_id=question_id, reps=1, lapses=0, **columns)
        .on_conflict_do_update(
            index_elements=[ReviewCard.user_id, ReviewCard.question_id],
            set_={
                **columns,
                "reps": ReviewCard.reps + 1,
                "lapses": ReviewCard.lapses + (0 if correct else 1),
                "retired_at": None,
            },
        )
    )


def end_of_local_day(now: datetime, time_zone: str) -> datetime:
    """The UTC instant the student's local day (in `time_zone`) ends: what is due before it is due today."""
    return local_instant(local_date(now, time_zone) + timedelta(days=1), time(0), time_zone)


@dataclass(frozen=True, slots=True)
class DueCard:
    card_id: int
    question_id: int
    reps: int
    due: datetime
    question_active: bool
    due_count: int  # every card of the queue, not only those returned


@functools.cache
def _due_queue() -> Select[tuple[Any, ...]]:
    user_id, course_id = bindparam("user_id", type_=BigInteger), bindparam("course_id", type_=BigInteger)
    return (
        select(
            ReviewCard.id,
            ReviewCard.question_id,
            ReviewCard.reps,
            ReviewCard.due,
            Question.is_active,
            func.count().over().label("due_count"),
        )
        .join(Question, Question.id == ReviewCard.question_id)
        .where(
            ReviewCard.user_id == user_id,
            ReviewCard.course_id == course_id,
            ReviewCard.retired_at.is_(None),
            ReviewCard.due < bindparam("until", type_=ReviewCard.due.type),
        )
        .order_by(ReviewCard.due, ReviewCard.id)
        .limit(bindparam("limit"))
    )


async def due_queue(
    session: AsyncSession, *, user_id: int, course_id: int, until: datetime, limit: int
) -> list[DueCard]:
    """The student's live cards of the course due before `until`, oldest due first: one statement."""
    rows = await session.execute(
        _due_queue(), {"user_id": user_id, "course_id": course_id, "until": until, "limit": limit}
    )
    return [DueCard(*row) for row in rows]


async def follow_revisions(session: AsyncSession, *, user_id: int, course_id: int, now: datetime) -> int:
    """Move the student's cards of replaced questions to their replacement (same quiz, same text), or retire them
    when there is none or the student already has a card for it; returns how many cards changed."""
    replacement = aliased(Question)
    rows = (
        await session.execute(
            select(ReviewCard, replacement.id)
            .join(Question, Question.id == ReviewCard.question_id)
            .outerjoin(
                replacement,
                and_(
                    replacement.item_id == Question.item_id,
                    replacement.text == Question.text,
                    replacement.is_active.is_(True),
                ),
            )
            .where(
                ReviewCard.user_id == user_id,
                ReviewCard.course_id == course_id,
                ReviewCard.retired_at.is_(None),
                Question.is_active.is_(False),
            )
        )
    ).all()
    if not rows:
        return 0
    taken = set(
        await session.scalars(
            select(ReviewCard.question_id).where(
                ReviewCard.user_id == user_id, ReviewCard.question_id.in_([new for _, new in rows if new])
            )
        )
    )
    for card, new_question in rows:
        if new_question is None or new_question in taken:
            card.retired_at = now
        else:
            card.question_id = new_question
            taken.add(new_question)
    await session.flush()
    return len(rows)


@dataclass(frozen=True, slots=True)
class ReviewQuestion:
    """One card as the student sees it, options in this review's order."""

    owner_id: int
    question_id: int
    reps: int  # the card's version when shown (0: practice of a question with no card yet)
    number: int  # 1-based, in this session
    text: str
    question_type: QuestionType
    options: list[tuple[int, str]]  # (authored option index, text) in display order
    due_count: int | None = None  # cards due today when the session started


def display_options(question: Question, *, reps: int) -> list[tuple[int, str]]:
    """The options reshuffled for each review of the card, the same order again if the same review is resent."""
    order = list(range(len(question.options)))
    random.Random(question.id * 1_000_003 + reps).shuffle(order)
    return [(index, question.options[index]) for index in order]


def review_question(
    question: Question, *, owner_id: int, reps: int, number: int, due_count: int | None = None
) -> ReviewQuestion:
    """The card of `question` as shown to its owner, `number` in the session."""
    return ReviewQuestion(
        owner_id=owner_id,
        question_id=question.id,
        reps=reps,
        number=number,
        text=question.text,
        question_type=question.question_type,
        options=display_options(question, reps=reps),
        due_count=due_count,
    )


@dataclass(frozen=True, slots=True)
class ReviewStart:
    course_code: str
    question: ReviewQuestion | None  # None: nothing due today
    next_due: datetime | None  # when nothing is due: the next card's due time, if the student has cards


async def _first_due(
    session: AsyncSession, *, user_id: int, course_id: int, until: datetime, now: datetime
) -> DueCard | None:
    queue = await due_queue(session, user_id=user_id, course_id=course_id, until=until, limit=1)
    if queue and not queue[0].question_active:
        await follow_revisions(session, user_id=user_id, course_id=course_id, now=now)
        queue = await due_queue(session, user_id=user_id, course_id=course_id, until=until, limit=1)
    return queue[0] if queue else None


async def start(
    session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None, now: datetime
) -> ReviewStart:
    """The student's first card due today in the course (their latest without a code), or when the next is due."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    _, zone = await tenancy.time_zones(session, guild_id=None, user_id=user_id)
    until = end_of_local_day(now, zone)
    first = await _first_due(session, user_id=user_id, course_id=enrollment.course_id, until=until, now=now)
    if first is None:
        next_due = await session.scalar(
            select(func.min(ReviewCard.due)).where(
                ReviewCard.user_id == user_id,
                ReviewCard.course_id == enrollment.course_id,
                ReviewCard.retired_at.is_(None),
            )
        )
        return ReviewStart(enrollment.course_code, None, next_due)
    question = await session.get(Question, first.question_id)
    assert question is not None
    shown = review_question(question, owner_id=user_id, reps=first.reps, number=1, due_count=first.due_count)
    return ReviewStart(enrollment.course_code, shown, None)


@dataclass(frozen=True, slots=True)
class ReviewAnswer(grading.AnswerFeedback):
    xp_awarded: int
    next_due: datetime  # when this card comes back
    concept_id: int | None
    course_id: int
    next_question: ReviewQuestion | None  # reviews only: the next due card, within the session's cap
    more_due: bool  # reviews only: the session's cap was reached with cards still due today


@functools.cache
def _answer_context(*, with_next: bool) -> Select[tuple[Any, ...]]:
    """Everything an answer needs in one statement: the question, the card (if any), the zones, the streak and,
    for reviews, the student's next due card of the course with its question."""
    user_id, question_id = bindparam("user_id", type_=BigInteger), bindparam("question_id", type_=BigInteger)
    columns: list[Any] = [Question, ContentItem.course_id, Course.guild_id, Guild.time_zone, User.time_zone]
    columns += [Streak, ReviewCard]
    statement = (
        select(*columns)
        .select_from(Question)
        .join(ContentItem, ContentItem.id == Question.item_id)
        .join(Course, Course.id == ContentItem.course_id)
        .join(Guild, Guild.id == Course.guild_id)
        .join(User, User.id == user_id)
        .outerjoin(Streak, Streak.user_id == user_id)
        .outerjoin(ReviewCard, and_(ReviewCard.user_id == user_id, ReviewCard.question_id == Question.id))
        .where(Question.id == question_id)
    )
    if not with_next:
        return statement
    candidate, following, following_question = aliased(ReviewCard), aliased(ReviewCard), aliased(Question)
    next_id = (
        select(candidate.id)
        .where(
            candidate.user_id == user_id,
            candidate.course_id == ContentItem.course_id,
            candidate.retired_at.is_(None),
            candidate.question_id != question_id,
            candidate.due < bindparam("horizon", type_=ReviewCard.due.type),
        )
        .order_by(candidate.due, candidate.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        statement.add_columns(following, following_question)
        .outerjoin(following, following.id == next_id)
        .outerjoin(following_question, following_question.id == following.question_id)
    )


async def answer(
    session: AsyncSession,
    *,
    owner_id: int,
    user_id: int,
    question_id: int,
    seen_reps: int,
    choice: list[int],
    number: int,
    now: datetime,
    settings: Settings,
    practice: bool = False,
) -> ReviewAnswer:
    """Record the student's answer to a card once: FSRS reschedules it, and it counts for mastery, the streak and
    (capped) XP. For reviews, the next due card comes with it, while the session's cap allows."""
    if user_id != owner_id:
        raise NotYourReview()
    row = (
        await session.execute(
            _answer_context(with_next=not practice),
            {"user_id": user_id, "question_id": question_id, "horizon": now + LONGEST_DAY_AHEAD},
        )
    ).first()
    if row is None:
        raise QuestionGone()
    question, course_id, guild_id, guild_zone, user_zone, streak, card = row[:7]
    if (card.reps if card else 0) != seen_reps:
        raise AlreadyAnswered()
    chosen, correct = grading.grade(question, choice)
    columns = scheduled_columns(card, correct=correct, now=now, settings=settings.reviews)
    guild_day = local_date(now, guild_zone)
    earns = correct and settings.reviews.xp_per_review > 0 and (card is None or card.xp_day != guild_day)
    if earns:
        columns["xp_day"] = guild_day
    if card is None:
        written = await session.scalar(
            dialect_insert(session, ReviewCard)
            .values(user_id=user_id, course_id=course_id, question_id=question.id, reps=1, lapses=0, **columns)
            .on_conflict_do_nothing(index_elements=[ReviewCard.user_id, ReviewCard.question_id])
            .returning(ReviewCard.id)
        )
        recorded = written is not None
    else:
        result = await session.execute(
            update(ReviewCard)
            .where(ReviewCard.id == card.id, ReviewCard.reps == seen_reps)
            .values(reps=seen_reps + 1, lapses=ReviewCard.lapses + (0 if correct else 1), **columns)
            .execution_options(synchronize_session=False)  # a plain UPDATE, so its row count is the verdict
        )
        recorded = result.rowcount == 1
    if not recorded:
        raise AlreadyAnswered()
    xp_awarded = 0
    if earns:
        xp_awarded = await _award_capped(
            session, guild_id=guild_id, user_id=user_id, course_id=course_id, day=guild_day, settings=settings.reviews
        )
    await mastery.count_answer(
        session,
        question=question,
        correct=correct,
        user_id=user_id,
        guild_id=guild_id,
        user_zone=user_zone,
        streak=streak,
        now=now,
        settings=settings,
    )
    next_question, more_due = None, False
    if not practice:
        next_question, more_due = await _next_in_session(
            session,
            row[7],
            row[8],
            user_id=user_id,
            course_id=course_id,
            zone=user_zone,
            number=number,
            now=now,
            cap=settings.reviews.session_cards,
        )
    return ReviewAnswer(
        **asdict(grading.feedback(question, chosen, correct=correct)),
        xp_awarded=xp_awarded,
        next_due=columns["due"],
        concept_id=question.concept_id,
        course_id=course_id,
        next_question=next_question,
        more_due=more_due,
    )


async def _next_in_session(
    session: AsyncSession,
    following: ReviewCard | None,
    following_question: Question | None,
    *,
    user_id: int,
    course_id: int,
    zone: str,
    number: int,
    now: datetime,
    cap: int,
) -> tuple[ReviewQuestion | None, bool]:
    """(the session's next card, whether cards are left for another session)."""
    until = end_of_local_day(now, zone)
    if following is None or following.due >= until:
        return None, False
    if number >= cap:
        return None, True
    if following_question is None or not following_question.is_active:
        # A re-import replaced its question since the session started: rare, so the extra statements are fine.
        first = await _first_due(session, user_id=user_id, course_id=course_id, until=until, now=now)
        if first is None:
            return None, False
        following_question = await session.get(Question, first.question_id)
        assert following_question is not None
        return review_question(following_question, owner_id=user_id, reps=first.reps, number=number + 1), False
    return review_question(following_question, owner_id=user_id, reps=following.reps, number=number + 1), False


async def _award_capped(
    session: AsyncSession, *, guild_id: int, user_id: int, course_id: int, day: date, settings: ReviewSettings
) -> int:
    """Review XP, at most `daily_xp_cap` a day: the n-th award of the day has the ledger key `review:{user}:{day}:n`,
    so two racing awards of one slot insert once, and none is inserted past the last slot. One statement."""
    slots = settings.daily_xp_cap // settings.xp_per_review
    awarded_today = (
        select(func.count())
        .where(
            XPEvent.guild_id == guild_id,
            XPEvent.user_id == user_id,
            XPEvent.day == day,
            XPEvent.action == XP_ACTION,
        )
        .scalar_subquery()
    )
    source = select(
        literal(guild_id, BigInteger),
        literal(user_id, BigInteger),
        literal(course_id, BigInteger),
        literal(settings.xp_per_review),
        literal(XP_ACTION),
        literal(""),
        literal(f"review:{user_id}:{day.isoformat()}:") + cast(awarded_today, String),
        literal(day, XPEvent.day.type),
    ).where(awarded_today < slots)
    inserted = await session.scalar(
        dialect_insert(session, XPEvent)
        .from_select(["guild_id", "user_id", "course_id", "amount", "action", "reason", "source_key", "day"], source)
        .on_conflict_do_nothing(index_elements=[XPEvent.source_key])
        .returning(XPEvent.id)
    )
    return settings.xp_per_review if inserted is not None else 0


@dataclass(frozen=True, slots=True)
class ReviewOutlook:
    """What `/streak` shows of the student's cards: how many come due, and how many they would recall now."""

    due_today: int
    due_this_week: int
    cards: int
    recall_share: float | None  # mean FSRS retrievability of the reviewed cards; None without any


async def outlook(session: AsyncSession, *, user_id: int, now: datetime, settings: ReviewSettings) -> ReviewOutlook:
    """The student's live cards in every course: due today and in the next seven local days, and their recall."""
    _, zone = await tenancy.time_zones(session, guild_id=None, user_id=user_id)
    today_ends = end_of_local_day(now, zone)
    cards = list(
        await session.scalars(select(ReviewCard).where(ReviewCard.user_id == user_id, ReviewCard.retired_at.is_(None)))
    )
    recall = [
        scheduler(settings).get_card_retrievability(fsrs_card(card, now=now), current_datetime=now.astimezone(UTC))
        for card in cards
        if card.last_review is not None
    ]
    return ReviewOutlook(
        due_today=sum(card.due < today_ends for card in cards),
        due_this_week=sum(card.due < today_ends + WEEK - timedelta(days=1) for card in cards),
        cards=len(cards),
        recall_share=sum(recall) / len(recall) if recall else None,
    )


async def due_on(session: AsyncSession, *, user_id: int, course_id: int, day: date) -> int:
    """How many of the student's cards of the course are due by the end of their local `day` (for reminders)."""
    _, zone = await tenancy.time_zones(session, guild_id=None, user_id=user_id)
    day_ends = local_instant(day + timedelta(days=1), time(0), zone)
    count = await session.scalar(
        select(func.count()).where(
            ReviewCard.user_id == user_id,
            ReviewCard.course_id == course_id,
            ReviewCard.retired_at.is_(None),
            ReviewCard.due < day_ends,
        )
    )
    return count or 0


async def most_forgotten_concepts(session: AsyncSession, *, course_id: int, limit: int) -> list[tuple[str, int]]:
    """(concept title, lapses) of the course's concepts whose cards were forgotten most, most first. A lapse is a
    wrong answer to a card the student had answered before."""
    lapses = func.sum(ReviewCard.lapses)
    rows = await session.execute(
        select(Concept.name, lapses)
        .join(Question, Question.concept_id == Concept.id)
        .join(ReviewCard, ReviewCard.question_id == Question.id)
        .where(ReviewCard.course_id == course_id, Concept.course_id == course_id)
        .group_by(Concept.id, Concept.name)
        .having(lapses > 0)
        .order_by(lapses.desc(), Concept.name)
        .limit(limit)
    )
    return [(name, int(count)) for name, count in rows]
