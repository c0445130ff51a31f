"""Issue 6's walk-through in the console: a student opens a tutor thread on a sample lesson, asks a question and
gets a cited answer from the local OpenAI-compatible test server, takes a guided branch, ends the session; a second
session replays the greeting and the branch from the cache; an admin lists the prompts and the cache stats."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import Settings
from bot.sandbox import DiscordSandbox
from bot.sandbox.console import Console, first_start
from db.session import Database
from tests.e2e.test_console_quiz import SAMPLE, Transcript, buttons, run
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def console(
    database: Database, settings: Settings, openai_server: FakeOpenAIServer
) -> AsyncIterator[tuple[Console, Transcript]]:
    settings.llm.base_url = openai_server.base_url
    settings.llm.chat_model = "fake-chat"
    settings.secret_key = SecretStr(Fernet.generate_key().decode())
    bot = CourseBot(settings, database=database, clock=FixedClock(datetime(2026, 11, 23, 10, tzinfo=UTC)))
    sandbox = DiscordSandbox(bot, timeout=30.0)
    await sandbox.start()
    transcript = Transcript()
    console = Console(sandbox, acting_as="student", write=transcript.write)
    try:
        await first_start(console, bot, SAMPLE)
        yield console, transcript
        sandbox.assert_no_errors()
    finally:
        await sandbox.close()


def model_calls(server: FakeOpenAIServer) -> int:
    return len(server.requests_to(CHAT_PATH))


async def test_a_cited_answer_a_branch_replayed_from_the_cache_and_the_admin_views(
    console: tuple[Console, Transcript], openai_server: FakeOpenAIServer
) -> None:
    student, transcript = console
    await run(student, transcript, "/course enroll course:PY101")

    greeting = await run(student, transcript, "/tutor start lesson:variables")
    assert "Your tutor thread is open" in greeting and "Sources" in greeting
    branch = await run(student, transcript, str(buttons(greeting)["Check my understanding"]))
    assert "Check my understanding" in branch and "Sources" in branch
    answer = await run(student, transcript, "say What is a variable?")
    assert "What is a variable?" in answer and re.search(r"^\[\d\] Variables", answer, re.MULTILINE)  # the lesson
    assert "Tutor session ended" in await run(student, transcript, "/tutor end")

    calls = model_calls(openai_server)
    again = await run(student, transcript, "/tutor start lesson:variables")
    replayed = await run(student, transcript, str(buttons(again)["Check my understanding"]))
    assert "Check my understanding" in replayed
    assert model_calls(openai_server) == calls  # greeting and branch both served from the cache
    await run(student, transcript, "/tutor end")

    await run(student, transcript, "as admin")
    prompts = await run(student, transcript, "/admin prompts list")
    assert "tutor.system: v1: latest, production" in prompts
    stats = await run(student, transcript, "/admin cache stats course:PY101")
    assert "Answers stored: 2" in stats and "Served from the cache: 2" in stats  # the greeting and the branch
