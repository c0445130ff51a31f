"""Ask a TA: a student hands their tutor conversation to the staff queue, one TA takes it over, and what the TA
answers can become the lesson's answer for the next student.

An escalation is OPEN until a TA claims it (exactly once: one conditional UPDATE, so of twenty presses one wins),
CLAIMED while the TA holds the thread (the tutor is paused: `held`), and RELEASED when the thread goes back to the
tutor. A tutor session has at most one live (OPEN or CLAIMED) escalation; asking again returns it.

When the conversation was still on the lesson's guided path, the escalation keeps the response cache node of the
tutor's last answer: "Save as the answer" stores the TA's answer there (`cache.approve_node`), marked TA-approved.

Services on a caller's session, which never commit; every staff decision writes an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import CourseError
from bot.services import audit, courses, decisions, outbox, tenancy, views
from bot.tutor import cache
from bot.tutor.sessions import NotATutorThread, NotYourThread, SessionEnded
from db.models import (
    CacheState,
    ChatMessage,
    ChatMessageCitation,
    ChatSession,
    Escalation,
    EscalationStatus,
    GenerationStatus,
    Material,
    MaterialChunk,
    MessageRole,
    NotificationKind,
)
from db.models.human import LIVE_ESCALATION
from db.session import dialect_insert

NOTE_CHARS = 500
QUESTION_CHARS = 1500
ANSWER_CHARS = 3000
SHOWN_SOURCES = 5
LIVE = (EscalationStatus.OPEN, EscalationStatus.CLAIMED)
# An escalation whose tutor session has ended (the student closed it, or it went idle) waits for nobody.
CONVERSATION_OPEN = Escalation.session_id.in_(select(ChatSession.id).where(ChatSession.ended_at.is_(None)))


class TutorPaused(CourseError):
    message = "A TA is answering in this thread, so the tutor is paused until they hand it back."


class EscalationTaken(CourseError):
    def __init__(self, claimed_by: int | None) -> None:
        who = f"<@{claimed_by}>" if claimed_by else "another TA"
        super().__init__(f"{who} already took this one. Nothing changed.")


class EscalationClosed(CourseError):
    message = (
        "This escalation is over: the thread went back to the tutor, or the student closed it. "
        "See `/teach inbox` for the open ones."
    )


class NotTheHolder(CourseError):
    message = "Only the TA who claimed this thread (or an instructor) can do that."


class NoAnswerToSave(CourseError):
    message = "Write your answer in the student's thread first; then save it as the answer."


class NotOnGuidedPath(CourseError):
    message = (
        "This conversation had left the lesson's guided path (the student typed their own question), so there is "
        "no shared answer to replace. Your answer is kept with this conversation."
    )


@dataclass(frozen=True, slots=True)
class EscalationView:
    id: int
    guild_id: int
    session_id: int
    student_id: int
    thread_id: int
    course_code: str | None
    status: EscalationStatus
    note: str | None
    question: str
    tutor_answer: str
    sources: tuple[str, ...]
    claimed_by: int | None
    created_at: datetime
    staff_channel_id: int | None
    staff_message_id: int | None
    on_guided_path: bool  # the TA's answer can be saved as the lesson's answer
    saved: bool


@dataclass(frozen=True, slots=True)
class Asked:
    escalation: EscalationView
    created: bool  # False: the conversation was already in the queue (a double click, or asked again)


@dataclass(frozen=True, slots=True)
class Claim:
    escalation: EscalationView
    newly: bool  # False: this TA had claimed it already (a double click counts once)


@dataclass(frozen=True, slots=True)
class Hold:
    """Who holds a tutor thread: the TA answering in it instead of the tutor."""

    escalation_id: int
    session_id: int
    ta_id: int
    student_id: int


async def escalate(
    session: AsyncSession, *, thread_id: int, user_id: int, note: str | None, now: datetime, reannounce_after: timedelta
) -> Asked:
    """Put the student's tutor conversation in the staff queue, with their last question, the tutor's last answer
    and its sources; an unclaimed one is posted again once after `reannounce_after` (through the outbox).

    Raises `NotATutorThread`, `NotYourThread` or `SessionEnded`. Asking again while it is live returns it.
    """
    row = await session.scalar(select(ChatSession).where(ChatSession.thread_id == thread_id))
    if row is None:
        raise NotATutorThread()
    if row.user_id != user_id:
        raise NotYourThread()
    if row.ended_at is not None:
        raise SessionEnded()
    question = await _last_content(session, row.id, MessageRole.USER)
    answer_id, answer = await _last_answer(session, row.id)
    staff_channel_id = (await tenancy.guild_config(session, row.guild_id)).staff_channel_id
    on_path = row.cache_state is CacheState.TRACKING and row.cache_node_id is not None
    inserted = await session.scalar(
        dialect_insert(session, Escalation)
        .values(
            guild_id=row.guild_id,
            session_id=row.id,
            student_id=user_id,
            course_id=row.course_id,
            thread_id=thread_id,
            status=EscalationStatus.OPEN,
            note=(note or "").strip()[:NOTE_CHARS] or None,
            question=question[:QUESTION_CHARS],
            tutor_answer=answer[:ANSWER_CHARS],
            sources=await _source_labels(session, answer_id),
            cache_node_id=row.cache_node_id if on_path else None,
            staff_channel_id=staff_channel_id,
        )
        .on_conflict_do_nothing(index_elements=[Escalation.session_id], index_where=text(LIVE_ESCALATION))
        .returning(Escalation.id)
    )
    live = await session.scalar(select(Escalation).where(Escalation.session_id == row.id, Escalation.status.in_(LIVE)))
    assert live is not None  # inserted now, or the live one that was in the way
    if inserted is not None:
        await outbox.enqueue(
            session,
            [
                outbox.Planned(
                    dedupe_key=f"escalation:{live.id}:reannounce",
                    kind=NotificationKind.ESCALATION_REANNOUNCE,
                    guild_id=row.guild_id,
                    due_at=now + reannounce_after,
                    channel_id=staff_channel_id,
                    payload={"escalation": live.id},
                )
            ],
        )
    return Asked(await _view(session, live), created=inserted is not None)


async def record_staff_post(session: AsyncSession, *, escalation_id: int, channel_id: int, message_id: int) -> None:
    """Remember the staff channel post of an escalation, so a claim can update it."""
    await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id)
        .values(staff_channel_id=channel_id, staff_message_id=message_id)
    )


async def claim(session: AsyncSession, *, escalation_id: int, guild_id: int, ta_id: int, now: datetime) -> Claim:
    """Give the escalation to `ta_id`: exactly one TA wins, whatever the number of concurrent presses. Audited.

    Raises `EscalationTaken` (another TA has it), `EscalationClosed` or `NotFound`."""
    row, won = await decisions.decide_once(
        session,
        Escalation,
        escalation_id,
        guild_id=guild_id,
        what="escalation",
        needs=EscalationStatus.OPEN,
        where=[CONVERSATION_OPEN],
        status=EscalationStatus.CLAIMED,
        claimed_by=ta_id,
        claimed_at=now,
    )
    if not won:
        if row.status is EscalationStatus.CLAIMED and row.claimed_by == ta_id:
            return Claim(await _view(session, row), newly=False)
        if row.status is EscalationStatus.CLAIMED:
            raise EscalationTaken(row.claimed_by)
        raise EscalationClosed()
    await _audit_handover(session, row, ta_id, "escalation.claim")
    return Claim(await _view(session, row), newly=True)


async def release(
    session: AsyncSession, *, escalation_id: int, guild_id: int, actor_id: int, may_release_any: bool, now: datetime
) -> EscalationView:
    """Hand the thread back to the tutor. The claiming TA may; an instructor (`may_release_any`) may release any.

    Releasing twice changes nothing the second time. Audited."""
    row = await _row(session, escalation_id, guild_id)
    if row.status is EscalationStatus.RELEASED:
        return await _view(session, row)
    if row.status is EscalationStatus.OPEN or (row.claimed_by != actor_id and not may_release_any):
        raise NotTheHolder()
    row, released = await decisions.decide_once(
        session,
        Escalation,
        escalation_id,
        guild_id=guild_id,
        what="escalation",
        needs=EscalationStatus.CLAIMED,
        status=EscalationStatus.RELEASED,
        released_at=now,
    )
    if released:
        await _audit_handover(session, row, actor_id, "escalation.release")
    return await _view(session, row)


async def holder(session: AsyncSession, *, thread_id: int) -> Hold | None:
    """Who holds the tutor thread, if a TA does (its escalation is CLAIMED)."""
    found = (
        await session.execute(
            select(Escalation.id, Escalation.session_id, Escalation.claimed_by, Escalation.student_id).where(
                Escalation.thread_id == thread_id, Escalation.status == EscalationStatus.CLAIMED
            )
        )
    ).first()
    if found is None or found.claimed_by is None:
        return None
    return Hold(found.id, found.session_id, found.claimed_by, found.student_id)


async def held(session: AsyncSession, *, session_id: int) -> bool:
    """Whether a TA holds the tutor session's thread: then the tutor does not answer in it."""
    return (
        await session.scalar(
            select(Escalation.id).where(
                Escalation.session_id == session_id, Escalation.status == EscalationStatus.CLAIMED
            )
        )
    ) is not None


