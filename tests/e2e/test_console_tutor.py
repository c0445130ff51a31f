"""Issue 6's walk-through in the console: a student opens a tutor thread on a sample lesson, asks a question and
gets a cited answer from the local OpenAI-compatible test server, takes a guided branch, ends the session; a second
session replays the greeting and the branch from the cache; an admin lists the prompts and the cache stats."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.config import Settings
from tests.e2e.conftest import ConsoleSession
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, openai_server: FakeOpenAIServer) -> Settings:
    """The shipped settings with the local OpenAI-compatible server as the tutor's model."""
    settings.llm.base_url = openai_server.base_url
    settings.llm.chat_model = "fake-chat"
    settings.secret_key = SecretStr(Fernet.generate_key().decode())
    return settings


def model_calls(server: FakeOpenAIServer) -> int:
    return len(server.requests_to(CHAT_PATH))


async def test_a_cited_answer_a_branch_replayed_from_the_cache_and_the_admin_views(
    console: ConsoleSession, openai_server: FakeOpenAIServer
) -> None:
    await console.run("/course enroll course:PY101")

    greeting = await console.run("/tutor start lesson:variables")
    assert "Your tutor thread is open" in greeting and "Sources" in greeting
    branch = await console.run(str(console.buttons(greeting)["Check my understanding"]))
    assert "Check my understanding" in branch and "Sources" in branch
    answer = await console.run("say What is a variable?")
    assert "What is a variable?" in answer and re.search(r"^\[\d\] Variables", answer, re.MULTILINE)  # the lesson
    assert "Tutor session ended" in await console.run("/tutor end")

    calls = model_calls(openai_server)
    again = await console.run("/tutor start lesson:variables")
    replayed = await console.run(str(console.buttons(again)["Check my understanding"]))
    assert "Check my understanding" in replayed
    assert model_calls(openai_server) == calls  # greeting and branch both served from the cache
    await console.run("/tutor end")

    await console.run("as admin")
    prompts = await console.run("/admin prompts list")
    assert "tutor.system: v1: latest, production" in prompts
    stats = await console.run("/admin cache stats course:PY101")
    assert "Answers stored: 2" in stats and "Served from the cache: 2" in stats  # the greeting and the branch
