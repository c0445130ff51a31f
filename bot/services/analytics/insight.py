"""Tutor insight for staff: what the tutor was asked about, what it cited, what it could not answer from the course
material, the answers students rated 👎, and (from spaced review) the concepts students forget most."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import reviews
from db.models import (
    ChatMessage,
    ChatMessageCitation,
    ChatMessageFeedback,
    ChatSession,
    Concept,
    ContentConcept,
    Material,
    MaterialChunk,
    MessageRole,
)

SHOWN = 5
QUOTE_CHARS = 200


@dataclass(frozen=True, slots=True)
class TutorInsight:
    discussed: list[tuple[str, int]]  # (concept, citations of its lessons)
    sources: list[tuple[str, int]]  # (material title, citations)
    unanswered: list[str]  # questions whose answer cited nothing (no retrieval hit), newest first
    disliked: list[tuple[str, str | None]]  # (the 👎-rated answer, the student's comment), newest first
    forgotten: list[tuple[str, int]]  # (concept, review lapses)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


async def tutor_insight(session: AsyncSession, *, course_id: int, since: datetime | None) -> TutorInsight:
    """The course's tutor conversations since `since` (None: all kept), read in five statements."""
    in_course: list[ColumnElement[bool]] = [ChatSession.course_id == course_id]
    if since is not None:
        in_course.append(ChatMessage.created_at >= since)
    cited = (
        select(ChatMessageCitation.chunk_id)
        .join(ChatMessage, ChatMessage.id == ChatMessageCitation.message_id)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(*in_course)
        .subquery()
    )
    sources = await session.execute(
        select(Material.title, func.count())
        .select_from(cited)
        .join(MaterialChunk, MaterialChunk.id == cited.c.chunk_id)
        .join(Material, Material.id == MaterialChunk.material_id)
        .group_by(Material.id, Material.title)
        .order_by(func.count().desc(), Material.title)
        .limit(SHOWN)
    )
    discussed = await session.execute(
        select(Concept.name, func.count())
        .select_from(cited)
        .join(MaterialChunk, MaterialChunk.id == cited.c.chunk_id)
        .join(Material, Material.id == MaterialChunk.material_id)
        .join(ContentConcept, ContentConcept.item_id == Material.content_item_id)
        .join(Concept, Concept.id == ContentConcept.concept_id)
        .group_by(Concept.id, Concept.name)
        .order_by(func.count().desc(), Concept.name)
        .limit(SHOWN)
    )
    return TutorInsight(
        discussed=[(name, count) for name, count in discussed],
        sources=[(title, count) for title, count in sources],
        unanswered=await _unanswered(session, in_course),
        disliked=await _disliked(session, in_course),
        forgotten=await reviews.most_forgotten_concepts(session, course_id=course_id, limit=SHOWN),
    )


async def _unanswered(session: AsyncSession, in_course: list[ColumnElement[bool]]) -> list[str]:
    """The question before each completed answer that cited no source, newest first."""
    uncited = (
        select(ChatMessage.session_id, ChatMessage.created_at)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(
            *in_course,
            ChatMessage.role == MessageRole.ASSISTANT,
            ~exists().where(ChatMessageCitation.message_id == ChatMessage.id),
        )
        .order_by(ChatMessage.created_at.desc())
        .limit(SHOWN * 4)
        .subquery()
    )
    asked = (
        select(func.max(ChatMessage.created_at))
        .where(
            ChatMessage.session_id == uncited.c.session_id,
            ChatMessage.role == MessageRole.USER,
            ChatMessage.created_at <= uncited.c.created_at,
        )
        .correlate(uncited)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(ChatMessage.content)
        .join(uncited, uncited.c.session_id == ChatMessage.session_id)
        .where(ChatMessage.role == MessageRole.USER, ChatMessage.created_at == asked)
        .order_by(uncited.c.created_at.desc())
    )
    # One line per distinct question, newest first.
    return list(dict.fromkeys(_quote(content) for (content,) in rows))[:SHOWN]


async def _disliked(session: AsyncSession, in_course: list[ColumnElement[bool]]) -> list[tuple[str, str | None]]:
    rows = await session.execute(
        select(ChatMessage.content, ChatMessageFeedback.comment)
        .join(ChatMessage, ChatMessage.id == ChatMessageFeedback.message_id)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(*in_course, ChatMessageFeedback.rating < 0)
        .order_by(ChatMessageFeedback.created_at.desc())
        .limit(SHOWN)
    )
    return [(_quote(content), _quote(comment) if comment else None) for content, comment in rows]
