"""The tutor's facade and its pipeline: what happens between a student's message in a tutor thread and the answer.

`Tutor` is what the Discord cog calls. It takes the `Database` and owns its units of work (`bot.tutor`'s package
docstring says why). Every answer (`greet`, `answer`, `take_branch`, `retry`) is a `Turn` (`bot.tutor.turn`):

1. a short transaction reads the tutor session, the models, the prompt and the quiz guard, records the student's
   message (input cap, rate limit) and looks the answer up in the response cache;
2. on a miss: the question is embedded (no transaction open), then a second short transaction checks the
   guild's token budget, retrieves passages and the recent conversation, and records an empty answer;
3. `Turn.deltas()` streams the answer, from the model, from the cache (chunk by chunk, as first streamed) or,
   with no model (or no budget left), from the retrieved passages alone, saying so; no transaction is open;
4. `Turn.finish()` stores the outcome (COMPLETED, STOPPED or FAILED with the reason) with its meta and
   citations, grows the cache tree, and returns the `Answer` (`bot.tutor.answers`) to show.

Guarantees callers can rely on: model failures never raise out of a turn (the answer is FAILED and the
student's message stays recorded, so `retry` can answer it again); retrieved text reaches the model fenced as
untrusted data; and while the student has a quiz attempt IN_PROGRESS in the course, nothing of that quiz is
placed in a prompt (`bot.tutor.quiz_guard`), and the cache is bypassed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.clock import Clock
from bot.config import Settings
from bot.errors import NotFound
from bot.services import navigation, published
from bot.services.enrollment import active_enrollment
from bot.tutor import backends, escalations, prompts, retrieval, sessions
from bot.tutor.answers import (
    MODEL_UNAVAILABLE_NOTICE,
    Source,
    fallback_text,
    numbered_sources,
    prompt_history,
    system_message,
)
from bot.tutor.backends import LLMConnection
from bot.tutor.cache import CachedResponse, CacheKey, CachePlace
from bot.tutor.embeddings import QueryEmbedder, local_embedder, query_embedder
from bot.tutor.errors import AlreadyAnsweredAgain, LLMError, NotALesson
from bot.tutor.guardrails import check_input_length
from bot.tutor.llm import ChatMessage as PromptMessage
from bot.tutor.llm import LLMClient
from bot.tutor.quiz_guard import NO_QUIZ, QuizGuard, read_quiz_guard
from bot.tutor.retrieval import Passage
from bot.tutor.secrets import SecretUnreadable
from bot.tutor.sessions import SessionCourse, TokenBudgetExhausted, TutorSession
from bot.tutor.turn import ModelCall, PendingAnswer, Turn
from db.models import (
    CacheState,
    ChatMessage,
    ChatSession,
    ContentItem,
    ContentKind,
    ContentRevision,
    MessageRole,
    ModelPurpose,
    SessionEndReason,
    SourceMode,
)
from db.session import Database

log = logging.getLogger(__name__)

# The student message a lesson's greeting answers: the key of the root of the lesson's cache tree.
GREETING_REQUEST = (
    "Greet me and introduce this lesson in two or three sentences: what I will learn and why it matters. "
    "Then offer me two or three things we could do next."
)
# What the fixed "check my understanding" branch sends; cached like any branch.
CHECK_UNDERSTANDING_REQUEST = (
    "Check my understanding: ask me one short question about what we just covered, then wait for my answer."
)
PROMPT_PASSAGES = 5
SHOWN_PASSAGES = 3
# A student whose answer another student's turn is writing waits this long for it before writing their own.
WAIT_FOR_SAME_ANSWER_SECONDS = 120.0
# What `Tutor._usable_connection` gives for a configured model whose stored API key cannot be decrypted.
UNUSABLE = LLMConnection(provider="", base_url="", model="", api_key=None, embedding_dimensions=None)


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What `/tutor start` will open, checked before a thread is created."""

    guild_id: int
    user_id: int
    course_id: int
    course_code: str
    content_item_id: int | None  # None: the whole course (the student has opened no lesson yet)
    topic: str  # the lesson's title, or the course's
    existing: TutorSession | None  # the student's tutor session already open in this guild, if any


