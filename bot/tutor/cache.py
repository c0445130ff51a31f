"""The response cache tree: answers to identical conversation paths through a lesson are replayed, not regenerated.

A lesson's tree starts with root nodes, one per greeting message; each message a student then sends
(typically a multiple-choice branch the tutor offered) is a child of the node that answered before.
Every node is keyed by its place (content item for a root, parent for a child), the SHA-256 of the
normalised message, and a `CacheKey` (prompt id and version, provider, model): when any of those
changes, lookups miss and a new tree grows beside the old one.

Lookups count hits atomically. Stores are insert-once: concurrent stores of the same key leave one
node, and every caller gets that node back. All calls take the course's `cache_enabled`; when it is
off they neither read nor write. A `CachePlace` is a node's place and key as one value, for a caller
that has already decided the answer is cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Update, bindparam, case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from bot.services import audit, courses
from db.models import CacheState, ChatSession, ContentItem, Course, LLMResponseCache
from db.session import dialect_insert


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What produced an answer; part of every node's key."""

    prompt_id: int
    prompt_version: int
    llm_provider: str
    llm_model: str


@dataclass(frozen=True, slots=True)
class CachedResponse:
    node_id: int
    parent_id: int | None  # None for a root (greeting) node
    content_item_id: int
    text: str
    chunks: tuple[str, ...]  # the streamed deltas, in order; they join to `text`
    meta: dict[str, Any]  # as stored with the original answer (model, prompt, tokens, latency)
    hit_count: int  # times served from the cache, this lookup included


@dataclass(frozen=True, slots=True)
class CachePlace:
    """Where in a lesson's tree an answer sits: a root (the greeting) or a child of `parent_id`, under `key`."""

    content_item_id: int
    parent_id: int | None
    key: CacheKey

    async def lookup(self, session: AsyncSession, message: str) -> CachedResponse | None:
        """`lookup_root` or `lookup_child` of `message` at this place."""
        if self.parent_id is None:
            return await lookup_root(
                session, content_item_id=self.content_item_id, greeting=message, key=self.key, cache_enabled=True
            )
        return await lookup_child(
            session, parent_id=self.parent_id, user_message=message, key=self.key, cache_enabled=True
        )

    async def store(
        self, session: AsyncSession, message: str, *, response_chunks: Sequence[str], response_meta: dict[str, Any]
    ) -> CachedResponse | None:
        """`store_root` or `store_child` of the answer to `message` at this place."""
        if self.parent_id is None:
            return await store_root(
                session,
                content_item_id=self.content_item_id,
                greeting=message,
                key=self.key,
                response_chunks=response_chunks,
                response_meta=response_meta,
                cache_enabled=True,
            )
        return await store_child(
            session,
            parent_id=self.parent_id,
            user_message=message,
            key=self.key,
            response_chunks=response_chunks,
            response_meta=response_meta,
            cache_enabled=True,
        )

    def writing_key(self, message: str) -> tuple[int, int | None, str, CacheKey]:
        """What identifies the answer to `message` at this place while it is being written."""
        return (self.content_item_id, self.parent_id, message_hash(message), self.key)


@dataclass(frozen=True, slots=True)
class CacheStats:
    nodes: int
    roots: int
    hits: int  # answers served from the cache instead of the model
    lessons: int  # content items that have a tree


@dataclass(frozen=True, slots=True)
class CourseCache:
    """A course's answer cache as staff see it: whether it is on, and how big and how used it is."""

    course_code: str
    enabled: bool  # the course's `cache_enabled`
    counts: CacheStats


def normalise_message(message: str) -> str:
    """The form a message is hashed in: surrounding whitespace dropped, inner runs collapsed, case folded."""
    return " ".join(message.split()).casefold()


def message_hash(message: str) -> str:
    return hashlib.sha256(normalise_message(message).encode()).hexdigest()


async def lookup_root(
    session: AsyncSession, *, content_item_id: int, greeting: str, key: CacheKey, cache_enabled: bool
) -> CachedResponse | None:
    """The cached answer to `greeting` at the start of the lesson, its hit counted; None on a miss."""
    if not cache_enabled:
        return None
    return await _hit(session, _HIT_ROOT, {"item": content_item_id, **_key_parameters(greeting, key)})


async def lookup_child(
    session: AsyncSession, *, parent_id: int, user_message: str, key: CacheKey, cache_enabled: bool
) -> CachedResponse | None:
    """The cached answer to `user_message` after node `parent_id`, its hit counted; None on a miss."""
    if not cache_enabled:
        return None
    return await _hit(session, _HIT_CHILD, {"parent": parent_id, **_key_parameters(user_message, key)})