async def record_held_message(
    session: AsyncSession, *, hold: Hold, author_id: int, text: str, discord_message_id: int, now: datetime
) -> None:
    """Keep a message written in a held thread with the conversation: the TA's as an answer (the latest becomes
    the one "Save as the answer" saves), the student's as their turn. The tutor reads both when it resumes."""
    by_ta = author_id == hold.ta_id
    message = ChatMessage(
        session_id=hold.session_id,
        role=MessageRole.ASSISTANT if by_ta else MessageRole.USER,
        content=text,
        meta={"ta_id": author_id} if by_ta else {},
        generation_status=GenerationStatus.COMPLETED,
        discord_message_id=discord_message_id,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await session.execute(update(ChatSession).where(ChatSession.id == hold.session_id).values(last_message_at=now))
    if by_ta:
        await session.execute(
            update(Escalation).where(Escalation.id == hold.escalation_id).values(ta_answer_id=message.id)
        )


async def save_answer(
    session: AsyncSession, *, escalation_id: int, guild_id: int, actor_id: int, may_save_any: bool, now: datetime
) -> EscalationView:
    """Store the TA's latest answer in the thread as the lesson's answer at the conversation's place in the response
    cache tree, marked TA-approved: the next student on the same guided path gets it. Audited.

    Raises `NotTheHolder`, `NoAnswerToSave` or `NotOnGuidedPath`."""
    row = await _row(session, escalation_id, guild_id)
    if row.claimed_by is None or (row.claimed_by != actor_id and not may_save_any):
        raise NotTheHolder()
    answer = await session.get(ChatMessage, row.ta_answer_id) if row.ta_answer_id is not None else None
    if answer is None:
        raise NoAnswerToSave()
    if row.cache_node_id is None:
        raise NotOnGuidedPath()
    if not await cache.approve_node(
        session, node_id=row.cache_node_id, text=answer.content, approved_by=row.claimed_by
    ):
        raise NotOnGuidedPath()
    row.saved_at = now
    await session.flush()
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="escalation.save_answer",
        target_type="cache_node",
        target_ids=[row.cache_node_id],
        meta={"escalation": escalation_id, "message": answer.id},
    )
    return await _view(session, row)


