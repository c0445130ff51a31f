"""The tutor's conversation loop: what happens between a student's message in a tutor thread and the answer.

`Tutor` is what the Discord cog calls. Every answer (`greet`, `answer`, `take_branch`, `retry`) is a `Turn`:

1. a short transaction reads the session, the models, the prompt and the quiz guard, records the student's
   message (input cap, rate limit) and looks the answer up in the response cache;
2. on a miss: the question is embedded (no transaction open), then a second short transaction checks the
   guild's token budget, retrieves passages and the recent conversation, and records an empty answer;
3. `Turn.deltas()` streams the answer, from the model, from the cache (chunk by chunk, as first streamed) or,
   with no model (or no budget left), from the retrieved passages alone, saying so; no transaction is open;
4. `Turn.finish()` stores the outcome (COMPLETED, STOPPED or FAILED with the reason) with its meta and
   citations, grows the cache tree, and returns the `Answer` to show.

Guarantees callers can rely on: model failures never raise out of a turn (the answer is FAILED and the
student's message stays recorded, so `retry` can answer it again); retrieved text reaches the model fenced as
untrusted data; and while the student has a quiz attempt IN_PROGRESS in the course, nothing of that quiz is
placed in a prompt (no passage of its item, no passage or earlier message quoting one of its questions, right
options or explanations), and the cache is bypassed.

Clients for the model come from the admin's default backends (`/admin llm`) when the operator set
COURSEBOT_SECRET_KEY, else from `[llm]` in config.toml with OPENAI_API_KEY; an empty chat model means no model.
The module also holds the publishing hook (`index_published_lessons`) and material uploads (`upload_material`),
which embed with the same embedding model the questions are embedded with.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.errors import CourseError, NotFound
from bot.services.enrollment import active_enrollment
from bot.tutor import backends, cache, materials, prompts, retrieval, sessions
from bot.tutor.backends import LLMConnection
from bot.tutor.cache import CachedResponse, CacheKey
from bot.tutor.errors import LLMError
from bot.tutor.guardrails import check_input_length, fence_untrusted
from bot.tutor.llm import ChatMessage as PromptMessage
from bot.tutor.llm import LLMClient, StreamFinished, TextDelta
from bot.tutor.materials import MaterialRecord
from bot.tutor.retrieval import Passage
from bot.tutor.secrets import SecretBox, SecretUnreadable
from bot.tutor.sessions import Citation, GenerationMeta, SessionEnded, TokenBudgetExhausted, TutorSession
from db.models import (
    AttemptStatus,
    CacheState,
    ChatMessage,
    ChatSession,
    ContentItem,
    ContentKind,
    ContentProgress,
    ContentRevision,
    Course,
    CourseOffering,
    GenerationStatus,
    IndexingStatus,
    MaterialChunk,
    MessageRole,
    ModelPurpose,
    Module,
    Question,
    QuizAttempt,
    RevisionVisibility,
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
RETRIEVAL_ONLY_PROVIDER = "retrieval-only"
PROMPT_PASSAGES = 5
SHOWN_PASSAGES = 3
HISTORY_MESSAGES = 10
HISTORY_MESSAGE_CHARS = 4000
EXCERPT_CHARS = 600
MAX_BRANCHES = 3
BRANCH_CHARS = 80  # Discord's button label limit
MAX_UPLOAD_BYTES = 25_000_000
SWEEP_BATCH = 100
# A student whose answer another student's turn is writing waits this long for it before writing their own.
WAIT_FOR_SAME_ANSWER_SECONDS = 120.0
# Quiz texts shorter than this ("7", "True") are too common to look for; longer ones are the giveaways.
GUARDED_TEXT_MIN_CHARS = 12

_OPTIONS_LINE = re.compile(r"^\W{0,3}(?:options|choices)\W{0,3}\s*:\s*(?P<options>.+)$", re.IGNORECASE)
_CITATION = re.compile(r"\[(\d{1,2})\]")

OPTIONS_INSTRUCTION = (
    "When you offer the student a choice of what to do next, end your answer with one line of the form "
    "`Options: first choice | second choice | third choice` (at most three short choices). "
    "The student sees them as buttons."
)
QUIZ_IN_PROGRESS_NOTE = (
    "The student is in the middle of a quiz of this course. Do not answer its questions for them or confirm "
    "their answers; help them reason their way there instead."
)
NO_MODEL_NOTICE = (
    "No language model is set up for the tutor, so I can't write an answer myself. "
    "These are the passages of the course material that best match your question:"
)
NO_MODEL_GREETING = (
    "Hi! I'm the tutor for **{topic}**. No language model is set up on this server, so I can't write answers "
    "myself: ask me a question and I'll show you the passages of the course material that match it best, "
    "with their sources."
)
BUDGET_GREETING = "Hi! I'm the tutor for **{topic}**. {notice}"
# Shown to students when the configured model cannot be used for a reason only the operator can fix (the log says
# what); never the operator's advice itself.
MODEL_UNAVAILABLE_NOTICE = (
    "The tutor's model is unavailable right now, so until it is back I can only point you to the passages of the "
    "course material that match your questions."
)
# What `Tutor._usable_connection` gives for a configured model whose stored API key cannot be decrypted.
UNUSABLE = LLMConnection(provider="", base_url="", model="", api_key=None, embedding_dimensions=None)
NOTHING_FOUND = "I found nothing in the course material that matches this. Try other words, or ask your instructor."


class NotATutorThread(CourseError):
    def __init__(self) -> None:
        super().__init__("This is not a tutor thread. Open one with `/tutor start`.")


class NotYourThread(CourseError):
    def __init__(self) -> None:
        super().__init__("This tutor thread belongs to another student. Open your own with `/tutor start`.")


class AlreadyAnsweredAgain(CourseError):
    def __init__(self) -> None:
        super().__init__("The tutor has answered since then, so there is nothing to retry. Ask again in the thread.")


class NotALesson(CourseError):
    def __init__(self, slug: str) -> None:
        super().__init__(
            f"`{slug}` is a quiz, and the tutor does not take quizzes with you. Pick a lesson, or leave `lesson` "
            "out to talk about the lesson you are reading."
        )


@dataclass(frozen=True, slots=True)
class Source:
    """A passage an answer was given, numbered as the answer cites it (`[n]`)."""

    number: int
    title: str  # the heading path inside the lesson or material ("Variables > Naming rules")
    page: int | None
    chunk_id: int | None
    score: float

    @property
    def label(self) -> str:
        return f"{self.title}, p. {self.page}" if self.page is not None else self.title

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "page": self.page,
            "chunk_id": self.chunk_id,
            "score": self.score,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        return cls(
            number=int(data["number"]),
            title=str(data["title"]),
            page=data.get("page"),
            chunk_id=data.get("chunk_id"),
            score=float(data["score"]),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished turn, ready to show."""

    id: int  # chat_messages.id of the answer
    status: GenerationStatus
    text: str  # what to show: the answer without its options line (partial when FAILED or STOPPED)
    sources: tuple[Source, ...]  # those the text cites, or all it was given when it cites none
    branches: tuple[str, ...]  # follow-ups the model offered, as short labels
    by_model: bool  # written by a model (live or replayed), so branches can be offered
    cached: bool  # replayed from the response cache
    problem: str | None  # FAILED: what went wrong, to show beside a Retry button
    retry_user_message_id: int | None  # the student message a retry answers (None: the greeting)


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """What `/tutor start` will open, checked before a thread is created."""

    guild_id: int
    user_id: int
    course_id: int
    course_code: str
    content_item_id: int | None  # None: the whole course (the student has opened no lesson yet)
    topic: str  # the lesson's title, or the course's
    existing: TutorSession | None  # the student's session already open in this guild, if any


