"""The response cache tree: identical paths replay without the model, and concurrent stores leave one node."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.tutor import cache, prompts, sessions
from bot.tutor.cache import CachedResponse, CacheKey
from db.models import CacheState, LLMResponseCache
from db.session import Database
from tests.tutor.conftest import GUILD, INSTRUCTOR, CourseRows, open_session_in

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
GREETING = "Start the lesson"
DELTAS = ["Welcome! ", "Loops repeat code.\n\n", "Pick one: **A** for, **B** while."]
META = {"model": "fake-chat", "prompt_version": 1, "total_tokens": 42}


@pytest.fixture
async def key(database: Database) -> CacheKey:
    async with database.session_scope() as session:
        prompt = await prompts.resolve(session, name=prompts.TUTOR_SYSTEM_PROMPT)
    return CacheKey(prompt_id=prompt.id, prompt_version=prompt.version, llm_provider="openai", llm_model="fake-chat")


async def store_greeting(database: Database, lesson_id: int, key: CacheKey) -> CachedResponse:
    async with database.session_scope() as session:
        root = await cache.store_root(
            session,
            content_item_id=lesson_id,
            greeting=GREETING,
            key=key,
            response_chunks=DELTAS,
            response_meta=META,
            cache_enabled=True,
        )
    assert root is not None
    return root


async def store_answer(
    session: AsyncSession,
    parent: CachedResponse,
    key: CacheKey,
    *,
    user_message: str = "A",
    chunks: tuple[str, ...] = ("x",),
    cache_enabled: bool = True,
) -> CachedResponse | None:
    """`cache.store_child`: the answer (`chunks`) to `user_message` under `parent`."""
    return await cache.store_child(
        session,
        parent_id=parent.node_id,
        user_message=user_message,
        key=key,
        response_chunks=list(chunks),
        response_meta=META,
        cache_enabled=cache_enabled,
    )


async def node_count(database: Database) -> int:
    async with database.session_scope() as session:
        return await session.scalar(select(func.count()).select_from(LLMResponseCache)) or 0


def test_messages_are_normalised_before_hashing() -> None:
    assert cache.normalise_message("  Option\tB,\n  PLEASE ") == "option b, please"
    assert cache.message_hash("Straße  B") == cache.message_hash("STRASSE b")
    assert cache.message_hash("option b") != cache.message_hash("option c")


async def test_a_stored_greeting_is_replayed_with_its_original_chunks(
    database: Database, course: CourseRows, key: CacheKey
) -> None:
    lesson = course.lesson_ids[0]
    async with database.session_scope() as session:
        assert (
            await cache.lookup_root(session, content_item_id=lesson, greeting=GREETING, key=key, cache_enabled=True)
            is None
        )
    stored = await store_greeting(database, lesson, key)

    async with database.session_scope() as session:
        first = await cache.lookup_root(
            session, content_item_id=lesson, greeting="  start THE lesson ", key=key, cache_enabled=True
        )
        second = await cache.lookup_root(
            session, content_item_id=lesson, greeting=GREETING, key=key, cache_enabled=True
        )

    assert first is not None and second is not None
    assert first.chunks == tuple(DELTAS) and first.text == "".join(DELTAS) and first.meta == META
    assert (stored.hit_count, first.hit_count, second.hit_count) == (0, 1, 2)
    assert first.node_id == second.node_id == stored.node_id and first.parent_id is None


async def test_a_branch_is_a_child_found_only_under_its_parent(
    database: Database, course: CourseRows, key: CacheKey
) -> None:
    lesson, other_lesson = course.lesson_ids
    root = await store_greeting(database, lesson, key)
    other_root = await store_greeting(database, other_lesson, key)
    async with database.session_scope() as session:
        child = await store_answer(session, root, key, chunks=("A for loop ", "walks a sequence."))
    assert child is not None and child.parent_id == root.node_id and child.content_item_id == lesson

    async with database.session_scope() as session:
        hit = await cache.lookup_child(session, parent_id=root.node_id, user_message=" a ", key=key, cache_enabled=True)
        other_branch = await cache.lookup_child(
            session, parent_id=root.node_id, user_message="B", key=key, cache_enabled=True
        )
        other_parent = await cache.lookup_child(
            session, parent_id=other_root.node_id, user_message="A", key=key, cache_enabled=True
        )

    assert hit is not None and hit.node_id == child.node_id and hit.text == "A for loop walks a sequence."
    assert other_branch is None and other_parent is None


@pytest.mark.parametrize(
    "changed",
    [{"prompt_version": 2}, {"llm_model": "fake-chat-2"}, {"llm_provider": "ollama"}],
    ids=["prompt version", "model", "provider"],
)
async def test_another_prompt_version_model_or_provider_misses(
    database: Database, course: CourseRows, key: CacheKey, changed: dict[str, Any]
) -> None:
    lesson = course.lesson_ids[0]
    await store_greeting(database, lesson, key)
    other_key = dataclasses.replace(key, **changed)

    async with database.session_scope() as session:
        miss = await cache.lookup_root(
            session, content_item_id=lesson, greeting=GREETING, key=other_key, cache_enabled=True
        )
    assert miss is None
    other_root = await store_greeting(database, lesson, other_key)
    assert await node_count(database) == 2 and other_root.hit_count == 0


async def test_concurrent_stores_of_the_same_key_leave_one_node(
    database: Database, course: CourseRows, key: CacheKey
) -> None:
    lesson = course.lesson_ids[0]
    roots = await asyncio.gather(*(store_greeting(database, lesson, key) for _ in range(4)))
    assert len({root.node_id for root in roots}) == 1

    async def store_branch() -> CachedResponse | None:
        async with database.session_scope() as session:
            return await store_answer(session, roots[0], key, user_message="B", chunks=("While loops check first.",))

    children = await asyncio.gather(*(store_branch() for _ in range(4)))

    assert len({child.node_id for child in children if child is not None}) == 1
    assert await node_count(database) == 2


async def test_nothing_is_read_or_written_when_the_course_disables_the_cache(
    database: Database, course: CourseRows, key: CacheKey
) -> None:
    lesson = course.lesson_ids[0]
    root = await store_greeting(database, lesson, key)
    async with database.session_scope() as session:
        assert (
            await cache.lookup_root(session, content_item_id=lesson, greeting=GREETING, key=key, cache_enabled=False)
            is None
        )
        assert await store_answer(session, root, key, cache_enabled=False) is None
        assert (await session.get(LLMResponseCache, root.node_id)).hit_count == 0  # type: ignore[union-attr]
    assert await node_count(database) == 1


async def test_stats_and_clearing_a_course_which_stops_sessions_on_cleared_branches(
    database: Database, course: CourseRows, other_course: CourseRows, key: CacheKey
) -> None:
    lesson = course.lesson_ids[0]
    root = await store_greeting(database, lesson, key)
    await store_greeting(database, course.lesson_ids[1], key)
    await store_greeting(database, other_course.lesson_ids[0], key)
    async with database.session_scope() as session:
        await store_answer(session, root, key)
        await cache.lookup_root(session, content_item_id=lesson, greeting=GREETING, key=key, cache_enabled=True)
        tutor = await open_session_in(session, course, thread_id=1, now=NOW)
        await sessions.follow_cache_node(session, session_id=tutor.id, node_id=root.node_id)
        before = (await cache.stats(session, guild_id=GUILD, course_code="PY101")).counts

        cleared = await cache.clear(session, guild_id=GUILD, course_code="PY101", actor_id=INSTRUCTOR)

        after = (await cache.stats(session, guild_id=GUILD, course_code="PY101")).counts
        untouched = (await cache.stats(session, guild_id=GUILD, course_code="JS101")).counts
        following = await sessions.session_for_thread(session, thread_id=1)
        [entry] = await audit.recent(session, guild_id=GUILD, action="tutor.cache.clear")

    assert before == cache.CacheStats(nodes=3, roots=2, hits=1, lessons=2)
    assert cleared == 3 and after == cache.CacheStats(nodes=0, roots=0, hits=0, lessons=0)
    assert untouched.nodes == 1
    assert following is not None and following.cache_state is CacheState.DIVERGED and following.cache_node_id is None
    assert entry.meta == {"course_id": course.id, "nodes": 3} and entry.actor_id == INSTRUCTOR


async def test_clearing_one_lesson_keeps_the_others(database: Database, course: CourseRows, key: CacheKey) -> None:
    kept, cleared = course.lesson_ids
    await store_greeting(database, kept, key)
    await store_greeting(database, cleared, key)
    async with database.session_scope() as session:
        assert await cache.clear(session, guild_id=GUILD, content_item_id=cleared, actor_id=INSTRUCTOR) == 1
        assert await cache.lookup_root(session, content_item_id=kept, greeting=GREETING, key=key, cache_enabled=True)


async def test_a_branch_under_a_cleared_parent_is_not_stored(
    database: Database, course: CourseRows, key: CacheKey
) -> None:
    root = await store_greeting(database, course.lesson_ids[0], key)
    async with database.session_scope() as session:
        await cache.clear(session, guild_id=GUILD, course_code="PY101", actor_id=INSTRUCTOR)
        orphan = await store_answer(session, root, key)
    assert orphan is None and await node_count(database) == 0


async def test_an_answer_for_a_lesson_deleted_meanwhile_is_not_stored(
    database: Database, course: CourseRows, key: CacheKey
) -> None:
    async with database.session_scope() as session:
        stored = await cache.store_root(
            session,
            content_item_id=999_999,
            greeting=GREETING,
            key=key,
            response_chunks=DELTAS,
            response_meta=META,
            cache_enabled=True,
        )
        assert stored is None
        # The caller's transaction is still usable: only the savepoint was rolled back.
        counts = (await cache.stats(session, guild_id=GUILD, course_code="PY101")).counts
        assert counts == cache.CacheStats(nodes=0, roots=0, hits=0, lessons=0)
