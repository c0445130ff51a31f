"""Shared ground for the cog tests that reach the tutor: a fake OpenAI-compatible model server, the settings that
point the bot at it, a classroom whose course is indexed, and helpers to open a tutor thread and read what it kept.

The fixtures are named `openai_server`, `settings` and `classroom`; their functions carry other names, so a test
module imports the functions and its tests take the fixtures as arguments without shadowing an import. Importing
`tutor_settings` replaces the shipped config for every test of the module: a module whose other tests want
config.toml as shipped imports `tutor_classroom` alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from bot.config import Settings, load_settings
from db.models import ChatMessage, ChatSession
from db.session import Database
from sandbox import DiscordSandbox, Reply
from tests.cogs.course_fixtures import import_sample
from tests.fakes.openai_server import CHAT_PATH, FakeOpenAIServer

CONFIG = Path(__file__).resolve().parent.parent.parent / "config.toml"
GREETING = "Welcome to Variables! You will learn to name values. [1]\nOptions: Show an example | Explain naming rules"


@pytest.fixture(name="openai_server")
async def fake_openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(name="settings")
def tutor_settings(openai_server: FakeOpenAIServer) -> Settings:
    """config.toml with the fake server as the chat model: short timeout, no retries, so faults show at once."""
    settings = load_settings(CONFIG)
    settings.llm.base_url = openai_server.base_url
    settings.llm.chat_model = "fake-chat"
    settings.llm.timeout_seconds = 0.5
    settings.llm.max_retries = 0
    settings.secret_key = SecretStr(Fernet.generate_key().decode())
    return settings


@pytest.fixture(name="classroom")
async def tutor_classroom(discord_sandbox: DiscordSandbox) -> DiscordSandbox:
    """The sample course imported, published and indexed for the tutor; the student enrolled."""
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)
    since = len(sandbox.http.calls)
    await import_sample(sandbox)
    # Indexing runs after the reply; a worker's first one also loads the in-process embedding model.
    indexed = await sandbox.http.wait_for_call("PATCH", "/webhooks/*/messages/@original", since=since, timeout=60)
    assert "8 lesson(s) ready" in json.dumps(indexed.json), indexed.json
    await sandbox.slash("course enroll", course="PY101")
    return sandbox


async def open_tutor(sandbox: DiscordSandbox, *, user: Any = None, lesson: str = "variables") -> tuple[Reply, str]:
    """`/tutor start` and the id of the thread it opened."""
    since = len(sandbox.http.calls)
    reply = await sandbox.slash("tutor start", user=user or sandbox.student, lesson=lesson)
    created = sandbox.http.calls_to("POST", "/channels/*/threads", since=since)
    assert created, reply.text
    return reply, created[-1].response["id"]


def chat_requests(server: FakeOpenAIServer, since: int = 0) -> list[dict[str, Any]]:
    return [request.json for request in server.requests[since:] if request.path == CHAT_PATH]


async def messages_of(database: Database, thread_id: str) -> list[ChatMessage]:
    async with database.session_scope() as session:
        return list(
            await session.scalars(
                select(ChatMessage)
                .join(ChatSession, ChatSession.id == ChatMessage.session_id)
                .where(ChatSession.thread_id == int(thread_id))
                .order_by(ChatMessage.id)
            )
        )


async def session_of(database: Database, thread_id: str) -> ChatSession:
    async with database.session_scope() as session:
        found = await session.scalar(select(ChatSession).where(ChatSession.thread_id == int(thread_id)))
    assert found is not None
    return found
