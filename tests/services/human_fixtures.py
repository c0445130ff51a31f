"""Rows of the human loop (escalations, feature requests and their +1s, material submissions) naming a person in
every column that can, for the privacy tests' world."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    ChatSession,
    Escalation,
    EscalationStatus,
    FeatureRequest,
    FeatureRequestVote,
    MaterialSubmission,
    RequestKind,
    RequestStatus,
    SubmissionStatus,
)


async def seed_human_loop(session: AsyncSession, user_id: int, guild_id: int, course_id: int) -> None:
    """The person asked a TA and took the thread as one, sent and +1'd a request and moved it on, and submitted a
    file and decided on it."""
    conversation = await session.scalar(
        select(ChatSession.id).where(ChatSession.user_id == user_id, ChatSession.guild_id == guild_id)
    )
    assert conversation is not None
    request = FeatureRequest(
        guild_id=guild_id,
        requester_id=user_id,
        kind=RequestKind.IDEA,
        title="Dark mode",
        details="Please",
        status=RequestStatus.PLANNED,
        status_changed_by=user_id,
    )
    session.add_all(
        [
            Escalation(
                guild_id=guild_id,
                session_id=conversation,
                student_id=user_id,
                thread_id=guild_id + 1,
                status=EscalationStatus.CLAIMED,
                claimed_by=user_id,
                question="What is a loop?",
            ),
            request,
            MaterialSubmission(
                guild_id=guild_id,
                course_id=course_id,
                student_id=user_id,
                title="Notes",
                filename="notes.md",
                file_type="markdown",
                size_bytes=5,
                sha256=hashlib.sha256(b"notes").hexdigest(),
                data=b"notes",
                status=SubmissionStatus.REJECTED,
                decided_by=user_id,
                reason="Too short",
            ),
        ]
    )
    await session.flush()
    session.add(FeatureRequestVote(request_id=request.id, user_id=user_id))