@dataclass(frozen=True, slots=True)
class _ChatModel:
    """The chat model a turn would answer with, and the system prompt resolved for it."""

    connection: LLMConnection
    prompt: prompts.PromptVersion
    system_text: str  # the prompt, composed


@dataclass(frozen=True, slots=True)
class _Context:
    """What a turn's first transaction read and recorded. `topic` and `embedder` are read only when the answer is
    not in the cache (`_for_fresh_answer`): a replay needs neither."""

    tutor_session: TutorSession
    # Its row, held so the writes to it later in the first transaction (`sessions.record_user_message`,
    # `sessions.start_answer`) find it in the identity map instead of selecting it again.
    tutor_session_row: ChatSession
    request: str  # what the model is asked: the student's message, a branch, or the greeting request
    greeting: bool
    user_message_id: int | None  # the student's recorded message (None for the greeting)
    course: SessionCourse | None
    chat: _ChatModel | None
    notice: str | None  # why there is no model although one is configured (MODEL_UNAVAILABLE_NOTICE)
    guard: QuizGuard
    place: CachePlace | None
    started: float
    topic: str = ""
    embedder: QueryEmbedder | None = None


class Tutor:
    """The tutor's API for the Discord cog: tutor sessions bound to threads, answers as `Turn`s, feedback, endings.

    Holds the LLM clients it built (one per connection, reused while the admin's settings stay the same);
    close it with `aclose()`.
    """

    def __init__(self, database: Database, settings: Settings, clock: Clock) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self._clients: dict[tuple[str, str, str | None, str], LLMClient] = {}
        # Answers being written for a cache place, so students arriving meanwhile wait and replay it.
        self._writing: dict[tuple[int, int | None, str, CacheKey], asyncio.Future[None]] = {}
        self._unreadable_reported: set[ModelPurpose] = set()

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # -- tutor sessions ---------------------------------------------------------------------------------------

    async def plan_session(
        self, *, guild_id: int, user_id: int, course_code: str | None = None, lesson: str | None = None
    ) -> SessionPlan:
        """Check that the student may open a tutor session and on what; nothing is written.

        The topic is `lesson` (a slug of the student's course), else the lesson the student opened last, else
        the whole course. Raises `NotEnrolled`, `NotFound`, `NotALesson` or `TooManyOpenSessions`.
        """
        async with self.database.session_scope() as session:
            enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
            topic: tuple[int, str] | None = None
            if lesson:
                found = (
                    await session.execute(published.items(enrollment.course_id).where(ContentItem.slug == lesson))
                ).first()
                if found is None:
                    raise NotFound("lesson", lesson)
                if found.kind is ContentKind.QUIZ:
                    raise NotALesson(lesson)
                topic = (found.id, found.title)
            elif opened := await navigation.last_opened_lesson(session, enrollment, user_id=user_id):
                topic = (opened.item_id, opened.title)
            existing = await sessions.open_session_of(session, guild_id=guild_id, user_id=user_id)
            open_count = await sessions.open_session_count(session, guild_id=guild_id)
            # A student with a tutor session open replaces it (or is sent back to it): the count does not grow.
            if existing is None and open_count >= self.settings.tutor.max_open_threads:
                raise sessions.TooManyOpenSessions(self.settings.tutor.max_open_threads)
        return SessionPlan(
            guild_id=guild_id,
            user_id=user_id,
            course_id=enrollment.course_id,
            course_code=enrollment.course_code,
            content_item_id=topic[0] if topic is not None else None,
            topic=topic[1] if topic is not None else enrollment.course_title,
            existing=existing,
        )

    async def open_session(self, plan: SessionPlan, *, thread_id: int) -> TutorSession:
        """Bind a new tutor session to the thread created for `plan`. Raises `TooManyOpenSessions` (the cap is
        re-checked)."""
        async with self.database.session_scope() as session:
            return await sessions.open_session(
                session,
                guild_id=plan.guild_id,
                user_id=plan.user_id,
                thread_id=thread_id,
                source_mode=SourceMode.LESSON if plan.content_item_id is not None else SourceMode.COURSE,
                course_id=plan.course_id,
                content_item_id=plan.content_item_id,
                max_open=self.settings.tutor.max_open_threads,
                now=self.clock.now(),
            )

    async def session_for_thread(self, thread_id: int) -> TutorSession | None:
        async with self.database.session_scope() as session:
            return await sessions.session_for_thread(session, thread_id=thread_id)

    async def open_session_of(self, *, guild_id: int, user_id: int) -> TutorSession | None:
        """The student's open tutor session in the guild, if any."""
        async with self.database.session_scope() as session:
            return await sessions.open_session_of(session, guild_id=guild_id, user_id=user_id)

    async def end(self, *, session_id: int, reason: SessionEndReason) -> TutorSession:
        """End a tutor session; ending it again changes nothing."""
        async with self.database.session_scope() as session:
            return await sessions.end_session(session, session_id=session_id, reason=reason, now=self.clock.now())

    async def rate(self, *, message_id: int, user_id: int, rating: int) -> sessions.Feedback:
        """Record the student's 👍 (+1) or 👎 (-1) on an answer; only the tutor session's student may
        (`NotTheAsker`)."""
        async with self.database.session_scope() as session:
            return await sessions.rate_answer(session, message_id=message_id, user_id=user_id, rating=rating)

    # -- answers ----------------------------------------------------------------------------------------------

    async def greet(self, *, thread_id: int) -> Turn:
        """The tutor session's first answer: an introduction to its lesson, from the cache when another student
        had it."""
        return await self._begin(thread_id, request=GREETING_REQUEST, greeting=True)

    async def answer(self, *, thread_id: int, user_id: int, text: str, discord_message_id: int | None = None) -> Turn:
        """Answer a message the student typed (free-form: the tutor session leaves the cache tree, DIVERGED).

        Raises `MessageTooLong` (nothing recorded, nothing sent), `TutorRateLimited`, `SessionEnded`,
        `NotATutorThread` or `NotYourThread`.
        """
        check_input_length(text, self.settings.tutor.max_input_chars)
        return await self._begin(
            thread_id, request=text.strip(), user_id=user_id, record=True, discord_message_id=discord_message_id
        )

    async def take_branch(self, *, thread_id: int, user_id: int, answer_id: int, option: str | None) -> Turn:
        """Answer a follow-up the tutor offered under answer `answer_id`: `option` is its label, None for
        "check my understanding". Taken under the latest answer of a tutor session still on its cache path, it is
        looked up (and stored) as a branch of the lesson's cache tree; anywhere else it counts as free-form.
        """
        return await self._begin(
            thread_id,
            request=option or CHECK_UNDERSTANDING_REQUEST,
            user_id=user_id,
            record=True,
            branch_of=answer_id,
        )

    async def retry(self, *, thread_id: int, user_id: int, answer_id: int, user_message_id: int | None) -> Turn:
        """Answer again the student message (None: the greeting) whose answer `answer_id` failed.

        Refused with `AlreadyAnsweredAgain` once a newer answer exists in the tutor session.
        """
        async with self.database.session_scope() as session:
            opening = await sessions.turn_opening(session, thread_id=thread_id, user_id=user_id)
            if opening.latest_answer_id != answer_id:
                raise AlreadyAnsweredAgain()
            request = GREETING_REQUEST
            if user_message_id is not None:
                asked = await session.scalar(
                    select(ChatMessage.content).where(
                        ChatMessage.id == user_message_id,
                        ChatMessage.session_id == opening.row.id,
                        ChatMessage.role == MessageRole.USER,
                    )
                )
                if asked is None:
                    raise NotFound("message", str(user_message_id))
                request = asked
        return await self._begin(
            thread_id,
            request=request,
            user_id=user_id,
            greeting=user_message_id is None,
            retry_of=user_message_id,
        )

    async def _begin(
        self,
        thread_id: int,
        *,
        request: str,
        user_id: int | None = None,
        greeting: bool = False,
        record: bool = False,
        discord_message_id: int | None = None,
        branch_of: int | None = None,
        retry_of: int | None = None,
    ) -> Turn:
        started = time.perf_counter()
        async with self.database.session_scope() as session:
            context = await self._read_and_record(
                session,
                thread_id,
                request=request,
                user_id=user_id,
                greeting=greeting,
                record=record,
                discord_message_id=discord_message_id,
                branch_of=branch_of,
                retry_of=retry_of,
                started=started,
            )
            place = context.place
            hit = await place.lookup(session, request) if place is not None else None
            if hit is not None:
                return await self._replay(session, context, hit)
            context = await self._for_fresh_answer(session, context)
        release = None
        if place is not None:
            writing = self._writing.get(place.writing_key(request))
            if writing is not None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(writing), WAIT_FOR_SAME_ANSWER_SECONDS)
                async with self.database.session_scope() as session:
                    hit = await place.lookup(session, request)
                    if hit is not None:
                        return await self._replay(session, context, hit)
            release = self._claim(place, request)
        metrics.TUTOR_CACHE.labels("fresh").inc()
        try:
            return await self._fresh(context, release)
        except BaseException:
            if release is not None:
                release()
            raise

    async def _read_and_record(
        self,
        session: AsyncSession,
        thread_id: int,
        *,
        request: str,
        user_id: int | None,
        greeting: bool,
        record: bool,
        discord_message_id: int | None,
        branch_of: int | None,
        retry_of: int | None,
        started: float,
    ) -> _Context:
        """The turn's first transaction: what it needs to know, and the student's message recorded."""
        opening = await sessions.turn_opening(session, thread_id=thread_id, user_id=user_id)
        tutor_session, course = sessions.tutor_session_of(opening.row), opening.course
        if user_id is not None and await escalations.held(session, session_id=tutor_session.id):
            raise escalations.TutorPaused()
        connection = await self._usable_connection(session, ModelPurpose.CHAT)
        chat, notice = None, None
        if connection is UNUSABLE:  # configured, but its key can't be read: answered from retrieval, the operator told
            notice = MODEL_UNAVAILABLE_NOTICE
        elif connection is not None:
            prompt = await prompts.resolve(session, name=prompts.TUTOR_SYSTEM_PROMPT)
            chat = _ChatModel(connection, prompt, await prompts.compose(session, prompt))
        guard = NO_QUIZ
        if opening.quiz_in_progress:
            guard = await read_quiz_guard(session, user_id=tutor_session.user_id, course_id=tutor_session.course_id)
        place = _cache_place(
            tutor_session,
            chat=chat,
            course=course,
            guard=guard,
            greeting=greeting,
            branch_of=branch_of,
            latest_answer_id=opening.latest_answer_id,
            retried=retry_of is not None,
        )
        user_message_id = retry_of
        if record:
            recorded = await sessions.record_user_message(
                session,
                session_id=tutor_session.id,
                content=request,
                rate_limit_per_minute=self.settings.tutor.rate_limit_per_minute,
                now=self.clock.now(),
                follows_cached_branch=place is not None,
                discord_message_id=discord_message_id,
            )
            user_message_id = recorded.id
        return _Context(
            tutor_session=tutor_session,
            tutor_session_row=opening.row,
            request=request,
            greeting=greeting,
            user_message_id=user_message_id,
            course=course,
            chat=chat,
            notice=notice,
            guard=guard,
            place=place,
            started=started,
        )

    async def _for_fresh_answer(self, session: AsyncSession, context: _Context) -> _Context:
        """The context completed with what only an answer not found in the cache needs."""
        configured = await self._usable_connection(session, ModelPurpose.EMBEDDING)
        course = context.course
        return replace(
            context,
            topic=await _topic(session, context.tutor_session, course),
            embedder=await query_embedder(
                session, course_id=course.id, configured=None if configured is UNUSABLE else configured
            )
            if course is not None
            else None,
        )

    async def _fresh(self, context: _Context, release: Callable[[], None] | None) -> Turn:
        """A turn that writes its answer: retrieval, then the model, or the passages alone when there is none."""
        chat, course, guard = context.chat, context.course, context.guard
        query = context.topic if context.greeting else context.request
        # A greeting without a model is a fixed text: nothing to search for.
        searching = course is not None and (chat is not None or not context.greeting)
        query_embedding = await self._embed(context.embedder, query) if searching else None
        async with self.database.session_scope() as session:
            notice = context.notice
            if chat is not None:
                try:
                    await sessions.check_token_budget(
                        session,
                        guild_id=context.tutor_session.guild_id,
                        daily_budget=self.settings.tutor.daily_token_budget,
                        now=self.clock.now(),
                    )
                except TokenBudgetExhausted as exhausted:
                    chat, notice = None, str(exhausted)
            passages: list[Passage] = []
            if course is not None and searching:
                found = await retrieval.search(
                    session,
                    course_id=course.id,
                    query=query,
                    query_embedding=query_embedding,
                    embedding_model=context.embedder.model if context.embedder is not None else None,
                    prefer_content_item_id=context.tutor_session.content_item_id,
                    k=PROMPT_PASSAGES * 2 if guard.active else PROMPT_PASSAGES,
                )
                passages = [passage for passage in found if guard.allows_passage(passage)]
            passages = passages[: PROMPT_PASSAGES if chat is not None else SHOWN_PASSAGES]
            sources = numbered_sources(passages)
            history: list[PromptMessage] = []
            if chat is not None and not context.greeting:
                history = await prompt_history(
                    session, context.tutor_session.id, before=context.user_message_id, guard=guard
                )
            answer = await self._start_answer(session, context, sources)
        if chat is None:
            text = fallback_text(passages, topic=context.topic, greeting=context.greeting, notice=notice)
            return Turn(self.database, answer, text, release=release)
        system = system_message(
            chat.system_text, course, context.topic, passages, sources, quiz_in_progress=guard.active
        )
        messages = ({"role": "system", "content": system}, *history, {"role": "user", "content": context.request})
        call = ModelCall(
            self._client(chat.connection),
            chat.connection,
            chat.prompt,
            messages,
            context.place,
            deadline_seconds=self.settings.tutor.answer_deadline_seconds,
        )
        return Turn(self.database, answer, call, release=release)

    async def _replay(self, session: AsyncSession, context: _Context, hit: CachedResponse) -> Turn:
        metrics.TUTOR_CACHE.labels("hit").inc()
        sources = tuple(Source.from_json(source) for source in hit.meta.get("sources", []))
        return Turn(self.database, await self._start_answer(session, context, sources), hit)

    async def _start_answer(
        self, session: AsyncSession, context: _Context, sources: tuple[Source, ...]
    ) -> PendingAnswer:
        """Record the turn's answer, empty and STREAMING, for the turn to fill in."""
        tutor_session_id = context.tutor_session.id
        recorded = await sessions.start_answer(session, session_id=tutor_session_id, now=self.clock.now())
        return PendingAnswer(
            recorded.id, tutor_session_id, context.request, context.user_message_id, sources, context.started
        )

    def _claim(self, place: CachePlace, request: str) -> Callable[[], None] | None:
        """Mark this turn as the one writing the answer for `place`; returns how to say it is done (None when
        another turn claimed it meanwhile: then both write, and the cache keeps the first)."""
        key = place.writing_key(request)
        if key in self._writing:
            return None
        done = self._writing[key] = asyncio.get_running_loop().create_future()

        def release() -> None:
            self._writing.pop(key, None)
            if not done.done():
                done.set_result(None)

        return release

    async def _embed(self, embedder: QueryEmbedder | None, text: str) -> list[float] | None:
        if embedder is None or not text.strip():
            return None
        if embedder.connection is None:
            return await local_embedder().embed_query(text)
        try:
            [vector] = await self._client(embedder.connection, embeddings=True).embed([text])
        except LLMError as problem:
            log.warning("Embedding a tutor question failed (%s); searching by keywords only", type(problem).__name__)
            return None
        return vector

    async def _usable_connection(self, session: AsyncSession, purpose: ModelPurpose) -> LLMConnection | None:
        """`backends.model_connection` for students' turns: `UNUSABLE` instead of raising `SecretUnreadable`, whose
        advice is for the operator; they get it in the log, once until the key can be read again."""
        try:
            connection = await backends.model_connection(session, self.settings, purpose)
        except SecretUnreadable:
            if purpose not in self._unreadable_reported:
                self._unreadable_reported.add(purpose)
                log.error(
                    "The API key of the default %s backend cannot be decrypted: COURSEBOT_SECRET_KEY is not the key "
                    "it was saved under. The tutor answers from retrieval alone until the operator restores the old "
                    "key and restarts, or adds the server again with its key (`/admin llm add`, then "
                    "`/admin llm model`).",
                    purpose.value.lower(),
                )
            return UNUSABLE
        self._unreadable_reported.discard(purpose)
        return connection

    def _client(self, connection: LLMConnection, *, embeddings: bool = False) -> LLMClient:
        key = (connection.base_url, connection.model, connection.api_key, "embedding" if embeddings else "chat")
        client = self._clients.get(key)
        if client is None:
            client = backends.client_for(connection, self.settings, embeddings=embeddings)
            self._clients[key] = client
        return client