@dataclass(frozen=True, slots=True)
class LessonIndexReport:
    ready: int
    failed: tuple[tuple[str, str], ...]  # (lesson title, reason)


@dataclass(frozen=True, slots=True)
class _CachePlace:
    """Where in the lesson's cache tree this turn's answer sits: a root (greeting) or a child of `parent_id`."""

    content_item_id: int
    parent_id: int | None
    key: CacheKey


@dataclass(frozen=True, slots=True)
class _QuizGuard:
    """What of the student's IN_PROGRESS quizzes must stay out of a prompt."""

    quiz_item_ids: frozenset[int]
    guarded_texts: tuple[str, ...]  # normalised question texts, right options and explanations

    @property
    def active(self) -> bool:
        return bool(self.quiz_item_ids)

    def allows(self, text: str) -> bool:
        normalised = _normalised(text)
        return not any(guarded in normalised for guarded in self.guarded_texts)


NO_QUIZ = _QuizGuard(frozenset(), ())


@dataclass(frozen=True, slots=True)
class _Course:
    id: int
    code: str
    title: str
    cache_enabled: bool


@dataclass(frozen=True, slots=True)
class _Context:
    """What a turn's first transaction read and recorded. `topic` and `embedder` are read only when the answer is
    not in the cache (`_for_fresh_answer`): a replay needs neither."""

    session: TutorSession
    request: str  # what the model is asked: the student's message, a branch, or the greeting request
    greeting: bool
    user_message_id: int | None  # the student's recorded message (None for the greeting)
    course: _Course | None
    chat: LLMConnection | None
    prompt: prompts.PromptVersion | None
    system_text: str  # the prompt, composed
    guard: _QuizGuard
    place: _CachePlace | None
    started: float
    # The session's ORM row, held so the writes to it later in the first transaction (`sessions.record_user_message`,
    # `sessions.start_answer`) find it in the session's identity map instead of selecting it again.
    row: ChatSession | None = field(default=None, repr=False, compare=False)
    topic: str = ""
    embedder: LLMConnection | None = None
    notice: str | None = None  # why there is no model although one is configured (MODEL_UNAVAILABLE_NOTICE)


@dataclass(frozen=True, slots=True)
class _Opening:
    """What the first statement of a turn reads: the thread's session with its course, its latest answer, and
    whether the student has a quiz attempt in progress in the course."""

    row: ChatSession
    course: _Course | None
    latest_answer_id: int | None
    quiz_in_progress: bool


