"""The tutor's orchestration below Discord: stopped and failed turns, students waiting for the same answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime

import pytest

from bot.clock import FixedClock
from bot.config import Settings
from bot.tutor.tutor import Tutor
from db.models import GenerationStatus
from db.session import Database
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.tutor.conftest import OTHER_STUDENT, STUDENT, CourseRows, open_session_in

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
THREAD = 9_000_000_000_000_001


@pytest.fixture
async def tutor(
    database: Database, settings: Settings, course: CourseRows, openai_server: FakeOpenAIServer
) -> AsyncIterator[Tutor]:
    """A Tutor on the fake server, with a course-wide tutor session open in thread THREAD."""
    settings.llm.base_url = openai_server.base_url
    settings.llm.timeout_seconds = 0.3
    settings.llm.max_retries = 0
    tutor = Tutor(database, settings, FixedClock(NOW))
    async with database.session_scope() as session:
        await open_session_in(session, course, thread_id=THREAD, now=NOW, lesson=None)
    yield tutor
    await tutor.aclose()


async def test_an_answer_stopped_by_its_reader_is_stored_stopped(tutor: Tutor, openai_server: FakeOpenAIServer) -> None:
    openai_server.reply(["One ", "two ", "three."])
    turn = await tutor.answer(thread_id=THREAD, user_id=STUDENT, text="Count for me")
    async with aclosing(turn.deltas()) as deltas:
        first = await anext(deltas)
    answer = await turn.finish(stopped=True)
    assert first == "One " and answer.status is GenerationStatus.STOPPED and answer.text == "One "


async def test_a_stream_that_breaks_off_fails_with_what_it_had(tutor: Tutor, openai_server: FakeOpenAIServer) -> None:
    openai_server.fail(Fault.cut(after_chunks=3))
    openai_server.reply(["One ", "two ", "three."])
    turn = await tutor.answer(thread_id=THREAD, user_id=STUDENT, text="Count for me")
    received = [delta async for delta in turn.deltas()]
    answer = await turn.finish()
    assert answer.status is GenerationStatus.FAILED and answer.text == "".join(received)
    assert answer.problem is not None and "Retry" in answer.problem
    assert answer.retry_user_message_id is not None and answer.branches == ()


async def test_students_arriving_while_an_answer_is_written_wait_and_replay_it(
    database: Database, settings: Settings, course: CourseRows, openai_server: FakeOpenAIServer
) -> None:
    settings.llm.base_url = openai_server.base_url
    tutor = Tutor(database, settings, FixedClock(NOW))
    for student, thread in ((STUDENT, THREAD), (OTHER_STUDENT, THREAD + 1)):
        async with database.session_scope() as session:
            await open_session_in(session, course, thread_id=thread, now=NOW, user_id=student)
    try:
        first = await tutor.greet(thread_id=THREAD)
        waiting = asyncio.create_task(tutor.greet(thread_id=THREAD + 1))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the same greeting is being written: wait for it rather than pay for it twice
        written = "".join([delta async for delta in first.deltas()])
        await first.finish()
        second = await waiting
        assert second.cached and "".join([delta async for delta in second.deltas()]) == written
        assert (await second.finish()).cached
        assert len(openai_server.requests) == 1
    finally:
        await tutor.aclose()
