"""Ask a TA: one live escalation per conversation, exactly one claim out of many, a paused tutor, and a TA's answer
saved into the lesson's cache tree only on a guided path. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.config import Settings
from bot.tutor import escalations, sessions
from bot.tutor.cache import TA_APPROVED_MARK
from bot.tutor.escalations import EscalationClosed, EscalationTaken, NotOnGuidedPath, NotTheHolder, TutorPaused
from bot.tutor.sessions import GenerationMeta, NotYourThread
from bot.tutor.tutor import Tutor
from db.models import (
    AuditLog,
    EscalationStatus,
    GenerationStatus,
    LLMResponseCache,
    Notification,
    NotificationKind,
    SessionEndReason,
    User,
)
from db.session import Database
from tests.tutor.conftest import GUILD, OTHER_STUDENT, STUDENT, CourseRows, open_session_in, store_lesson_greeting

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TAS = tuple(9_000_000_000_000_000 + n for n in range(20))
REANNOUNCE = timedelta(minutes=30)
WASHING_MACHINE = "Think of a loop as a washing machine."


async def open_conversation(database: Database, course: CourseRows, *, thread_id: int, on_path: bool) -> int:
    """A tutor session with a question and an answer; `on_path`: still at the lesson's cached greeting."""
    async with database.session_scope() as session:
        if await session.get(User, TAS[0]) is None:
            session.add_all(User(id=ta, display_name=f"ta {ta % 100}") for ta in TAS)
        tutor_session = await open_session_in(session, course, thread_id=thread_id, now=NOW)
        root = await store_lesson_greeting(session, course.lesson_ids[0], response="Welcome to loops.")
        await sessions.follow_cache_node(session, session_id=tutor_session.id, node_id=root.node_id)
        if not on_path:
            await sessions.record_user_message(
                session, session_id=tutor_session.id, content="What is a loop?", rate_limit_per_minute=10, now=NOW
            )
        started = await sessions.start_answer(session, session_id=tutor_session.id, now=NOW)
        meta = GenerationMeta("fake", "openai", None, None, 1, 1, 1)
        await sessions.finish_answer(
            session, message_id=started.id, content="A loop repeats.", status=GenerationStatus.COMPLETED, meta=meta
        )
        return tutor_session.id


async def escalate(database: Database, thread_id: int, *, user_id: int = STUDENT) -> escalations.Asked:
    async with database.session_scope() as session:
        return await escalations.escalate(
            session, thread_id=thread_id, user_id=user_id, note="lost", now=NOW, reannounce_after=REANNOUNCE
        )


async def claim(database: Database, escalation_id: int, ta: int) -> escalations.Claim:
    async with database.session_scope() as session:
        return await escalations.claim(session, escalation_id=escalation_id, guild_id=GUILD, ta_id=ta, now=NOW)


async def test_asking_twice_queues_one_escalation_re_announced_once(database: Database, course: CourseRows) -> None:
    await open_conversation(database, course, thread_id=1, on_path=False)
    with pytest.raises(NotYourThread):
        await escalate(database, 1, user_id=OTHER_STUDENT)
    first, second = await asyncio.gather(escalate(database, 1), escalate(database, 1))
    assert sorted([first.created, second.created]) == [False, True]
    assert first.escalation.id == second.escalation.id
    asked = first.escalation
    assert asked.question == "What is a loop?" and asked.tutor_answer == "A loop repeats." and asked.note == "lost"
    assert not asked.on_guided_path  # the student typed their own question
    async with database.session_scope() as session:
        [planned] = (await session.scalars(select(Notification))).all()
    assert planned.kind is NotificationKind.ESCALATION_REANNOUNCE and planned.due_at == NOW + REANNOUNCE


