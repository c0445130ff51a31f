"""Tutor sessions: the open-session cap, message rate and token budget, answers, feedback, cache state, sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.errors import InvalidInput, NotFound
from bot.tutor import materials, sessions
from bot.tutor.sessions import (
    Citation,
    GenerationMeta,
    NotTheAsker,
    SessionEnded,
    ThreadHasSession,
    TokenBudgetExhausted,
    TooManyOpenSessions,
    TutorRateLimited,
    TutorSession,
)
from db.models import (
    CacheState,
    ChatMessageCitation,
    ChatMessageFeedback,
    GenerationStatus,
    MaterialChunk,
    SessionEndReason,
    SourceMode,
)
from db.session import Database
from tests.tutor.conftest import (
    GUILD,
    INSTRUCTOR,
    OTHER_STUDENT,
    STUDENT,
    CourseRows,
    open_session_in,
    store_lesson_greeting,
)
from tests.tutor.documents import LOOPS

NOW = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)


def usage(prompt_tokens: int, completion_tokens: int, *, cached: bool = False) -> GenerationMeta:
    return GenerationMeta(
        model="fake-chat",
        provider="openai",
        prompt_name="tutor.system",
        prompt_version=1,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=120,
        cached=cached,
    )


async def open_tutor(
    database: Database, course: CourseRows, *, thread_id: int, user_id: int = STUDENT, max_open: int = 10
) -> TutorSession:
    async with database.session_scope() as session:
        return await open_session_in(session, course, thread_id=thread_id, now=NOW, user_id=user_id, max_open=max_open)


async def answer(database: Database, session_id: int, meta: GenerationMeta, *, at: datetime = NOW) -> int:
    async with database.session_scope() as session:
        started = await sessions.start_answer(session, session_id=session_id, now=at)
        await sessions.finish_answer(
            session, message_id=started.id, content="An answer.", status=GenerationStatus.COMPLETED, meta=meta
        )
    return started.id


async def test_a_session_is_bound_to_its_thread(database: Database, course: CourseRows) -> None:
    opened = await open_tutor(database, course, thread_id=555)

    async with database.session_scope() as session:
        found = await sessions.session_for_thread(session, thread_id=555)
        assert await sessions.session_for_thread(session, thread_id=556) is None
        with pytest.raises(ThreadHasSession):
            await sessions.open_session(
                session,
                guild_id=GUILD,
                user_id=OTHER_STUDENT,
                thread_id=555,
                source_mode=SourceMode.GENERAL,
                max_open=10,
                now=NOW,
            )

    assert found == opened
    assert (opened.is_open, opened.cache_state, opened.cache_node_id) == (True, CacheState.TRACKING, None)


async def test_the_guild_cap_counts_open_sessions_only(database: Database, course: CourseRows) -> None:
    first = await open_tutor(database, course, thread_id=1, max_open=2)
    await open_tutor(database, course, thread_id=2, user_id=OTHER_STUDENT, max_open=2)

    with pytest.raises(TooManyOpenSessions, match="2 tutor threads open"):
        await open_tutor(database, course, thread_id=3, max_open=2)
    async with database.session_scope() as session:
        await sessions.end_session(session, session_id=first.id, reason=SessionEndReason.USER, now=NOW)
    assert (await open_tutor(database, course, thread_id=3, max_open=2)).is_open


async def test_a_student_may_send_so_many_messages_a_minute(database: Database, course: CourseRows) -> None:
    tutor = await open_tutor(database, course, thread_id=1)
    other = await open_tutor(database, course, thread_id=2)

    async def send(session_id: int, at: datetime) -> None:
        async with database.session_scope() as session:
            await sessions.record_user_message(
                session, session_id=session_id, content="Why?", rate_limit_per_minute=3, now=at
            )

    await send(tutor.id, NOW)
    await send(tutor.id, NOW + timedelta(seconds=20))
    await send(other.id, NOW + timedelta(seconds=40))  # the limit spans all of the student's sessions
    with pytest.raises(TutorRateLimited, match="Wait 10 s") as refused:
        await send(tutor.id, NOW + timedelta(seconds=50))
    assert refused.value.retry_after_seconds == 10
    await send(tutor.id, NOW + timedelta(seconds=61))


async def test_the_daily_token_budget_counts_todays_answers_in_the_guild(
    database: Database, course: CourseRows
) -> None:
    tutor = await open_tutor(database, course, thread_id=1)
    await answer(database, tutor.id, usage(300, 200), at=NOW - timedelta(days=1))  # yesterday: not counted
    await answer(database, tutor.id, usage(400, 150))
    await answer(database, tutor.id, usage(900, 900, cached=True))  # a cache replay costs nothing

    async with database.session_scope() as session:
        assert await sessions.tokens_used_today(session, guild_id=GUILD, now=NOW) == 550
        assert await sessions.check_token_budget(session, guild_id=GUILD, daily_budget=1000, now=NOW) == 450
        with pytest.raises(TokenBudgetExhausted, match="in 1 h 00 min"):
            await sessions.check_token_budget(session, guild_id=GUILD, daily_budget=550, now=NOW)
        next_day = NOW + timedelta(hours=1)
        assert await sessions.check_token_budget(session, guild_id=GUILD, daily_budget=550, now=next_day) == 550


async def test_an_answer_streams_then_completes_with_its_citations(database: Database, course: CourseRows) -> None:
    loops = await materials.ingest(
        database, course_id=course.id, uploader_id=INSTRUCTOR, filename="loops.md", data=LOOPS.encode()
    )
    tutor = await open_tutor(database, course, thread_id=1)
    async with database.session_scope() as session:
        [chunk_id] = await session.scalars(select(MaterialChunk.id).where(MaterialChunk.material_id == loops.id))
        started = await sessions.start_answer(session, session_id=tutor.id, now=NOW)
    assert (started.generation_status, started.content) == (GenerationStatus.STREAMING, "")

    async with database.session_scope() as session:
        finished = await sessions.finish_answer(
            session,
            message_id=started.id,
            content="Loops repeat code [1].",
            status=GenerationStatus.COMPLETED,
            meta=usage(10, 5),
            citations=[Citation(chunk_id=chunk_id, score=0.03)],
            discord_message_id=999,
        )
        late_stop = await sessions.finish_answer(
            session, message_id=started.id, content="Loops", status=GenerationStatus.STOPPED, meta=None
        )
        citations = (await session.execute(select(ChatMessageCitation.rank, ChatMessageCitation.chunk_id))).all()

    assert finished.generation_status is GenerationStatus.COMPLETED and finished.discord_message_id == 999
    assert finished.meta["total_tokens"] == 15 and finished.meta["prompt_version"] == 1
    assert late_stop == finished  # the first outcome wins
    assert citations == [(1, chunk_id)]


async def test_feedback_is_one_changeable_rating_per_student_and_answer(database: Database, course: CourseRows) -> None:
    tutor = await open_tutor(database, course, thread_id=1)
    message_id = await answer(database, tutor.id, usage(1, 1))

    async with database.session_scope() as session:
        await sessions.rate_answer(session, message_id=message_id, user_id=STUDENT, rating=1)
        changed = await sessions.rate_answer(
            session, message_id=message_id, user_id=STUDENT, rating=-1, comment="Too vague"
        )
        with pytest.raises(NotTheAsker):
            await sessions.rate_answer(session, message_id=message_id, user_id=OTHER_STUDENT, rating=1)
        with pytest.raises(InvalidInput, match="thumbs"):
            await sessions.rate_answer(session, message_id=message_id, user_id=STUDENT, rating=5)
        rows = (await session.execute(select(ChatMessageFeedback.rating, ChatMessageFeedback.comment))).all()

    assert changed.rating == -1
    assert rows == [(-1, "Too vague")]


async def test_a_free_form_message_leaves_the_cache_tree_for_good(database: Database, course: CourseRows) -> None:
    tutor = await open_tutor(database, course, thread_id=1)

    async with database.session_scope() as session:
        await sessions.record_user_message(
            session, session_id=tutor.id, content="A", rate_limit_per_minute=10, now=NOW, follows_cached_branch=True
        )
        tracking = await sessions.session_for_thread(session, thread_id=1)
        await sessions.record_user_message(
            session, session_id=tutor.id, content="Can you explain it differently?", rate_limit_per_minute=10, now=NOW
        )
        diverged = await sessions.session_for_thread(session, thread_id=1)
        await sessions.record_user_message(
            session, session_id=tutor.id, content="B", rate_limit_per_minute=10, now=NOW, follows_cached_branch=True
        )
        still_diverged = await sessions.session_for_thread(session, thread_id=1)

    assert tracking is not None and tracking.cache_state is CacheState.TRACKING
    assert diverged is not None and diverged.cache_state is CacheState.DIVERGED
    assert still_diverged is not None and still_diverged.cache_state is CacheState.DIVERGED


async def test_an_ended_session_takes_no_more_messages_and_keeps_its_first_reason(
    database: Database, course: CourseRows
) -> None:
    tutor = await open_tutor(database, course, thread_id=1)

    async with database.session_scope() as session:
        ended = await sessions.end_session(session, session_id=tutor.id, reason=SessionEndReason.USER, now=NOW)
        again = await sessions.end_session(session, session_id=tutor.id, reason=SessionEndReason.ADMIN, now=NOW)
        with pytest.raises(SessionEnded):
            await sessions.record_user_message(
                session, session_id=tutor.id, content="Hello?", rate_limit_per_minute=10, now=NOW
            )

    assert ended == again and ended.end_reason is SessionEndReason.USER and not ended.is_open


async def test_the_sweep_ends_sessions_idle_for_longer_than_the_limit(database: Database, course: CourseRows) -> None:
    idle = await open_tutor(database, course, thread_id=1)
    active = await open_tutor(database, course, thread_id=2)
    async with database.session_scope() as session:
        await sessions.record_user_message(
            session, session_id=active.id, content="Hi", rate_limit_per_minute=10, now=NOW + timedelta(minutes=50)
        )

    async with database.session_scope() as session:
        swept = await sessions.end_inactive_sessions(
            session, idle_for=timedelta(minutes=60), now=NOW + timedelta(hours=1, minutes=1)
        )
    async with database.session_scope() as session:
        swept_again = await sessions.end_inactive_sessions(
            session, idle_for=timedelta(minutes=60), now=NOW + timedelta(hours=1, minutes=1)
        )
        still_open = await sessions.session_for_thread(session, thread_id=2)

    assert [(s.id, s.end_reason) for s in swept] == [(idle.id, SessionEndReason.INACTIVITY)]
    assert swept_again == []
    assert still_open is not None and still_open.is_open


async def test_finishing_an_unknown_message_or_a_students_message_is_not_found(
    database: Database, course: CourseRows
) -> None:
    tutor = await open_tutor(database, course, thread_id=1)
    async with database.session_scope() as session:
        asked = await sessions.record_user_message(
            session, session_id=tutor.id, content="Hi", rate_limit_per_minute=10, now=NOW
        )
        for message_id in (asked.id, asked.id + 1000):
            with pytest.raises(NotFound):
                await sessions.finish_answer(
                    session, message_id=message_id, content="x", status=GenerationStatus.COMPLETED, meta=None
                )


async def test_only_a_tracking_open_session_follows_a_cache_node(database: Database, course: CourseRows) -> None:
    tracking = await open_tutor(database, course, thread_id=1)
    diverged = await open_tutor(database, course, thread_id=2)
    ended = await open_tutor(database, course, thread_id=3)
    async with database.session_scope() as session:
        root = await store_lesson_greeting(session, course.lesson_ids[0], response="Hi")
        await sessions.record_user_message(
            session, session_id=diverged.id, content="Anything else", rate_limit_per_minute=10, now=NOW
        )
        await sessions.end_session(session, session_id=ended.id, reason=SessionEndReason.USER, now=NOW)

    async with database.session_scope() as session:
        followed = await sessions.follow_cache_node(session, session_id=tracking.id, node_id=root.node_id)
        left = await sessions.follow_cache_node(session, session_id=diverged.id, node_id=root.node_id)
        with pytest.raises(SessionEnded):
            await sessions.follow_cache_node(session, session_id=ended.id, node_id=root.node_id)
        with pytest.raises(NotFound):
            await sessions.follow_cache_node(session, session_id=ended.id + 1000, node_id=root.node_id)

    assert (followed.cache_state, followed.cache_node_id) == (CacheState.TRACKING, root.node_id)
    assert (left.cache_state, left.cache_node_id) == (CacheState.DIVERGED, None)
