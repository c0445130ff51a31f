"""Tutor sessions: one per private thread, with its messages, citations, feedback, limits and cache position.

A tutor session is a `TutorSession` (its row is a `ChatSession`, table `chat_sessions`; `session_id` is its id,
as in `chat_messages.session_id`); `session` is always the caller's `AsyncSession`.

Two levels, as in `bot.tutor.materials`: services on a caller's session, which never commit, and
`end_idle_sessions`, which runs the idle sweep on a `Database`, one unit of work per batch.

The limits a student meets are checked here and raised as `CourseError`s whose message says what to
do: the guild's cap on open sessions, the per-user message rate, and the guild's daily token budget.
A thread is looked up by `session_for_thread` (any tutor session), or by `turn_opening`, which also checks
that the session is open and the student's, and reads what a turn decides with.

An answer is recorded in two steps, so the transaction is never open during the model call:
`start_answer` (status STREAMING) in one unit of work, then `finish_answer` (COMPLETED, STOPPED or
FAILED, with usage and citations) in another.

Cache tracking: a tutor session starts TRACKING at the top of its lesson's cache tree; `follow_cache_node`
records each node served. The first free-form message (anything but a branch the tutor offered)
sets it DIVERGED for good, and from then on nothing is looked up or stored for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import CourseError, InvalidInput, NotFound
from bot.services import views
from bot.tutor.quiz_guard import in_progress_quizzes
from db.models import (
    CacheState,
    ChatMessage,
    ChatMessageCitation,
    ChatMessageFeedback,
    ChatSession,
    Course,
    GenerationStatus,
    Guild,
    MessageRole,
    SessionEndReason,
    SourceMode,
)
from db.session import Database, dialect_insert

RATE_WINDOW = timedelta(minutes=1)
FINISHED_STATUSES = (GenerationStatus.COMPLETED, GenerationStatus.STOPPED, GenerationStatus.FAILED)
SWEEP_BATCH = 100


class NotATutorThread(CourseError):
    message = "This is not a tutor thread. Open one with `/tutor start`."


class NotYourThread(CourseError):
    message = "This tutor thread belongs to another student. Open your own with `/tutor start`."


class TooManyOpenSessions(CourseError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"This server already has {limit} tutor threads open, the most it allows. "
            "Try again later, or close a thread you no longer need with `/tutor end`."
        )


class ThreadHasSession(CourseError):
    message = "This thread already belongs to a tutor session. Start a new one with `/tutor start`."


class SessionEnded(CourseError):
    message = "This tutor session has ended. Start a new one with `/tutor start`."


class TutorRateLimited(CourseError):
    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"You can send the tutor {limit} messages a minute. Wait {retry_after_seconds} s, then send it again."
        )
        self.retry_after_seconds = retry_after_seconds


class TokenBudgetExhausted(CourseError):
    def __init__(self, resets_in: timedelta) -> None:
        hours, minutes = divmod(math.ceil(resets_in.total_seconds() / 60), 60)
        super().__init__(
            "The tutor has used this server's model budget for today. It resets at midnight UTC, "
            f"in {hours} h {minutes:02d} min; until then it can only point you to the course material."
        )


class NotTheAsker(CourseError):
    message = "Only the student who asked can rate this answer."


@dataclass(frozen=True, slots=True)
class TutorSession:
    id: int
    guild_id: int
    user_id: int
    thread_id: int
    source_mode: SourceMode
    course_id: int | None
    content_item_id: int | None
    cache_node_id: int | None  # the last cache node served; None while TRACKING means "at the start"
    cache_state: CacheState
    started_at: datetime
    last_message_at: datetime
    ended_at: datetime | None
    end_reason: SessionEndReason | None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class SessionCourse:
    """The course a tutor session is about, as its turns need it."""

    id: int
    code: str
    title: str
    cache_enabled: bool


@dataclass(frozen=True, slots=True)
class TurnOpening:
    """What a turn reads first, in one statement: the thread's open tutor session with its course, its latest
    answer, and whether the student has a quiz attempt in progress in the course."""

    row: ChatSession  # held so the turn's writes to it in the same unit of work find it in the identity map
    course: SessionCourse | None
    latest_answer_id: int | None
    quiz_in_progress: bool


@dataclass(frozen=True, slots=True)
class GenerationMeta:
    """How an answer was produced, stored as `chat_messages.meta` (and as a cache node's `response_meta`)."""

    model: str
    provider: str
    prompt_name: str | None
    prompt_version: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int | None
    cached: bool = False  # replayed from the response cache: it cost no tokens

    def as_json(self) -> dict[str, Any]:
        """The stored form. `total_tokens` is what this message cost today's budget (0 for a replay)."""
        spent = 0 if self.cached else (self.prompt_tokens or 0) + (self.completion_tokens or 0)
        return {
            "model": self.model,
            "provider": self.provider,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": spent,
            "latency_ms": self.latency_ms,
            "cached": self.cached,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A source of an answer: the chunk and its retrieval score. Citations are ranked in the order given."""

    chunk_id: int
    score: float


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    id: int
    session_id: int
    role: MessageRole
    content: str
    generation_status: GenerationStatus
    meta: dict[str, Any]
    discord_message_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Feedback:
    message_id: int
    user_id: int
    rating: int  # +1 or -1
    comment: str | None


async def open_session(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    thread_id: int,
    source_mode: SourceMode,
    course_id: int | None = None,
    content_item_id: int | None = None,
    max_open: int,
    now: datetime,
) -> TutorSession:
    """Bind a new tutor session to `thread_id`.

    Raises `TooManyOpenSessions` when the guild has `max_open` open sessions, and `ThreadHasSession`
    when the thread is taken. The guild and user rows must exist (`bot.services.tenancy`).
    """
    # PostgreSQL: lock the guild row so concurrent opens cannot both slip under the cap.
    await session.execute(select(Guild.id).where(Guild.id == guild_id).with_for_update())
    if await open_session_count(session, guild_id=guild_id) >= max_open:
        raise TooManyOpenSessions(max_open)
    if await session.scalar(select(ChatSession.id).where(ChatSession.thread_id == thread_id)) is not None:
        raise ThreadHasSession()
    row = ChatSession(
        guild_id=guild_id,
        user_id=user_id,
        thread_id=thread_id,
        source_mode=source_mode,
        course_id=course_id,
        content_item_id=content_item_id,
        cache_state=CacheState.TRACKING,
        started_at=now,
        last_message_at=now,
    )
    session.add(row)
    await session.flush()
    return tutor_session_of(row)


async def open_session_count(session: AsyncSession, *, guild_id: int) -> int:
    """How many tutor sessions of the guild are open (the cap `open_session` checks)."""
    count = await session.scalar(
        select(func.count())
        .select_from(ChatSession)
        .where(ChatSession.guild_id == guild_id, ChatSession.ended_at.is_(None))
    )
    return count or 0


async def session_for_thread(session: AsyncSession, *, thread_id: int) -> TutorSession | None:
    """The tutor session bound to a thread (open or ended), or None for a thread that is not a tutor thread."""
    row = await session.scalar(select(ChatSession).where(ChatSession.thread_id == thread_id))
    return tutor_session_of(row) if row is not None else None


async def open_session_of(session: AsyncSession, *, guild_id: int, user_id: int) -> TutorSession | None:
    """The student's open tutor session in the guild (the newest, should there be several), if any."""
    row = await session.scalar(
        select(ChatSession)
        .where(ChatSession.guild_id == guild_id, ChatSession.user_id == user_id, ChatSession.ended_at.is_(None))
        .order_by(ChatSession.id.desc())
        .limit(1)
    )
    return tutor_session_of(row) if row is not None else None


async def turn_opening(session: AsyncSession, *, thread_id: int, user_id: int | None) -> TurnOpening:
    """The thread's open tutor session and what a turn decides with.

    Raises `NotATutorThread`, `NotYourThread` (unless `user_id` is None: the tutor speaks first) or `SessionEnded`.
    """
    found = (await session.execute(_TURN_OPENING, {"thread_id": thread_id})).first()
    if found is None:
        raise NotATutorThread()
    row, course_id, code, title, cache_enabled, latest_answer_id, quiz_in_progress = found
    if user_id is not None and user_id != row.user_id:
        raise NotYourThread()
    if row.ended_at is not None:
        raise SessionEnded()
    course = SessionCourse(course_id, code, title, cache_enabled) if course_id is not None else None
    return TurnOpening(row, course, latest_answer_id, bool(quiz_in_progress))


async def record_user_message(
    session: AsyncSession,
    *,
    session_id: int,
    content: str,
    rate_limit_per_minute: int,
    now: datetime,
    follows_cached_branch: bool = False,
    discord_message_id: int | None = None,
) -> RecordedMessage:
    """Record what the student sent. A free-form message (not `follows_cached_branch`) sets the tutor session DIVERGED.

    Raises `SessionEnded`, or `TutorRateLimited` when the student already sent `rate_limit_per_minute`
    messages in the last minute (across all their sessions).
    """
    if rate_limit_per_minute < 1:
        raise ValueError("rate_limit_per_minute must be at least 1")
    row = await _open_session_row(session, session_id)
    recent = (
        await session.scalars(
            _RECENT_MESSAGES, {"user_id": row.user_id, "since": now - RATE_WINDOW, "limit": rate_limit_per_minute}
        )
    ).all()
    if len(recent) >= rate_limit_per_minute:
        # The oldest of the last `limit` messages leaves the window first.
        wait = recent[-1] + RATE_WINDOW - now
        raise TutorRateLimited(rate_limit_per_minute, max(1, math.ceil(wait.total_seconds())))
    message = ChatMessage(
        session_id=session_id,
        role=MessageRole.USER,
        content=content,
        generation_status=GenerationStatus.COMPLETED,
        discord_message_id=discord_message_id,
        created_at=now,
    )
    session.add(message)
    row.last_message_at = now
    if not follows_cached_branch:
        row.cache_state = CacheState.DIVERGED
    await session.flush()
    return _message_of(message)


async def tokens_used_today(session: AsyncSession, *, guild_id: int, now: datetime) -> int:
    """Tokens the guild's tutor answers have cost since midnight UTC (`total_tokens` of each answer's meta)."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    used = await session.scalar(
        select(func.coalesce(func.sum(ChatMessage.meta["total_tokens"].as_integer()), 0))
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(
            ChatSession.guild_id == guild_id,
            ChatMessage.role == MessageRole.ASSISTANT,
            ChatMessage.created_at >= midnight,
        )
    )
    return int(used or 0)


async def check_token_budget(session: AsyncSession, *, guild_id: int, daily_budget: int, now: datetime) -> int:
    """The tokens left today; raises `TokenBudgetExhausted` when none are. Call it before each model call."""
    left = daily_budget - await tokens_used_today(session, guild_id=guild_id, now=now)
    if left <= 0:
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        raise TokenBudgetExhausted(resets_in=midnight + timedelta(days=1) - now)
    return left


async def start_answer(session: AsyncSession, *, session_id: int, now: datetime) -> RecordedMessage:
    """Record an empty tutor answer, STREAMING, to be completed by `finish_answer`. Raises `SessionEnded`."""
    row = await _open_session_row(session, session_id)
    message = ChatMessage(
        session_id=session_id,
        role=MessageRole.ASSISTANT,
        content="",
        generation_status=GenerationStatus.STREAMING,
        created_at=now,
    )
    session.add(message)
    row.last_message_at = now
    await session.flush()
    return _message_of(message)


async def finish_answer(
    session: AsyncSession,
    *,
    message_id: int,
    content: str,
    status: GenerationStatus,
    meta: GenerationMeta | None,
    citations: Sequence[Citation] = (),
    discord_message_id: int | None = None,
) -> RecordedMessage:
    """Store the answer's final text, outcome, usage and citations.

    The first outcome wins: a message that is no longer STREAMING (e.g. Stop pressed as it completed)
    is returned unchanged. A FAILED answer may carry the partial text and no meta.
    """
    if status not in FINISHED_STATUSES:
        raise ValueError(f"an answer finishes as one of {[s.value for s in FINISHED_STATUSES]}, not {status}")
    outcome = {
        "message": message_id,
        "new_content": content,
        "new_status": status,
        "new_meta": meta.as_json() if meta is not None else {},
        "new_discord_message_id": discord_message_id or None,  # None keeps the one stored
    }
    # One statement finds the answer still STREAMING and stores the outcome, so of two finishes only the first writes.
    message = await session.scalar(_FINISH_ANSWER, outcome)
    if message is None:
        finished = await session.get(ChatMessage, message_id, populate_existing=True)  # as another finish left it
        if finished is None or finished.role != MessageRole.ASSISTANT:
            raise NotFound("tutor answer", str(message_id))
        return _message_of(finished)
    if citations:
        session.add_all(
            ChatMessageCitation(message_id=message_id, rank=rank, chunk_id=citation.chunk_id, score=citation.score)
            for rank, citation in enumerate(citations, start=1)
        )
        await session.flush()
    return _message_of(message)


async def follow_cache_node(session: AsyncSession, *, session_id: int, node_id: int) -> TutorSession:
    """Record that the answer just given is cache node `node_id`. A DIVERGED tutor session is left as it is."""
    row = await session.scalar(_FOLLOW_CACHE_NODE, {"tutor_session": session_id, "node": node_id})
    if row is None:  # missing or ended (these raise), else DIVERGED
        row = await _open_session_row(session, session_id)
    return tutor_session_of(row)


async def rate_answer(
    session: AsyncSession, *, message_id: int, user_id: int, rating: int, comment: str | None = None
) -> Feedback:
    """Record the student's thumbs up (+1) or down (-1) on an answer; rating again replaces the earlier rating.

    Only the tutor session's student may rate (`NotTheAsker`); only tutor answers can be rated.
    """
    if rating not in (1, -1):
        raise InvalidInput("Rate an answer with a thumbs up (+1) or a thumbs down (-1).")
    found = (
        await session.execute(
            select(ChatMessage.role, ChatSession.user_id)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .where(ChatMessage.id == message_id)
        )
    ).first()
    if found is None or found.role != MessageRole.ASSISTANT:
        raise NotFound("tutor answer", str(message_id))
    if found.user_id != user_id:
        raise NotTheAsker()
    statement = dialect_insert(session, ChatMessageFeedback).values(
        message_id=message_id, user_id=user_id, rating=rating, comment=comment
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ChatMessageFeedback.message_id, ChatMessageFeedback.user_id],
            set_={
                "rating": statement.excluded.rating,
                "comment": statement.excluded.comment,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )
    return Feedback(message_id=message_id, user_id=user_id, rating=rating, comment=comment)


async def end_session(
    session: AsyncSession, *, session_id: int, reason: SessionEndReason, now: datetime
) -> TutorSession:
    """End the tutor session with `reason`. Ending an ended one changes nothing (the first reason stays)."""
    row = await session.get(ChatSession, session_id)
    if row is None:
        raise NotFound("tutor session", str(session_id))
    if row.ended_at is None:
        row.ended_at = now
        row.end_reason = reason
        await session.flush()
    return tutor_session_of(row)


async def end_inactive_sessions(
    session: AsyncSession, *, idle_for: timedelta, now: datetime, limit: int = 100
) -> list[TutorSession]:
    """End (reason INACTIVITY) up to `limit` open sessions with no message for `idle_for`; returns them.

    Finding and ending is one statement, so sweeps running in several processes never end, and then
    announce, the same session twice. Archive the returned threads after this transaction commits.
    """
    idle = (
        select(ChatSession.id)
        .where(ChatSession.ended_at.is_(None), ChatSession.last_message_at < now - idle_for)
        .order_by(ChatSession.last_message_at)
        .limit(limit)
    )
    rows = await session.scalars(
        update(ChatSession)
        .where(ChatSession.id.in_(idle), ChatSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=SessionEndReason.INACTIVITY)
        .returning(ChatSession)
        .execution_options(populate_existing=True)
    )
    return sorted((tutor_session_of(row) for row in rows), key=lambda ended: (ended.last_message_at, ended.id))


async def end_idle_sessions(database: Database, *, idle_for: timedelta, now: datetime) -> list[TutorSession]:
    """End every open session with no message for `idle_for` (reason INACTIVITY); returns them (archive their threads).

    Each batch is its own transaction, so a sweep in another process never ends (and announces) a session twice.
    """
    ended: list[TutorSession] = []
    while True:
        async with database.session_scope() as session:
            batch = await end_inactive_sessions(session, idle_for=idle_for, now=now, limit=SWEEP_BATCH)
        ended += batch
        if len(batch) < SWEEP_BATCH:
            return ended


# Statements of the tutor's every turn, built once. Their parameters are bound at execution, so the ORM cannot
# evaluate the UPDATEs' criteria in Python (synchronize_session=False): RETURNING with populate_existing
# refreshes the rows instead.
_LATEST_ANSWER = (
    select(func.max(ChatMessage.id))
    .where(ChatMessage.session_id == ChatSession.id, ChatMessage.role == MessageRole.ASSISTANT)
    .correlate(ChatSession)
    .scalar_subquery()
)
_QUIZ_IN_PROGRESS = in_progress_quizzes(ChatSession.user_id, ChatSession.course_id).correlate(ChatSession).exists()
_TURN_OPENING = (
    select(ChatSession, Course.id, Course.code, Course.title, Course.cache_enabled, _LATEST_ANSWER, _QUIZ_IN_PROGRESS)
    .outerjoin(Course, Course.id == ChatSession.course_id)
    .where(ChatSession.thread_id == bindparam("thread_id"))
)
_RECENT_MESSAGES = (
    select(ChatMessage.created_at)
    .join(ChatSession, ChatSession.id == ChatMessage.session_id)
    .where(
        ChatSession.user_id == bindparam("user_id"),
        ChatMessage.role == MessageRole.USER,
        ChatMessage.created_at > bindparam("since"),
    )
    .order_by(ChatMessage.created_at.desc())
    .limit(bindparam("limit"))
)
_FINISH_ANSWER = (
    update(ChatMessage)
    .where(
        ChatMessage.id == bindparam("message"),
        ChatMessage.role == MessageRole.ASSISTANT,
        ChatMessage.generation_status == GenerationStatus.STREAMING,
    )
    .values(
        content=bindparam("new_content", type_=ChatMessage.__table__.c.content.type),
        generation_status=bindparam("new_status", type_=ChatMessage.__table__.c.generation_status.type),
        meta=bindparam("new_meta", type_=ChatMessage.__table__.c.meta.type),
        discord_message_id=func.coalesce(
            bindparam("new_discord_message_id", type_=ChatMessage.__table__.c.discord_message_id.type),
            ChatMessage.discord_message_id,
        ),
    )
    .returning(ChatMessage)
    .execution_options(populate_existing=True, synchronize_session=False)
)
_FOLLOW_CACHE_NODE = (
    update(ChatSession)
    .where(
        ChatSession.id == bindparam("tutor_session"),
        ChatSession.ended_at.is_(None),
        ChatSession.cache_state == CacheState.TRACKING,
    )
    .values(cache_node_id=bindparam("node", type_=ChatSession.__table__.c.cache_node_id.type))
    .returning(ChatSession)
    .execution_options(populate_existing=True, synchronize_session=False)
)


async def _open_session_row(session: AsyncSession, session_id: int) -> ChatSession:
    row = await session.get(ChatSession, session_id)
    if row is None:
        raise NotFound("tutor session", str(session_id))
    if row.ended_at is not None:
        raise SessionEnded()
    return row


def tutor_session_of(row: ChatSession) -> TutorSession:
    """The tutor session as callers see it, from its row (e.g. one read together with other data)."""
    return views.from_row(TutorSession, row)


def _message_of(row: ChatMessage) -> RecordedMessage:
    return views.from_row(RecordedMessage, row, meta=dict(row.meta or {}))
