from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from bot.config import Settings
from bot.tutor.llm import LLMClient
from db.models import ContentItem, ContentKind, Course, Guild, Module, ModuleType, User
from db.models.tutor import EMBEDDING_DIMENSIONS
from db.session import Database
from tests.fakes.openai_server import FakeOpenAIServer

API_KEY = "sk-test-4f9c2a7be1d05533"

MakeClient = Callable[..., LLMClient]


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def make_client(openai_server: FakeOpenAIServer) -> AsyncIterator[MakeClient]:
    """Builds `LLMClient`s against the fake server (small timeout and retries by default); closes them after."""
    clients: list[LLMClient] = []

    def make(**settings: object) -> LLMClient:
        options: dict[str, object] = {
            "base_url": openai_server.base_url,
            "api_key": API_KEY,
            "chat_model": "fake-chat",
            "embedding_model": "fake-embed",
            "timeout": 0.3,
            "max_retries": 1,
        }
        options.update(settings)
        client = LLMClient.from_settings(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# -- database fixtures for the tutor services (run on SQLite and PostgreSQL through `database`) ------------

GUILD = 7_000_000_000_000_001
STUDENT = 8_000_000_000_000_001
OTHER_STUDENT = 8_000_000_000_000_002
INSTRUCTOR = 8_000_000_000_000_003


@dataclass(frozen=True, slots=True)
class CourseRows:
    id: int
    lesson_ids: tuple[int, ...]


async def add_course(database: Database, *, code: str, lessons: int = 2) -> CourseRows:
    """A course of GUILD with one module holding `lessons` TEXT content items (guild and users created once)."""
    async with database.session_scope() as session:
        if await session.get(Guild, GUILD) is None:
            session.add(Guild(id=GUILD, name="School"))
            session.add_all(
                User(id=user, display_name=f"user {user % 1000}") for user in (STUDENT, OTHER_STUDENT, INSTRUCTOR)
            )
            await session.flush()
        course = Course(guild_id=GUILD, code=code, title=f"Course {code}")
        session.add(course)
        await session.flush()
        module = Module(course_id=course.id, module_type=ModuleType.UNIT, slug="unit-1", sequence_index=0)
        session.add(module)
        await session.flush()
        items = [
            ContentItem(
                course_id=course.id, module_id=module.id, kind=ContentKind.TEXT, slug=f"lesson-{n}", sequence_index=n
            )
            for n in range(lessons)
        ]
        session.add_all(items)
        await session.flush()
        return CourseRows(course.id, tuple(item.id for item in items))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shipped config.toml with a chat model named, so the tutor has a model to call."""
    settings.llm.chat_model = "from-config"
    return settings


@pytest.fixture
async def course(database: Database) -> CourseRows:
    return await add_course(database, code="PY101")


@pytest.fixture
async def other_course(database: Database, course: CourseRows) -> CourseRows:
    return await add_course(database, code="JS101")


@pytest.fixture
async def embedding_llm() -> AsyncIterator[LLMClient]:
    """An LLMClient whose embedding model answers with vectors as wide as the schema's embedding column."""
    async with FakeOpenAIServer(embedding_dim=EMBEDDING_DIMENSIONS) as server:
        client = LLMClient.from_settings(
            base_url=server.base_url, api_key=API_KEY, chat_model="fake-chat", embedding_model="fake-embed"
        )
        yield client
        await client.aclose()