async def test_twenty_concurrent_claims_give_the_thread_to_exactly_one_ta(
    database: Database, course: CourseRows
) -> None:
    await open_conversation(database, course, thread_id=2, on_path=True)
    escalation_id = (await escalate(database, 2)).escalation.id
    results = await asyncio.gather(*(claim(database, escalation_id, ta) for ta in TAS), return_exceptions=True)
    winners = [result for result in results if isinstance(result, escalations.Claim)]
    assert len(winners) == 1 and winners[0].newly
    assert all(isinstance(result, EscalationTaken) for result in results if result not in winners)
    holder = winners[0].escalation.claimed_by
    assert holder is not None
    again = await claim(database, escalation_id, holder)  # the winner's double click
    assert not again.newly and again.escalation.status is EscalationStatus.CLAIMED
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).where(AuditLog.action == "escalation.claim")) == 1
        assert await escalations.still_open(session, escalation_id=escalation_id) is None


async def test_the_tutor_pauses_while_held_and_the_saved_answer_is_marked(
    database: Database, course: CourseRows, settings: Settings
) -> None:
    session_id = await open_conversation(database, course, thread_id=3, on_path=True)
    escalation_id = (await escalate(database, 3)).escalation.id
    await claim(database, escalation_id, TAS[0])
    tutor = Tutor(database, settings, FixedClock(NOW))
    try:
        with pytest.raises(TutorPaused):
            await tutor.answer(thread_id=3, user_id=STUDENT, text="Hello?")
    finally:
        await tutor.aclose()
    async with database.session_scope() as session:
        hold = await escalations.holder(session, thread_id=3)
        assert hold is not None and hold.ta_id == TAS[0] and hold.session_id == session_id
        await escalations.record_held_message(
            session,
            hold=hold,
            author_id=TAS[0],
            text=WASHING_MACHINE,
            discord_message_id=5,
            now=NOW,
        )
    async with database.session_scope() as session:
        with pytest.raises(NotTheHolder):
            await escalations.save_answer(
                session, escalation_id=escalation_id, guild_id=GUILD, actor_id=TAS[1], may_save_any=False, now=NOW
            )
        saved = await escalations.save_answer(
            session, escalation_id=escalation_id, guild_id=GUILD, actor_id=TAS[0], may_save_any=False, now=NOW
        )
        assert saved.saved
        released = await escalations.release(
            session, escalation_id=escalation_id, guild_id=GUILD, actor_id=TAS[0], may_release_any=False, now=NOW
        )
        assert released.status is EscalationStatus.RELEASED
        assert not await escalations.held(session, session_id=session_id)
    async with database.session_scope() as session:
        node = await session.scalar(select(LLMResponseCache))
        assert node is not None and node.response_content == TA_APPROVED_MARK + WASHING_MACHINE
        assert node.response_meta["ta_approved"] is True and node.response_chunks == [node.response_content]


async def test_an_answer_off_the_guided_path_is_not_saved_in_the_tree(database: Database, course: CourseRows) -> None:
    await open_conversation(database, course, thread_id=4, on_path=False)
    escalation_id = (await escalate(database, 4)).escalation.id
    await claim(database, escalation_id, TAS[0])
    async with database.session_scope() as session:
        hold = await escalations.holder(session, thread_id=4)
        assert hold is not None
        await escalations.record_held_message(
            session, hold=hold, author_id=TAS[0], text="Here is how.", discord_message_id=6, now=NOW
        )
    async with database.session_scope() as session:
        with pytest.raises(NotOnGuidedPath):
            await escalations.save_answer(
                session, escalation_id=escalation_id, guild_id=GUILD, actor_id=TAS[0], may_save_any=False, now=NOW
            )


async def test_a_closed_conversation_leaves_the_queue(database: Database, course: CourseRows) -> None:
    session_id = await open_conversation(database, course, thread_id=5, on_path=False)
    escalation_id = (await escalate(database, 5)).escalation.id
    async with database.session_scope() as session:
        assert [item.id for item in await escalations.inbox(session, guild_id=GUILD)] == [escalation_id]
        await sessions.end_session(session, session_id=session_id, reason=SessionEndReason.USER, now=NOW)
    with pytest.raises(EscalationClosed):
        await claim(database, escalation_id, TAS[0])
    async with database.session_scope() as session:
        assert await escalations.inbox(session, guild_id=GUILD) == []
        assert await escalations.still_open(session, escalation_id=escalation_id) is None
