from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.tutor import cache, prompts, sessions
from bot.tutor.cache import CachedResponse, CacheKey
from bot.tutor.llm import LLMClient
from bot.tutor.sessions import TutorSession
from db.models import ContentItem, ContentKind, Course, Guild, Module, ModuleType, SourceMode, User
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


async def open_session_in(
    session: AsyncSession,
    course: CourseRows,
    *,
    thread_id: int,
    now: datetime,
    user_id: int = STUDENT,
    lesson: int | None = 0,
    max_open: int = 10,
) -> TutorSession:
    """A tutor session of `user_id` in `thread_id` on the course's lesson number `lesson`, or course-wide (None)."""
    return await sessions.open_session(
        session,
        guild_id=GUILD,
        user_id=user_id,
        thread_id=thread_id,
        source_mode=SourceMode.COURSE if lesson is None else SourceMode.LESSON,
        course_id=course.id,
        content_item_id=None if lesson is None else course.lesson_ids[lesson],
        max_open=max_open,
        now=now,
    )


async def store_lesson_greeting(session: AsyncSession, lesson_id: int, *, response: str) -> CachedResponse:
    """The lesson's cached greeting ("Hello") under the production tutor prompt, answered with `response`."""
    prompt = await prompts.resolve(session, name=prompts.TUTOR_SYSTEM_PROMPT)
    key = CacheKey(prompt_id=prompt.id, prompt_version=prompt.version, llm_provider="openai", llm_model="fake")
    root = await cache.store_root(
        session,
        content_item_id=lesson_id,
        greeting="Hello",
        key=key,
        response_chunks=[response],
        response_meta={},
        cache_enabled=True,
    )
    assert root is not None
    return root


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