def _cache_place(
    tutor_session: TutorSession,
    *,
    chat: _ChatModel | None,
    course: SessionCourse | None,
    guard: QuizGuard,
    greeting: bool,
    branch_of: int | None,
    latest_answer_id: int | None,
    retried: bool,
) -> CachePlace | None:
    """Where this turn's answer belongs in the lesson's cache tree; None when it must not be cached."""
    content_item_id, node_id = tutor_session.content_item_id, tutor_session.cache_node_id
    if (
        chat is None
        or course is None
        or not course.cache_enabled
        or content_item_id is None
        or tutor_session.cache_state is not CacheState.TRACKING
        # The quiz guard changes the prompt, and a cached answer may not have been made under it.
        or guard.active
    ):
        return None
    key = CacheKey(chat.prompt.id, chat.prompt.version, chat.connection.provider[:50], chat.connection.model)
    if greeting:
        return CachePlace(content_item_id, None, key) if node_id is None else None
    if node_id is None:
        return None
    # A retry of a message the tutor session recorded while still TRACKING: that message was a branch.
    follows = retried or (branch_of is not None and branch_of == latest_answer_id)
    return CachePlace(content_item_id, node_id, key) if follows else None


# -- reads ---------------------------------------------------------------------------------------------------


async def _topic(session: AsyncSession, tutor_session: TutorSession, course: SessionCourse | None) -> str:
    if tutor_session.content_item_id is not None and course is not None:
        title = await session.scalar(
            published.items(course.id)
            .with_only_columns(ContentRevision.title)
            .where(ContentItem.id == tutor_session.content_item_id)
        )
        if title:
            return str(title)
    return course.title if course is not None else "this course"
