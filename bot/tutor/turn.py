"""One tutor answer in the making: `Turn` streams its text, then stores the outcome.

A turn is made by `bot.tutor.tutor.Tutor` after its answer was recorded, empty and STREAMING (`PendingAnswer`).
Its text comes from one of three writers: the model (`ModelCall`), the response cache (a `CachedResponse`,
replayed chunk by chunk as first streamed), or a fixed text when there is no model (`answers.fallback_text`).
No transaction is open while it streams; `finish` stores the outcome in a unit of work of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.tutor import sessions
from bot.tutor.answers import Answer, Source, cited_sources, split_branches
from bot.tutor.backends import LLMConnection
from bot.tutor.cache import CachedResponse, CachePlace
from bot.tutor.errors import LLMError, LLMTooSlow
from bot.tutor.llm import ChatMessage as PromptMessage
from bot.tutor.llm import LLMClient, StreamFinished, TextDelta
from bot.tutor.prompts import PromptVersion
from bot.tutor.sessions import Citation, GenerationMeta, SessionEnded
from db.models import GenerationStatus, MaterialChunk
from db.session import Database

RETRIEVAL_ONLY_PROVIDER = "retrieval-only"


@dataclass(frozen=True, slots=True)
class PendingAnswer:
    """The recorded, still empty answer a turn fills in, and what it answers."""

    id: int  # chat_messages.id of the answer
    session_id: int  # the tutor session's
    request: str  # what the model is asked: the student's message, a branch, or the greeting request
    user_message_id: int | None  # the student's recorded message (None for the greeting)
    sources: tuple[Source, ...]  # the passages the answer is given, numbered as it cites them
    started: float  # `time.perf_counter()` when the turn began: its latency is measured from there


@dataclass(frozen=True, slots=True)
class ModelCall:
    """A live answer: the model, the prompt version it was composed from, the messages sent."""

    client: LLMClient
    connection: LLMConnection
    prompt: PromptVersion
    messages: tuple[PromptMessage, ...]
    place: CachePlace | None  # where the completed answer grows the cache tree; None: it is not cached
    deadline_seconds: float  # the whole answer, retries included, from the turn's start


# Who writes a turn's text: the model, a replay from the cache, or a fixed text when there is no model.
Writer = ModelCall | CachedResponse | str


class Turn:
    """One tutor answer in the making. Iterate `deltas()` once, then call `finish()` exactly once."""

    def __init__(
        self, database: Database, answer: PendingAnswer, writer: Writer, *, release: Callable[[], None] | None = None
    ) -> None:
        """`release` is called when the turn is finished: it tells turns waiting for this answer that it is stored."""
        self._database = database
        self._answer = answer
        self._writer = writer
        self._release = release
        self._chunks: list[str] = []
        self._finished: StreamFinished | None = None
        self._problem: LLMError | None = None

    @property
    def cached(self) -> bool:
        return isinstance(self._writer, CachedResponse)

    async def deltas(self) -> AsyncIterator[str]:
        """The answer's text piece by piece; the pieces join to the answer.

        A model failure ends the iteration early without raising; `finish` then reports it. Close the
        iterator (`contextlib.aclosing`) to stop early: the model's stream is closed with it.
        """
        writer = self._writer
        if isinstance(writer, CachedResponse):
            for chunk in writer.chunks:
                self._chunks.append(chunk)
                yield chunk
            return
        if isinstance(writer, str):
            self._chunks.append(writer)
            yield writer
            return
        config = writer.prompt.config
        try:
            stream = writer.client.stream(
                writer.messages,
                max_tokens=int(max_tokens) if (max_tokens := _number_or_none(config.get("max_tokens"))) else None,
                temperature=_number_or_none(config.get("temperature")),
            )
            async with aclosing(stream) as events:
                while (event := await self._next_before_deadline(events, writer.deadline_seconds)) is not None:
                    if isinstance(event, TextDelta):
                        self._chunks.append(event.text)
                        yield event.text
                    else:
                        self._finished = event
        except LLMError as problem:
            self._problem = problem

    async def _next_before_deadline(
        self, events: AsyncIterator[TextDelta | StreamFinished], deadline_seconds: float
    ) -> TextDelta | StreamFinished | None:
        """The stream's next event, None at its end; `LLMTooSlow` once the turn's deadline has passed.

        The SDK's timeout bounds each attempt, so retries after stalls could add up to minutes: the deadline
        bounds the whole answer. Only the wait for the model is bounded here, never the caller's work between
        pieces, so a cancellation cannot land in the caller's code.
        """
        remaining = deadline_seconds - (time.perf_counter() - self._answer.started)
        try:
            async with asyncio.timeout(max(remaining, 0)):
                return await anext(events)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise LLMTooSlow(deadline_seconds) from None

    async def finish(self, *, discord_message_id: int | None = None, stopped: bool = False) -> Answer:
        """Store the outcome and return what to show.

        COMPLETED when the whole answer was produced; FAILED when the model failed (with `Answer.problem`);
        STOPPED when the caller stopped early (`stopped`, e.g. the thread went away). A completed model answer
        grows the lesson's cache tree; a completed replay moves the tutor session along it.
        """
        text = "".join(self._chunks)
        if self._problem is not None:
            status = GenerationStatus.FAILED
        elif stopped or (isinstance(self._writer, ModelCall) and self._finished is None):
            status = GenerationStatus.STOPPED
        else:
            status = GenerationStatus.COMPLETED
        meta = self._meta() if status is not GenerationStatus.FAILED else None
        by_model = not isinstance(self._writer, str)
        shown, branches = split_branches(text) if by_model else (text, ())
        try:
            async with self._database.session_scope() as session:
                await sessions.finish_answer(
                    session,
                    message_id=self._answer.id,
                    content=text,
                    status=status,
                    meta=meta,
                    citations=await self._citations(session),
                    discord_message_id=discord_message_id,
                )
                if status is GenerationStatus.COMPLETED and meta is not None:
                    await self._move_along_cache(session, meta)
        finally:
            if self._release is not None:
                self._release()
        sources = self._answer.sources
        return Answer(
            id=self._answer.id,
            status=status,
            text=shown,
            sources=cited_sources(shown, sources) if by_model else sources,
            branches=branches if status is GenerationStatus.COMPLETED else (),
            by_model=by_model,
            cached=self.cached,
            problem=str(self._problem) if self._problem is not None else None,
            retry_user_message_id=self._answer.user_message_id,
        )

    def _meta(self) -> GenerationMeta:
        elapsed = round((time.perf_counter() - self._answer.started) * 1000)
        writer = self._writer
        if isinstance(writer, CachedResponse):
            stored = writer.meta
            return GenerationMeta(
                model=str(stored.get("model") or ""),
                provider=str(stored.get("provider") or ""),
                prompt_name=stored.get("prompt_name"),
                prompt_version=stored.get("prompt_version"),
                prompt_tokens=stored.get("prompt_tokens"),
                completion_tokens=stored.get("completion_tokens"),
                latency_ms=elapsed,
                cached=True,
            )
        if isinstance(writer, str):
            return GenerationMeta(
                model="",
                provider=RETRIEVAL_ONLY_PROVIDER,
                prompt_name=None,
                prompt_version=None,
                prompt_tokens=None,
                completion_tokens=None,
                latency_ms=elapsed,
            )
        finished = self._finished
        return GenerationMeta(
            model=finished.model if finished is not None else writer.connection.model,
            provider=writer.connection.provider,
            prompt_name=writer.prompt.name,
            prompt_version=writer.prompt.version,
            prompt_tokens=finished.prompt_tokens if finished is not None else None,
            completion_tokens=finished.completion_tokens if finished is not None else None,
            latency_ms=finished.latency_ms if finished is not None else elapsed,
        )

    async def _citations(self, session: AsyncSession) -> list[Citation]:
        sources = self._answer.sources
        chunk_ids = [source.chunk_id for source in sources if source.chunk_id is not None]
        if isinstance(self._writer, CachedResponse) and chunk_ids:
            # A replayed answer may cite chunks re-indexed away since; those keep their number but lose the link.
            existing = set(await session.scalars(select(MaterialChunk.id).where(MaterialChunk.id.in_(chunk_ids))))
            chunk_ids = [chunk_id for chunk_id in chunk_ids if chunk_id in existing]
        scores = {source.chunk_id: source.score for source in sources}
        return [Citation(chunk_id=chunk_id, score=scores[chunk_id]) for chunk_id in chunk_ids]

    async def _move_along_cache(self, session: AsyncSession, meta: GenerationMeta) -> None:
        writer, answer = self._writer, self._answer
        node_id: int | None = None
        if isinstance(writer, CachedResponse):
            node_id = writer.node_id
        elif isinstance(writer, ModelCall) and writer.place is not None:
            response_meta = meta.as_json() | {"sources": [source.as_json() for source in answer.sources]}
            node = await writer.place.store(
                session, answer.request, response_chunks=self._chunks, response_meta=response_meta
            )
            node_id = node.node_id if node is not None else None
        if node_id is not None:
            with suppress(SessionEnded):  # ended while answering: nothing left to follow
                await sessions.follow_cache_node(session, session_id=answer.session_id, node_id=node_id)


def _number_or_none(value: object) -> float | None:
    """A sampling setting of a prompt's config (admin-written JSON), or None when it is missing or not a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