async def inbox(session: AsyncSession, *, guild_id: int, course_code: str | None = None) -> list[EscalationView]:
    """The guild's open and claimed escalations of conversations still open, oldest first; only those of the course
    `course_code` when given (NotFound if the guild has no such course)."""
    query = (
        select(Escalation)
        .where(Escalation.guild_id == guild_id, Escalation.status.in_(LIVE), CONVERSATION_OPEN)
        .order_by(Escalation.id)
        .limit(100)
    )
    if course_code is not None:
        course = await courses.live_course(session, guild_id=guild_id, code=course_code)
        query = query.where(Escalation.course_id == course.id)
    return [await _view(session, row) for row in await session.scalars(query)]


async def still_open(session: AsyncSession, *, escalation_id: int) -> EscalationView | None:
    """The escalation if nobody has claimed it yet (what a re-announcement posts), else None."""
    row = await session.scalar(
        select(Escalation).where(
            Escalation.id == escalation_id, Escalation.status == EscalationStatus.OPEN, CONVERSATION_OPEN
        )
    )
    return await _view(session, row) if row is not None else None


async def view_of(session: AsyncSession, *, escalation_id: int, guild_id: int) -> EscalationView:
    return await _view(session, await _row(session, escalation_id, guild_id))


async def _audit_handover(session: AsyncSession, row: Escalation, actor_id: int, action: str) -> None:
    """Audit a TA taking the student's thread from the tutor, or handing it back."""
    await audit.record(
        session,
        guild_id=row.guild_id,
        actor_id=actor_id,
        action=action,
        target_type="member",
        target_ids=[row.student_id],
        meta={"escalation": row.id, "thread_id": row.thread_id},
    )