class Turn:
    """One tutor answer in the making. Iterate `deltas()` once, then call `finish()` exactly once."""

    def __init__(
        self,
        tutor: Tutor,
        *,
        session: TutorSession,
        request: str,
        answer_id: int,
        user_message_id: int | None,
        started: float,
        replay: CachedResponse | None = None,
        client: LLMClient | None = None,
        connection: LLMConnection | None = None,
        prompt: prompts.PromptVersion | None = None,
        messages: Sequence[PromptMessage] = (),
        fallback_text: str = "",
        sources: Sequence[Source] = (),
        place: _CachePlace | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        self._tutor = tutor
        self.session = session
        self.request = request
        self.answer_id = answer_id
        self.user_message_id = user_message_id
        self._started = started
        self._replay = replay
        self._client = client
        self._connection = connection
        self._prompt = prompt
        self._messages = list(messages)
        self._fallback_text = fallback_text
        self._sources = tuple(sources)
        self._place = place
        self._release = release
        self._chunks: list[str] = []
        self._finished: StreamFinished | None = None
        self._problem: LLMError | None = None

    @property
    def cached(self) -> bool:
        return self._replay is not None

    async def deltas(self) -> AsyncIterator[str]:
        """The answer's text piece by piece; the pieces join to the answer.

        A model failure ends the iteration early without raising; `finish` then reports it. Close the
        iterator (`contextlib.aclosing`) to stop early: the model's stream is closed with it.
        """
        if self._replay is not None:
            for chunk in self._replay.chunks:
                self._chunks.append(chunk)
                yield chunk
            return
        if self._client is None:
            self._chunks.append(self._fallback_text)
            yield self._fallback_text
            return
        config = self._prompt.config if self._prompt is not None else {}
        try:
            stream = self._client.stream(
                self._messages,
                max_tokens=int(max_tokens) if (max_tokens := _number_or_none(config.get("max_tokens"))) else None,
                temperature=_number_or_none(config.get("temperature")),
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        self._chunks.append(event.text)
                        yield event.text
                    else:
                        self._finished = event
        except LLMError as problem:
            self._problem = problem

    async def finish(self, *, discord_message_id: int | None = None, stopped: bool = False) -> Answer:
        """Store the outcome and return what to show.

        COMPLETED when the whole answer was produced; FAILED when the model failed (with `Answer.problem`);
        STOPPED when the caller stopped early (`stopped`, e.g. the thread went away). A completed model answer
        grows the lesson's cache tree; a completed replay moves the session along it.
        """
        text = "".join(self._chunks)
        if self._problem is not None:
            status = GenerationStatus.FAILED
        elif stopped or (self._client is not None and self._replay is None and self._finished is None):
            status = GenerationStatus.STOPPED
        else:
            status = GenerationStatus.COMPLETED
        meta = self._meta() if status is not GenerationStatus.FAILED else None
        by_model = self._replay is not None or self._client is not None
        shown, branches = split_branches(text) if by_model else (text, ())
        try:
            async with self._tutor.database.session_scope() as db:
                await sessions.finish_answer(
                    db,
                    message_id=self.answer_id,
                    content=text,
                    status=status,
                    meta=meta,
                    citations=await self._citations(db),
                    discord_message_id=discord_message_id,
                )
                if status is GenerationStatus.COMPLETED and meta is not None:
                    await self._move_along_cache(db, meta)
        finally:
            if self._release is not None:
                self._release()
        return Answer(
            id=self.answer_id,
            status=status,
            text=shown,
            sources=cited_sources(shown, self._sources) if by_model else self._sources,
            branches=branches if status is GenerationStatus.COMPLETED else (),
            by_model=by_model,
            cached=self.cached,
            problem=str(self._problem) if self._problem is not None else None,
            retry_user_message_id=self.user_message_id,
        )

    def _meta(self) -> GenerationMeta:
        elapsed = round((time.perf_counter() - self._started) * 1000)
        if self._replay is not None:
            stored = self._replay.meta
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
        if self._client is None or self._connection is None:
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
            model=finished.model if finished is not None else self._connection.model,
            provider=self._connection.provider,
            prompt_name=self._prompt.name if self._prompt is not None else None,
            prompt_version=self._prompt.version if self._prompt is not None else None,
            prompt_tokens=finished.prompt_tokens if finished is not None else None,
            completion_tokens=finished.completion_tokens if finished is not None else None,
            latency_ms=finished.latency_ms if finished is not None else elapsed,
        )

    async def _citations(self, db: AsyncSession) -> list[Citation]:
        chunk_ids = [source.chunk_id for source in self._sources if source.chunk_id is not None]
        if self._replay is not None and chunk_ids:
            # A replayed answer may cite chunks re-indexed away since; those keep their number but lose the link.
            existing = set(await db.scalars(select(MaterialChunk.id).where(MaterialChunk.id.in_(chunk_ids))))
            chunk_ids = [chunk_id for chunk_id in chunk_ids if chunk_id in existing]
        scores = {source.chunk_id: source.score for source in self._sources}
        return [Citation(chunk_id=chunk_id, score=scores[chunk_id]) for chunk_id in chunk_ids]

    async def _move_along_cache(self, db: AsyncSession, meta: GenerationMeta) -> None:
        node_id: int | None = None
        if self._replay is not None:
            node_id = self._replay.node_id
        elif self._place is not None:
            response_meta = meta.as_json() | {"sources": [source.as_json() for source in self._sources]}
            if self._place.parent_id is None:
                node = await cache.store_root(
                    db, content_item_id=self._place.content_item_id, greeting=GREETING_REQUEST, key=self._place.key,
                    response_chunks=self._chunks, response_meta=response_meta, cache_enabled=True,
                )  # fmt: skip
            else:
                node = await cache.store_child(
                    db, parent_id=self._place.parent_id, user_message=self.request, key=self._place.key,
                    response_chunks=self._chunks, response_meta=response_meta, cache_enabled=True,
                )  # fmt: skip
            node_id = node.node_id if node is not None else None
        if node_id is not None:
            with suppress(SessionEnded):  # ended while answering: nothing left to follow
                await sessions.follow_cache_node(db, session_id=self.session.id, node_id=node_id)


class Tutor:
    """The tutor's API for the Discord cog: sessions bound to threads, answers as `Turn`s, feedback, endings.

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

    # -- sessions ---------------------------------------------------------------------------------------------

    async def plan_session(
        self, *, guild_id: int, user_id: int, course_code: str | None = None, lesson: str | None = None
    ) -> SessionPlan:
        """Check that the student may open a tutor session and on what; nothing is written.

        The topic is `lesson` (a slug of the student's course), else the lesson the student opened last, else
        the whole course. Raises `NotEnrolled`, `NotFound`, `NotALesson` or `TooManyOpenSessions`.
        """
        async with self.database.session_scope() as db:
            enrollment = await active_enrollment(db, guild_id=guild_id, user_id=user_id, course_code=course_code)
            items = _published_items(enrollment.course_id)
            if lesson:
                found = (await db.execute(items.where(ContentItem.slug == lesson))).first()
                if found is None:
                    raise NotFound("lesson", lesson)
                if found.kind is ContentKind.QUIZ:
                    raise NotALesson(lesson)
            else:
                found = (
                    await db.execute(
                        items.join(
                            ContentProgress,
                            and_(
                                ContentProgress.item_id == ContentItem.id,
                                ContentProgress.offering_id == enrollment.offering_id,
                                ContentProgress.user_id == user_id,
                            ),
                        )
                        .where(ContentItem.kind != ContentKind.QUIZ)
                        .order_by(ContentProgress.last_opened_at.desc(), ContentProgress.id.desc())
                        .limit(1)
                    )
                ).first()
            existing = await _open_session_of(db, guild_id=guild_id, user_id=user_id)
            open_count = await db.scalar(
                select(func.count()).where(ChatSession.guild_id == guild_id, ChatSession.ended_at.is_(None))
            )
            # A student with a session open replaces it (or is sent back to it): the count does not grow.
            if existing is None and (open_count or 0) >= self.settings.tutor.max_open_threads:
                raise sessions.TooManyOpenSessions(self.settings.tutor.max_open_threads)
        return SessionPlan(
            guild_id=guild_id,
            user_id=user_id,
            course_id=enrollment.course_id,
            course_code=enrollment.course_code,
            content_item_id=found.id if found is not None else None,
            topic=found.title if found is not None else enrollment.course_title,
            existing=existing,
        )

    async def open_session(self, plan: SessionPlan, *, thread_id: int) -> TutorSession:
        """Bind a new session to the thread created for `plan`. Raises `TooManyOpenSessions` (the cap is re-checked)."""
        async with self.database.session_scope() as db:
            return await sessions.open_session(
                db,
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
        async with self.database.session_scope() as db:
            return await sessions.session_for_thread(db, thread_id=thread_id)

    async def open_session_of(self, *, guild_id: int, user_id: int) -> TutorSession | None:
        """The student's open session in the guild, if any."""
        async with self.database.session_scope() as db:
            return await _open_session_of(db, guild_id=guild_id, user_id=user_id)

    async def end(self, *, session_id: int, reason: SessionEndReason) -> TutorSession:
        """End a session; ending it again changes nothing."""
        async with self.database.session_scope() as db:
            return await sessions.end_session(db, session_id=session_id, reason=reason, now=self.clock.now())

    async def rate(self, *, message_id: int, user_id: int, rating: int) -> sessions.Feedback:
        """Record the student's 👍 (+1) or 👎 (-1) on an answer; only the session's student may (`NotTheAsker`)."""
        async with self.database.session_scope() as db:
            return await sessions.rate_answer(db, message_id=message_id, user_id=user_id, rating=rating)

    # -- answers ----------------------------------------------------------------------------------------------

    async def greet(self, *, thread_id: int) -> Turn:
        """The session's first answer: an introduction to its lesson, from the cache when another student had it."""
        return await self._begin(thread_id, request=GREETING_REQUEST, greeting=True)

    async def answer(self, *, thread_id: int, user_id: int, text: str, discord_message_id: int | None = None) -> Turn:
        """Answer a message the student typed (free-form: the session leaves the cache tree, DIVERGED).

        Raises `MessageTooLong` (nothing recorded, nothing sent), `TutorRateLimited`, `SessionEnded`,
        `NotATutorThread` or `NotYourThread`.
        """
        check_input_length(text, self.settings.tutor.max_input_chars)
        return await self._begin(
            thread_id, request=text.strip(), user_id=user_id, record=True, discord_message_id=discord_message_id
        )

    async def take_branch(self, *, thread_id: int, user_id: int, answer_id: int, option: str | None) -> Turn:
        """Answer a follow-up the tutor offered under answer `answer_id`: `option` is its label, None for
        "check my understanding". Taken under the latest answer of a session still on its cache path, it is
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

        Refused with `AlreadyAnsweredAgain` once a newer answer exists in the session.
        """
        async with self.database.session_scope() as db:
            session = await _session_of_thread(db, thread_id, user_id=user_id)
            latest = await _latest_answer_id(db, session.id)
            if latest != answer_id:
                raise AlreadyAnsweredAgain()
            request = GREETING_REQUEST
            if user_message_id is not None:
                asked = await db.scalar(
                    select(ChatMessage.content).where(
                        ChatMessage.id == user_message_id,
                        ChatMessage.session_id == session.id,
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
        async with self.database.session_scope() as db:
            context = await self._read_and_record(
                db, thread_id, request=request, user_id=user_id, greeting=greeting, record=record,
                discord_message_id=discord_message_id, branch_of=branch_of, retry_of=retry_of, started=started,
            )  # fmt: skip
            hit = await _lookup(db, context.place, request)
            if hit is not None:
                return await self._replay(db, context, hit)
            context = await self._for_fresh_answer(db, context)
        release = None
        if context.place is not None:
            writing = self._writing.get(_writing_key(context.place, request))
            if writing is not None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(writing), WAIT_FOR_SAME_ANSWER_SECONDS)
                async with self.database.session_scope() as db:
                    hit = await _lookup(db, context.place, request)
                    if hit is not None:
                        return await self._replay(db, context, hit)
            release = self._claim(context.place, request)
        try:
            return await self._fresh(context, release)
        except BaseException:
            if release is not None:
                release()
            raise

    async def _read_and_record(
        self,
        db: AsyncSession,
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
        opening = await _open_turn(db, thread_id, user_id=user_id)
        session, course = sessions.session_of_row(opening.row), opening.course
        chat = await self._usable_connection(db, ModelPurpose.CHAT)
        notice = None
        if chat is UNUSABLE:  # configured, but its key can't be read: answered from retrieval, the operator told
            chat, notice = None, MODEL_UNAVAILABLE_NOTICE
        prompt, system_text = None, ""
        if chat is not None:
            prompt = await prompts.resolve(db, name=prompts.TUTOR_SYSTEM_PROMPT)
            system_text = await prompts.compose(db, prompt)
        guard = NO_QUIZ
        if opening.quiz_in_progress:
            guard = await _quiz_guard(db, user_id=session.user_id, course_id=session.course_id)
        place = self._cache_place(
            session, chat=chat, prompt=prompt, course=course, guard=guard, greeting=greeting,
            branch_of=branch_of, latest_answer_id=opening.latest_answer_id, retried=retry_of is not None,
        )  # fmt: skip
        user_message_id = retry_of
        if record:
            recorded = await sessions.record_user_message(
                db, session_id=session.id, content=request,
                rate_limit_per_minute=self.settings.tutor.rate_limit_per_minute, now=self.clock.now(),
                follows_cached_branch=place is not None, discord_message_id=discord_message_id,
            )  # fmt: skip
            user_message_id = recorded.id
        return _Context(
            session=session,
            request=request,
            greeting=greeting,
            user_message_id=user_message_id,
            course=course,
            chat=chat,
            prompt=prompt,
            system_text=system_text,
            guard=guard,
            place=place,
            started=started,
            row=opening.row,
            notice=notice,
        )

    async def _for_fresh_answer(self, db: AsyncSession, context: _Context) -> _Context:
        """The context completed with what only an answer not found in the cache needs."""
        embedder = await self._usable_connection(db, ModelPurpose.EMBEDDING)
        return replace(
            context,
            topic=await _topic(db, context.session, context.course),
            embedder=None if embedder is UNUSABLE else embedder,  # keyword search alone, then
        )

    async def _fresh(self, context: _Context, release: Callable[[], None] | None) -> Turn:
        """A turn that writes its answer: retrieval, then the model, or the passages alone when there is none."""
        chat, course, guard = context.chat, context.course, context.guard
        query = context.topic if context.greeting else context.request
        # A greeting without a model is a fixed text: nothing to search for.
        searching = course is not None and (chat is not None or not context.greeting)
        query_embedding = await self._embed(context.embedder, query) if searching else None
        async with self.database.session_scope() as db:
            notice = context.notice
            if chat is not None:
                try:
                    await sessions.check_token_budget(
                        db, guild_id=context.session.guild_id, daily_budget=self.settings.tutor.daily_token_budget,
                        now=self.clock.now(),
                    )  # fmt: skip
                except TokenBudgetExhausted as exhausted:
                    chat, notice = None, str(exhausted)
            passages: list[Passage] = []
            if course is not None and searching:
                found = await retrieval.search(
                    db, course_id=course.id, query=query, query_embedding=query_embedding,
                    k=PROMPT_PASSAGES * 2 if guard.active else PROMPT_PASSAGES,
                )  # fmt: skip
                passages = [passage for passage in found if _allowed(passage, guard)]
            passages = passages[: PROMPT_PASSAGES if chat is not None else SHOWN_PASSAGES]
            sources = [
                Source(number, passage.title, passage.page, passage.chunk_id, passage.score)
                for number, passage in enumerate(passages, start=1)
            ]
            history: list[PromptMessage] = []
            if chat is not None and not context.greeting:
                history = await _history(db, context.session.id, before=context.user_message_id, guard=guard)
            answer = await sessions.start_answer(db, session_id=context.session.id, now=self.clock.now())
        if chat is None or context.prompt is None:
            return Turn(
                self, session=context.session, request=context.request, answer_id=answer.id,
                user_message_id=context.user_message_id, started=context.started, sources=sources, release=release,
                fallback_text=_fallback_text(passages, topic=context.topic, greeting=context.greeting, notice=notice),
            )  # fmt: skip
        system = _system_message(context.system_text, course, context.topic, passages, sources, guard)
        messages: list[PromptMessage] = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": context.request},
        ]
        return Turn(
            self, session=context.session, request=context.request, answer_id=answer.id,
            user_message_id=context.user_message_id, started=context.started, sources=sources, release=release,
            client=self._client(chat), connection=chat, prompt=context.prompt, messages=messages, place=context.place,
        )  # fmt: skip

    async def _replay(self, db: AsyncSession, context: _Context, hit: CachedResponse) -> Turn:
        answer = await sessions.start_answer(db, session_id=context.session.id, now=self.clock.now())
        return Turn(
            self, session=context.session, request=context.request, answer_id=answer.id,
            user_message_id=context.user_message_id, started=context.started, replay=hit,
            sources=[Source.from_json(source) for source in hit.meta.get("sources", [])],
        )  # fmt: skip

    def _claim(self, place: _CachePlace, request: str) -> Callable[[], None] | None:
        """Mark this turn as the one writing the answer for `place`; returns how to say it is done (None when
        another turn claimed it meanwhile: then both write, and the cache keeps the first)."""
        key = _writing_key(place, request)
        if key in self._writing:
            return None
        done = self._writing[key] = asyncio.get_running_loop().create_future()

        def release() -> None:
            self._writing.pop(key, None)
            if not done.done():
                done.set_result(None)

        return release

    def _cache_place(
        self,
        session: TutorSession,
        *,
        chat: LLMConnection | None,
        prompt: prompts.PromptVersion | None,
        course: _Course | None,
        guard: _QuizGuard,
        greeting: bool,
        branch_of: int | None,
        latest_answer_id: int | None,
        retried: bool,
    ) -> _CachePlace | None:
        """Where this turn's answer belongs in the lesson's cache tree; None when it must not be cached."""
        if (
            chat is None
            or prompt is None
            or course is None
            or not course.cache_enabled
            or session.content_item_id is None
            or session.cache_state is not CacheState.TRACKING
            # The quiz guard changes the prompt, and a cached answer may not have been made under it.
            or guard.active
        ):
            return None
        key = CacheKey(prompt.id, prompt.version, chat.provider[:50], chat.model)
        if greeting:
            return _CachePlace(session.content_item_id, None, key) if session.cache_node_id is None else None
        if session.cache_node_id is None:
            return None
        # A retry of a message the session recorded while still TRACKING: that message was a branch.
        follows = retried or (branch_of is not None and branch_of == latest_answer_id)
        return _CachePlace(session.content_item_id, session.cache_node_id, key) if follows else None

    async def _embed(self, connection: LLMConnection | None, text: str) -> list[float] | None:
        if connection is None or not text.strip():
            return None
        try:
            [vector] = await self._client(connection, embeddings=True).embed([text])
        except LLMError as problem:
            log.warning("Embedding a tutor question failed (%s); searching by keywords only", type(problem).__name__)
            return None
        return vector

    async def _usable_connection(self, db: AsyncSession, purpose: ModelPurpose) -> LLMConnection | None:
        """`model_connection` for students' turns: `UNUSABLE` instead of raising `SecretUnreadable`, whose advice
        is for the operator; they get it in the log, once until the key can be read again."""
        try:
            connection = await model_connection(db, self.settings, purpose)
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
            client = _client_for(connection, self.settings, embeddings=embeddings)
            self._clients[key] = client
        return client


async def end_idle_sessions(database: Database, *, idle_for: timedelta, now: datetime) -> list[TutorSession]:
    """End every open session with no message for `idle_for` (reason INACTIVITY); returns them (archive their threads).

    Each batch is its own transaction, so a sweep in another process never ends (and announces) a session twice.
    """
    ended: list[TutorSession] = []
    while True:
        async with database.session_scope() as db:
            batch = await sessions.end_inactive_sessions(db, idle_for=idle_for, now=now, limit=SWEEP_BATCH)
        ended += batch
        if len(batch) < SWEEP_BATCH:
            return ended


# -- models --------------------------------------------------------------------------------------------------


async def model_connection(db: AsyncSession, settings: Settings, purpose: ModelPurpose) -> LLMConnection | None:
    """How to reach the model for `purpose`: the admin's default backend, else `[llm]` of config.toml; None: no model.

    Admin backends are read only when COURSEBOT_SECRET_KEY is set (their keys cannot be read without it).
    """
    if settings.secret_key is not None:
        found = await backends.default_connection(db, purpose=purpose, secrets=SecretBox.from_key(settings.secret_key))
        if found is not None:
            return found
    llm = settings.llm
    model = llm.chat_model if purpose is ModelPurpose.CHAT else llm.embedding_model
    if not model.strip():
        return None
    return LLMConnection(
        provider=_provider_of(llm.base_url),
        base_url=llm.base_url,
        model=model.strip(),
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key is not None else None,
        embedding_dimensions=llm.embedding_dimensions if purpose is ModelPurpose.EMBEDDING else None,
    )


def _provider_of(base_url: str) -> str:
    host = urlsplit(base_url).hostname or ""
    return "openai" if host == "api.openai.com" else host[:50] or "openai-compatible"


def _client_for(connection: LLMConnection, settings: Settings, *, embeddings: bool) -> LLMClient:
    return LLMClient.from_settings(
        base_url=connection.base_url,
        api_key=connection.api_key,
        chat_model=connection.model if not embeddings else "",
        embedding_model=connection.model if embeddings else None,
        timeout=settings.llm.timeout_seconds,
        max_retries=settings.llm.max_retries,
    )


async def _embedding_client(database: Database, settings: Settings) -> LLMClient | None:
    """A new client for the embedding model (the caller closes it), or None when none is configured."""
    async with database.session_scope() as db:
        connection = await model_connection(db, settings, ModelPurpose.EMBEDDING)
    return _client_for(connection, settings, embeddings=True) if connection is not None else None


# -- materials: the publishing hook and uploads ---------------------------------------------------------------


async def index_published_lessons(
    database: Database, *, course_id: int, settings: Settings, clock: Clock
) -> LessonIndexReport:
    """Index every published lesson of the course for retrieval (quizzes never are); call it after publishing.

    Lessons whose published text is unchanged and already READY are skipped by `materials.index_lesson`.
    """
    async with database.session_scope() as db:
        lessons = (
            await db.execute(
                _published_items(course_id).where(ContentItem.kind != ContentKind.QUIZ).order_by(ContentItem.id)
            )
        ).all()
    llm = await _embedding_client(database, settings)
    ready, failed = 0, []
    try:
        for lesson in lessons:
            record = await materials.index_lesson(
                database, course_id=course_id, content_item_id=lesson.id, title=lesson.title, markdown=lesson.body,
                llm=llm, clock=clock,
            )  # fmt: skip
            if record.status is IndexingStatus.READY:
                ready += 1
            else:
                failed.append((lesson.title, record.failure_reason or "Indexing did not finish."))
    finally:
        if llm is not None:
            await llm.aclose()
    return LessonIndexReport(ready=ready, failed=tuple(failed))


async def upload_material(
    database: Database,
    *,
    course_id: int,
    uploader_id: int,
    filename: str,
    data: bytes,
    title: str | None,
    settings: Settings,
    clock: Clock,
) -> MaterialRecord:
    """Store and index an uploaded file (Markdown, text or PDF): the material as it ends up, READY or FAILED.

    The same bytes uploaded again give back the first material (indexed again only if it had failed). Raises
    `InvalidInput` for a file type the tutor cannot read.
    """
    llm = await _embedding_client(database, settings)
    try:
        return await materials.ingest(
            database, course_id=course_id, uploader_id=uploader_id, filename=filename, data=data, title=title,
            llm=llm, clock=clock,
        )  # fmt: skip
    finally:
        if llm is not None:
            await llm.aclose()


# -- prompt assembly -----------------------------------------------------------------------------------------


def split_branches(text: str) -> tuple[str, tuple[str, ...]]:
    """The answer without its closing `Options: a | b | c` line, and those options (at most three, each
    clipped to a button label); the text unchanged and no options when it has no such line."""
    body = text.rstrip()
    head, _, last = body.rpartition("\n")
    match = _OPTIONS_LINE.match(last.strip())
    if match is None:
        return text, ()
    options = [" ".join(option.split()).strip("*_` ") for option in match["options"].split("|")]
    kept = tuple(dict.fromkeys(option[:BRANCH_CHARS] for option in options if option))[:MAX_BRANCHES]
    return (head.rstrip(), kept) if kept else (text, ())


def cited_sources(text: str, sources: Sequence[Source]) -> tuple[Source, ...]:
    """The sources `text` cites as `[n]`, in number order; all of them when it cites none."""
    cited = {int(number) for number in _CITATION.findall(text)}
    chosen = tuple(source for source in sources if source.number in cited)
    return chosen or tuple(sources)


def _system_message(
    system_text: str,
    course: _Course | None,
    topic: str,
    passages: Sequence[Passage],
    sources: Sequence[Source],
    guard: _QuizGuard,
) -> str:
    parts = [system_text.strip()]
    if course is not None:
        parts.append(f"Course: {course.code} · {course.title}. Topic of this conversation: {topic}.")
    parts.append(OPTIONS_INSTRUCTION)
    if guard.active:
        parts.append(QUIZ_IN_PROGRESS_NOTE)
    if passages:
        parts.append(
            fence_untrusted([passage.content for passage in passages], sources=[source.label for source in sources])
        )
    else:
        parts.append("No course material matched this question.")
    return "\n\n".join(parts)


def _fallback_text(passages: Sequence[Passage], *, topic: str, greeting: bool, notice: str | None) -> str:
    """The answer with no model: said plainly, then the best passages with their numbers."""
    if greeting:
        return BUDGET_GREETING.format(topic=topic, notice=notice) if notice else NO_MODEL_GREETING.format(topic=topic)
    lines = [notice or NO_MODEL_NOTICE]
    if not passages:
        lines.append(NOTHING_FOUND)
    for number, passage in enumerate(passages, start=1):
        page = f", p. {passage.page}" if passage.page is not None else ""
        lines.append(f"**[{number}] {passage.title}{page}**\n{_excerpt(passage.content)}")
    return "\n\n".join(lines)


def _excerpt(content: str) -> str:
    """The start of a passage, cut at a line break, code fences kept balanced."""
    if len(content) <= EXCERPT_CHARS:
        return content
    cut = content.rfind("\n", 0, EXCERPT_CHARS)
    excerpt = content[: cut if cut > EXCERPT_CHARS // 2 else EXCERPT_CHARS].rstrip()
    if excerpt.count("```") % 2:
        excerpt += "\n```"
    return excerpt + "\n…"


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def _allowed(passage: Passage, guard: _QuizGuard) -> bool:
    return passage.content_item_id not in guard.quiz_item_ids and guard.allows(f"{passage.title}\n{passage.content}")


def _number_or_none(value: object) -> float | None:
    """A sampling setting of a prompt's config (admin-written JSON), or None when it is missing or not a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# -- reads ---------------------------------------------------------------------------------------------------


def _published_items(course_id: int) -> Select[Any]:
    """Live items of the course with their newest published revision: id, slug, kind, title, body."""
    newest = (
        select(func.max(ContentRevision.version))
        .where(ContentRevision.item_id == ContentItem.id, ContentRevision.visibility == RevisionVisibility.PUBLISHED)
        .correlate(ContentItem)
        .scalar_subquery()
    )
    return (
        select(ContentItem.id, ContentItem.slug, ContentItem.kind, ContentRevision.title, ContentRevision.body)
        .join(ContentRevision, and_(ContentRevision.item_id == ContentItem.id, ContentRevision.version == newest))
        .join(Module, Module.id == ContentItem.module_id)
        .where(ContentItem.course_id == course_id, ContentItem.deleted_at.is_(None), Module.deleted_at.is_(None))
    )


async def _session_of_thread(db: AsyncSession, thread_id: int, *, user_id: int | None) -> TutorSession:
    session = await sessions.session_for_thread(db, thread_id=thread_id)
    if session is None:
        raise NotATutorThread()
    if user_id is not None and user_id != session.user_id:
        raise NotYourThread()
    if not session.is_open:
        raise SessionEnded()
    return session


_LATEST_ANSWER = (
    select(func.max(ChatMessage.id))
    .where(ChatMessage.session_id == ChatSession.id, ChatMessage.role == MessageRole.ASSISTANT)
    .correlate(ChatSession)
    .scalar_subquery()
)
_QUIZ_IN_PROGRESS = (
    select(QuizAttempt.id)
    .join(CourseOffering, CourseOffering.id == QuizAttempt.offering_id)
    .where(
        QuizAttempt.user_id == ChatSession.user_id,
        QuizAttempt.status == AttemptStatus.IN_PROGRESS,
        CourseOffering.course_id == ChatSession.course_id,
    )
    .correlate(ChatSession)
    .exists()
)
# Built once: a turn runs it first, every time.
_OPEN_TURN = (
    select(ChatSession, Course.id, Course.code, Course.title, Course.cache_enabled, _LATEST_ANSWER, _QUIZ_IN_PROGRESS)
    .outerjoin(Course, Course.id == ChatSession.course_id)
    .where(ChatSession.thread_id == bindparam("thread_id"))
)


async def _open_turn(db: AsyncSession, thread_id: int, *, user_id: int | None) -> _Opening:
    """The thread's open session and what a turn decides with, in one statement; raises like `_session_of_thread`."""
    found = (await db.execute(_OPEN_TURN, {"thread_id": thread_id})).first()
    if found is None:
        raise NotATutorThread()
    row, course_id, code, title, cache_enabled, latest_answer_id, quiz_in_progress = found
    if user_id is not None and user_id != row.user_id:
        raise NotYourThread()
    if row.ended_at is not None:
        raise SessionEnded()
    course = _Course(course_id, code, title, cache_enabled) if course_id is not None else None
    return _Opening(row, course, latest_answer_id, bool(quiz_in_progress))


async def _open_session_of(db: AsyncSession, *, guild_id: int, user_id: int) -> TutorSession | None:
    thread_id = await db.scalar(
        select(ChatSession.thread_id)
        .where(ChatSession.guild_id == guild_id, ChatSession.user_id == user_id, ChatSession.ended_at.is_(None))
        .order_by(ChatSession.id.desc())
        .limit(1)
    )
    return await sessions.session_for_thread(db, thread_id=thread_id) if thread_id is not None else None


async def _latest_answer_id(db: AsyncSession, session_id: int) -> int | None:
    return await db.scalar(
        select(func.max(ChatMessage.id)).where(
            ChatMessage.session_id == session_id, ChatMessage.role == MessageRole.ASSISTANT
        )
    )


async def _topic(db: AsyncSession, session: TutorSession, course: _Course | None) -> str:
    if session.content_item_id is not None and course is not None:
        title = await db.scalar(
            _published_items(course.id)
            .with_only_columns(ContentRevision.title)
            .where(ContentItem.id == session.content_item_id)
        )
        if title:
            return str(title)
    return course.title if course is not None else "this course"


def _writing_key(place: _CachePlace, request: str) -> tuple[int, int | None, str, CacheKey]:
    return (place.content_item_id, place.parent_id, cache.message_hash(request), place.key)


async def _lookup(db: AsyncSession, place: _CachePlace | None, request: str) -> CachedResponse | None:
    if place is None:
        return None
    if place.parent_id is None:
        return await cache.lookup_root(
            db, content_item_id=place.content_item_id, greeting=request, key=place.key, cache_enabled=True
        )
    return await cache.lookup_child(
        db, parent_id=place.parent_id, user_message=request, key=place.key, cache_enabled=True
    )


async def _quiz_guard(db: AsyncSession, *, user_id: int, course_id: int | None) -> _QuizGuard:
    if course_id is None:
        return NO_QUIZ
    quiz_item_ids = frozenset(
        await db.scalars(
            select(QuizAttempt.item_id)
            .join(CourseOffering, CourseOffering.id == QuizAttempt.offering_id)
            .where(
                QuizAttempt.user_id == user_id,
                QuizAttempt.status == AttemptStatus.IN_PROGRESS,
                CourseOffering.course_id == course_id,
            )
        )
    )
    if not quiz_item_ids:
        return NO_QUIZ
    guarded: set[str] = set()
    # Inactive questions too: an attempt keeps pointing at the questions it was started with.
    for question in await db.scalars(select(Question).where(Question.item_id.in_(quiz_item_ids))):
        right = [question.options[index] for index in question.answer if 0 <= index < len(question.options)]
        for text in (question.text, question.explanation, *map(str, right)):
            if len(_normalised(text)) >= GUARDED_TEXT_MIN_CHARS:
                guarded.add(_normalised(text))
    return _QuizGuard(quiz_item_ids, tuple(sorted(guarded)))


async def _history(db: AsyncSession, session_id: int, *, before: int | None, guard: _QuizGuard) -> list[PromptMessage]:
    """The conversation before message `before`: the student's messages and the completed answers, oldest first."""
    query = (
        select(ChatMessage.role, ChatMessage.content)
        .where(
            ChatMessage.session_id == session_id,
            ChatMessage.role != MessageRole.SYSTEM,
            # The student's messages are recorded COMPLETED; failed and stopped answers stay out.
            ChatMessage.generation_status == GenerationStatus.COMPLETED,
        )
        .order_by(ChatMessage.id.desc())
        .limit(HISTORY_MESSAGES)
    )
    if before is not None:
        query = query.where(ChatMessage.id < before)
    rows = list(await db.execute(query))
    messages: list[PromptMessage] = []
    for role, content in reversed(rows):
        if not content or not guard.allows(content):
            continue  # e.g. an earlier answer that explained a quiz question now being taken
        text = content[:HISTORY_MESSAGE_CHARS]
        if role is MessageRole.USER:
            messages.append({"role": "user", "content": text})
        else:
            messages.append({"role": "assistant", "content": text})
    return messages