async def store_root(
    session: AsyncSession,
    *,
    content_item_id: int,
    greeting: str,
    key: CacheKey,
    response_chunks: Sequence[str],
    response_meta: dict[str, Any],
    cache_enabled: bool,
) -> CachedResponse | None:
    """Store the answer to `greeting` as a root of the lesson's tree, or return the node already there.

    `response_chunks` are the deltas as they were streamed; the stored text is their concatenation, so
    a replay shows exactly what the model sent. None when caching is off, or when the lesson was
    deleted meanwhile.
    """
    if not cache_enabled:
        return None
    return await _store(
        session,
        content_item_id=content_item_id,
        parent_id=None,
        message=greeting,
        key=key,
        response_chunks=response_chunks,
        response_meta=response_meta,
    )


async def store_child(
    session: AsyncSession,
    *,
    parent_id: int,
    user_message: str,
    key: CacheKey,
    response_chunks: Sequence[str],
    response_meta: dict[str, Any],
    cache_enabled: bool,
) -> CachedResponse | None:
    """Store the answer to `user_message` under node `parent_id`, or return the node already there.

    As `store_root`; None also when the parent is gone (its tree was cleared meanwhile).
    """
    if not cache_enabled:
        return None
    content_item_id = await session.scalar(
        select(LLMResponseCache.content_item_id).where(LLMResponseCache.id == parent_id)
    )
    if content_item_id is None:
        return None
    return await _store(
        session,
        content_item_id=content_item_id,
        parent_id=parent_id,
        message=user_message,
        key=key,
        response_chunks=response_chunks,
        response_meta=response_meta,
    )


async def stats(session: AsyncSession, *, guild_id: int, course_code: str) -> CourseCache:
    """Size and use of the cache trees of the guild's course `course_code`; NotFound if no such course."""
    course = await courses.live_course(session, guild_id=guild_id, code=course_code)
    row = (
        await session.execute(
            select(
                func.count(LLMResponseCache.id),
                func.coalesce(func.sum(case((LLMResponseCache.parent_id.is_(None), 1), else_=0)), 0),
                func.coalesce(func.sum(LLMResponseCache.hit_count), 0),
                func.count(LLMResponseCache.content_item_id.distinct()),
            )
            .join(ContentItem, ContentItem.id == LLMResponseCache.content_item_id)
            .where(ContentItem.course_id == course.id)
        )
    ).one()
    counts = CacheStats(nodes=row[0], roots=row[1], hits=row[2], lessons=row[3])
    return CourseCache(course_code=course.code, enabled=course.cache_enabled, counts=counts)


async def clear(
    session: AsyncSession,
    *,
    actor_id: int,
    guild_id: int,
    course_code: str | None = None,
    content_item_id: int | None = None,
) -> int:
    """Delete the cache trees of the guild's course `course_code` or of one lesson (give exactly one); returns the
    nodes deleted. NotFound if the guild has no such course or lesson. Audited.

    Open sessions that were following a deleted branch stop using the cache (DIVERGED); the next
    conversation on the lesson grows a fresh tree.
    """
    if (course_code is None) == (content_item_id is None):
        raise ValueError("clear the cache of a course or of a content item, not both or neither")
    if course_code is not None:
        course = await courses.live_course(session, guild_id=guild_id, code=course_code)
        scope: ColumnElement[bool] = LLMResponseCache.content_item_id.in_(
            select(ContentItem.id).where(ContentItem.course_id == course.id)
        )
    else:
        item = await session.get(ContentItem, content_item_id)
        found = await session.get(Course, item.course_id) if item is not None else None
        if found is None or found.guild_id != guild_id:
            raise NotFound("lesson", str(content_item_id))
        course = found
        scope = LLMResponseCache.content_item_id == content_item_id
    doomed = select(LLMResponseCache.id).where(scope)
    nodes = await session.scalar(select(func.count()).select_from(doomed.subquery())) or 0
    await session.execute(
        update(ChatSession).where(ChatSession.cache_node_id.in_(doomed)).values(cache_state=CacheState.DIVERGED)
    )
    # Deleting the roots cascades to every child.
    await session.execute(delete(LLMResponseCache).where(scope, LLMResponseCache.parent_id.is_(None)))
    await audit.record(
        session,
        guild_id=course.guild_id,
        actor_id=actor_id,
        action="tutor.cache.clear",
        target_type="content_item" if content_item_id is not None else "course",
        target_ids=[content_item_id if content_item_id is not None else course.id],
        meta={"course_id": course.id, "nodes": nodes},
    )
    return nodes


# How a TA-approved answer shows when it is replayed: the student sees a person stands behind it.
TA_APPROVED_MARK = "✅ *Answer approved by a TA*\n\n"


