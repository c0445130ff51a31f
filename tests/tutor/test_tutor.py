"""The tutor's orchestration below Discord: branch parsing, citations, model choice, stopped and failed turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.clock import FixedClock
from bot.config import Settings, load_settings
from bot.tutor import backends, sessions
from bot.tutor.secrets import SecretBox
from bot.tutor.tutor import Source, Tutor, cited_sources, model_connection, split_branches
from db.models import GenerationStatus, ModelPurpose, SourceMode
from db.session import Database
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.tutor.conftest import GUILD, INSTRUCTOR, OTHER_STUDENT, STUDENT, CourseRows

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
THREAD = 9_000_000_000_000_001


@pytest.mark.parametrize(
    ("text", "body", "options"),
    [
        ("Hi!\nOptions: An example | The rules", "Hi!", ("An example", "The rules")),
        ("Hi!\n\n**Options:** An example | The rules  ", "Hi!", ("An example", "The rules")),
        ("Hi!\nchoices: one | two | three | four", "Hi!", ("one", "two", "three")),
        ("Hi!\nOptions: same | same", "Hi!", ("same",)),
        ("Options are good.\nThat is all.", "Options are good.\nThat is all.", ()),
        ("Just an answer", "Just an answer", ()),
    ],
)
def test_a_closing_options_line_becomes_branches(text: str, body: str, options: tuple[str, ...]) -> None:
    assert split_branches(text) == (body, options)


def test_a_branch_label_is_clipped_to_a_button_label() -> None:
    _, options = split_branches("Hi\nOptions: " + "x" * 120)
    assert options == ("x" * 80,)


def test_an_answer_lists_the_sources_it_cites_or_all_of_them() -> None:
    sources = [Source(number, f"Part {number}", None, number, 0.1) for number in (1, 2, 3)]
    assert [source.number for source in cited_sources("As [3] and [1] say", sources)] == [1, 3]
    assert [source.number for source in cited_sources("No citation", sources)] == [1, 2, 3]
    assert [source.number for source in cited_sources("See [7]", sources)] == [1, 2, 3]


@pytest.fixture
def settings() -> Settings:
    settings = load_settings(Path(__file__).parent.parent.parent / "config.toml")
    settings.llm.chat_model = "from-config"
    return settings


async def test_the_admins_default_backend_wins_over_config(database: Database, settings: Settings) -> None:
    async with database.session_scope() as db:
        assert (await model_connection(db, settings, ModelPurpose.CHAT)).model == "from-config"  # type: ignore[union-attr]
    settings.secret_key = SecretStr(Fernet.generate_key().decode())
    box = SecretBox.from_key(settings.secret_key)
    async with database.session_scope() as db:
        added = await backends.add_backend(
            db, name="local", provider="ollama", base_url="http://localhost:11434/v1", api_key="sk-local",
            secrets=box, actor_id=INSTRUCTOR, guild_id=None,
        )  # fmt: skip
        await backends.add_model(
            db, backend_id=added.id, model="llama3", purpose=ModelPurpose.CHAT, make_default=True,
            actor_id=INSTRUCTOR, guild_id=None,
        )  # fmt: skip
    async with database.session_scope() as db:
        chosen = await model_connection(db, settings, ModelPurpose.CHAT)
        embeddings = await model_connection(db, settings, ModelPurpose.EMBEDDING)
    assert chosen is not None and (chosen.model, chosen.provider, chosen.api_key) == ("llama3", "ollama", "sk-local")
    assert embeddings is None  # config.toml has no embedding model and no admin default is set


async def test_an_empty_chat_model_means_no_model(database: Database, settings: Settings) -> None:
    settings.llm.chat_model = "  "
    async with database.session_scope() as db:
        assert await model_connection(db, settings, ModelPurpose.CHAT) is None


@pytest.fixture
async def tutor(
    database: Database, settings: Settings, course: CourseRows, openai_server: FakeOpenAIServer
) -> AsyncIterator[Tutor]:
    """A Tutor on the fake server, with a course-wide session open in thread THREAD."""
    settings.llm.base_url = openai_server.base_url
    settings.llm.timeout_seconds = 0.3
    settings.llm.max_retries = 0
    tutor = Tutor(database, settings, FixedClock(NOW))
    async with database.session_scope() as db:
        await sessions.open_session(
            db, guild_id=GUILD, user_id=STUDENT, thread_id=THREAD, source_mode=SourceMode.COURSE,
            course_id=course.id, max_open=10, now=NOW,
        )  # fmt: skip
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
    lesson = course.lesson_ids[0]
    for student, thread in ((STUDENT, THREAD), (OTHER_STUDENT, THREAD + 1)):
        async with database.session_scope() as db:
            await sessions.open_session(
                db, guild_id=GUILD, user_id=student, thread_id=thread, source_mode=SourceMode.LESSON,
                course_id=course.id, content_item_id=lesson, max_open=10, now=NOW,
            )  # fmt: skip
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