# -- reads ---------------------------------------------------------------------------------------------------


async def _row(session: AsyncSession, escalation_id: int, guild_id: int) -> Escalation:
    return await decisions.in_guild(session, Escalation, escalation_id, guild_id=guild_id, what="escalation")


async def _last_content(session: AsyncSession, session_id: int, role: MessageRole) -> str:
    content = await session.scalar(
        select(ChatMessage.content)
        .where(ChatMessage.session_id == session_id, ChatMessage.role == role)
        .order_by(ChatMessage.id.desc())
        .limit(1)
    )
    return content or ""


async def _last_answer(session: AsyncSession, session_id: int) -> tuple[int | None, str]:
    found = (
        await session.execute(
            select(ChatMessage.id, ChatMessage.content)
            .where(
                ChatMessage.session_id == session_id,
                ChatMessage.role == MessageRole.ASSISTANT,
                ChatMessage.generation_status == GenerationStatus.COMPLETED,
            )
            .order_by(ChatMessage.id.desc())
            .limit(1)
        )
    ).first()
    return (found.id, found.content) if found is not None else (None, "")


async def _source_labels(session: AsyncSession, message_id: int | None) -> list[str]:
    if message_id is None:
        return []
    rows = await session.execute(
        select(MaterialChunk.title, Material.title, MaterialChunk.page)
        .select_from(ChatMessageCitation)
        .join(MaterialChunk, MaterialChunk.id == ChatMessageCitation.chunk_id)
        .join(Material, Material.id == MaterialChunk.material_id)
        .where(ChatMessageCitation.message_id == message_id)
        .order_by(ChatMessageCitation.rank)
        .limit(SHOWN_SOURCES)
    )
    return [
        f"{chunk_title or material_title}" + (f", p. {page}" if page is not None else "")
        for chunk_title, material_title, page in rows
    ]


async def _view(session: AsyncSession, row: Escalation) -> EscalationView:
    code = await decisions.course_code(session, row.course_id)
    return views.from_row(
        EscalationView,
        row,
        course_code=code,
        sources=tuple(row.sources or ()),
        on_guided_path=row.cache_node_id is not None,
        saved=row.saved_at is not None,
    )