async def approve_node(session: AsyncSession, *, node_id: int, text: str, approved_by: int) -> bool:
    """Make a TA's `text` the node's answer, marked TA-approved: every later replay of this place serves it. False
    when the node is gone (its tree was cleared)."""
    approved = TA_APPROVED_MARK + text
    node = await session.get(LLMResponseCache, node_id)
    if node is None:
        return False
    node.response_content = approved
    node.response_chunks = [approved]
    node.response_meta = {**node.response_meta, "ta_approved": True, "approved_by": approved_by}
    await session.flush()
    return True


# The columns after the node's place (content item or parent) in both partial unique indexes.
_KEY_COLUMNS = ("user_message_hash", "prompt_version", "llm_model_id", "llm_provider")


def _root_of(content_item_id: int) -> tuple[ColumnElement[bool], ...]:
    return (LLMResponseCache.parent_id.is_(None), LLMResponseCache.content_item_id == content_item_id)


def _key_matches(message: str, key: CacheKey) -> tuple[ColumnElement[bool], ...]:
    return (
        LLMResponseCache.user_message_hash == message_hash(message),
        LLMResponseCache.prompt_version == key.prompt_version,
        LLMResponseCache.llm_model_id == key.llm_model,
        LLMResponseCache.llm_provider == key.llm_provider,
    )


def _key_parameters(message: str, key: CacheKey) -> dict[str, Any]:
    return {
        "key_user_message_hash": message_hash(message),
        "key_prompt_version": key.prompt_version,
        "key_llm_model_id": key.llm_model,
        "key_llm_provider": key.llm_provider,
    }


def _hit_statement(*place: ColumnElement[bool]) -> Update:
    """Find a node and count its hit, in one statement so concurrent hits never lose a count. Built once per
    kind of place; the node's place and key are its parameters (see `_key_parameters`)."""
    return (
        update(LLMResponseCache)
        .where(*place, *(getattr(LLMResponseCache, column) == bindparam(f"key_{column}") for column in _KEY_COLUMNS))
        .values(hit_count=LLMResponseCache.hit_count + 1)
        .returning(LLMResponseCache)
        # The statement's parameters are bound at execution, so the ORM cannot evaluate its criteria in Python;
        # RETURNING with populate_existing refreshes the node instead.
        .execution_options(populate_existing=True, synchronize_session=False)
    )


_HIT_ROOT = _hit_statement(LLMResponseCache.parent_id.is_(None), LLMResponseCache.content_item_id == bindparam("item"))
_HIT_CHILD = _hit_statement(LLMResponseCache.parent_id == bindparam("parent"))


async def _hit(session: AsyncSession, statement: Update, parameters: dict[str, Any]) -> CachedResponse | None:
    node = await session.scalar(statement, parameters)
    return _response(node) if node is not None else None


async def _store(
    session: AsyncSession,
    *,
    content_item_id: int,
    parent_id: int | None,
    message: str,
    key: CacheKey,
    response_chunks: Sequence[str],
    response_meta: dict[str, Any],
) -> CachedResponse | None:
    chunks = list(response_chunks)
    if parent_id is None:
        conflict_target, partial_index_where = "content_item_id", text("parent_id IS NULL")
        place = _root_of(content_item_id)
    else:
        conflict_target, partial_index_where = "parent_id", text("parent_id IS NOT NULL")
        place = (LLMResponseCache.parent_id == parent_id,)
    insert_once = (
        dialect_insert(session, LLMResponseCache)
        .values(
            content_item_id=content_item_id,
            parent_id=parent_id,
            prompt_id=key.prompt_id,
            prompt_version=key.prompt_version,
            llm_provider=key.llm_provider,
            llm_model_id=key.llm_model,
            user_message_hash=message_hash(message),
            user_message=message,
            response_content="".join(chunks),
            response_meta=response_meta,
            response_chunks=chunks,
        )
        # Against the partial unique index of roots or of children: the loser of a race inserts nothing.
        .on_conflict_do_nothing(index_elements=[conflict_target, *_KEY_COLUMNS], index_where=partial_index_where)
    )
    try:
        async with session.begin_nested():
            await session.execute(insert_once)
    except IntegrityError:  # a foreign key: the lesson or the parent node was deleted by another transaction
        return None
    node = await session.scalar(
        select(LLMResponseCache).where(*place, *_key_matches(message, key)).execution_options(populate_existing=True)
    )
    assert node is not None  # inserted now, or the node that was in the way
    return _response(node)


def _response(node: LLMResponseCache) -> CachedResponse:
    return CachedResponse(
        node_id=node.id,
        parent_id=node.parent_id,
        content_item_id=node.content_item_id,
        text=node.response_content,
        chunks=tuple(node.response_chunks),
        meta=dict(node.response_meta),
        hit_count=node.hit_count,
    )
