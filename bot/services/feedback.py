"""Feedback and feature requests (`feature_requests`): what members report with `/feedback` (a bug, an idea, a
problem in a course's content, optionally about one lesson), the +1s other members give it, and the status staff move
it through (PENDING, UNDER_REVIEW, PLANNED, COMPLETED, DECLINED) with a note.

A request's id is the reference number its member is given. A member sends at most `feedback_per_hour` requests an
hour and counts once on each request (`feature_request_votes`' primary key). Every status change is audited and
its requester told through the outbox, once per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import CourseError, InvalidInput, NotFound
from bot.services import audit, courses, decisions, outbox, published, views
from db.models import (
    ContentItem,
    ContentRevision,
    FeatureRequest,
    FeatureRequestVote,
    Notification,
    NotificationKind,
    RequestKind,
    RequestStatus,
    User,
)
from db.session import dialect_insert

TITLE_CHARS = 100
DETAILS_CHARS = 2000
NOTE_CHARS = 1000
LIST_LIMIT = 100
HOUR = timedelta(hours=1)
KIND_NAMES = {RequestKind.BUG: "bug", RequestKind.IDEA: "idea", RequestKind.CONTENT: "content problem"}
STATUS_NAMES = {
    RequestStatus.PENDING: "pending",
    RequestStatus.UNDER_REVIEW: "under review",
    RequestStatus.PLANNED: "planned",
    RequestStatus.COMPLETED: "completed",
    RequestStatus.DECLINED: "declined",
}


class FeedbackRateLimited(CourseError):
    def __init__(self, per_hour: int) -> None:
        super().__init__(f"You can send {per_hour} requests an hour. Thanks for the enthusiasm: try again later.")


@dataclass(frozen=True, slots=True)
class RequestView:
    id: int  # the reference number
    guild_id: int
    requester_id: int
    kind: RequestKind
    title: str
    details: str
    course_code: str | None
    lesson_slug: str | None
    lesson_title: str | None
    status: RequestStatus
    admin_note: str | None
    votes: int
    created_at: datetime
    public_channel_id: int | None
    public_message_id: int | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    request: RequestView
    changed: bool  # False: it already had this status and note (a second submit of the same form)


@dataclass(frozen=True, slots=True)
class Vote:
    votes: int
    counted: bool  # False: this member had +1'd it already


async def send_feedback(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    kind: RequestKind,
    title: str,
    details: str,
    course_code: str | None,
    lesson: str | None,
    now: datetime,
    per_hour: int,
) -> RequestView:
    """Record a request; a content problem may name a course and one of its lessons (by slug), which staff then see.

    Raises `InvalidInput` (empty, or a lesson without its course), `NotFound` or `FeedbackRateLimited`."""
    title, details = " ".join(title.split())[:TITLE_CHARS], details.strip()[:DETAILS_CHARS]
    if not title or not details:
        raise InvalidInput("Give a title and some details, so staff know what to look at.")
    if lesson and not course_code:
        raise InvalidInput("Name the lesson's course too (`course:`), so staff find the lesson.")
    # One member's requests are counted and added one at a time, so concurrent ones cannot pass the limit together.
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    recent = await session.scalar(
        select(func.count()).where(FeatureRequest.requester_id == user_id, FeatureRequest.created_at > now - HOUR)
    )
    if (recent or 0) >= per_hour:
        raise FeedbackRateLimited(per_hour)
    course_id = content_item_id = None
    if course_code:
        course_id = (await courses.live_course(session, guild_id=guild_id, code=course_code)).id
    if lesson and course_id is not None:
        content_item_id = await session.scalar(
            published.items(course_id).with_only_columns(ContentItem.id).where(ContentItem.slug == lesson)
        )
        if content_item_id is None:
            raise NotFound("lesson", lesson)
    row = FeatureRequest(
        guild_id=guild_id,
        requester_id=user_id,
        kind=kind,
        title=title,
        details=details,
        course_id=course_id,
        content_item_id=content_item_id,
        status=RequestStatus.PENDING,
        votes=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return await _view(session, row)


async def record_public_post(session: AsyncSession, *, request_id: int, channel_id: int, message_id: int) -> None:
    await session.execute(
        update(FeatureRequest)
        .where(FeatureRequest.id == request_id)
        .values(public_channel_id=channel_id, public_message_id=message_id)
    )


async def list_requests(
    session: AsyncSession, *, guild_id: int, status: RequestStatus | None = None
) -> list[RequestView]:
    """The guild's requests, newest first (the latest `LIST_LIMIT`); only those in `status` when given."""
    query = (
        select(FeatureRequest)
        .where(FeatureRequest.guild_id == guild_id)
        .order_by(FeatureRequest.id.desc())
        .limit(LIST_LIMIT)
    )
    if status is not None:
        query = query.where(FeatureRequest.status == status)
    return [await _view(session, row) for row in await session.scalars(query)]


async def set_status(
    session: AsyncSession,
    *,
    request_id: int,
    guild_id: int,
    actor_id: int,
    status: RequestStatus,
    note: str | None,
    now: datetime,
) -> StatusChange:
    """Move a request to `status` with an optional note for its requester; audited, and the requester told once per
    change. Setting what it already is changes nothing."""
    row = await decisions.in_guild(
        session, FeatureRequest, request_id, guild_id=guild_id, what="request", for_update=True
    )
    note = (note or "").strip()[:NOTE_CHARS] or None
    if row.status is status and (note is None or note == row.admin_note):
        return StatusChange(await _view(session, row), changed=False)
    before = row.status
    row.status, row.status_changed_by, row.updated_at = status, actor_id, now
    if note is not None:
        row.admin_note = note
    await session.flush()
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="feedback.status",
        target_type="request",
        target_ids=[request_id],
        meta={"from": before.value, "to": status.value, "note": note},
    )
    said = f"\n\nStaff note: {note}" if note else ""
    prefix = f"request:{request_id}:"
    moved = (
        f"moved from {STATUS_NAMES[before]} to {STATUS_NAMES[status]}"
        if before is not status
        else f"is still {STATUS_NAMES[status]}; staff added a note"
    )
    # Each change is told once: changes are numbered per request, one at a time (its row is locked). The newest
    # number is what retention deletes last, so the next one never meets a key still there.
    keys = await session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.like(f"{prefix}%")))
    number = max((int(key.removeprefix(prefix)) for key in keys), default=0) + 1
    await outbox.enqueue(
        session,
        [
            outbox.Planned(
                dedupe_key=f"{prefix}{number}",
                kind=NotificationKind.REQUEST_STATUS,
                guild_id=guild_id,
                user_id=row.requester_id,
                course_id=row.course_id,
                due_at=now,
                payload={
                    "title": f"Your request #{request_id} is {STATUS_NAMES[status]}",
                    "text": f"“{row.title}” {moved}.{said}",
                },
            )
        ],
    )
    return StatusChange(await _view(session, row), changed=True)


async def vote(session: AsyncSession, *, request_id: int, guild_id: int, user_id: int) -> Vote:
    """+1 a request; a member counts once, however many presses."""
    exists = await session.scalar(
        select(FeatureRequest.id).where(FeatureRequest.id == request_id, FeatureRequest.guild_id == guild_id)
    )
    if exists is None:
        raise NotFound("request", f"#{request_id}")
    inserted = await session.scalar(
        dialect_insert(session, FeatureRequestVote)
        .values(request_id=request_id, user_id=user_id)
        .on_conflict_do_nothing(index_elements=[FeatureRequestVote.request_id, FeatureRequestVote.user_id])
        .returning(FeatureRequestVote.user_id)
    )
    if inserted is None:
        votes = await session.scalar(select(FeatureRequest.votes).where(FeatureRequest.id == request_id))
        return Vote(votes or 0, counted=False)
    votes = await session.scalar(
        update(FeatureRequest)
        .where(FeatureRequest.id == request_id)
        .values(votes=FeatureRequest.votes + 1)
        .returning(FeatureRequest.votes)
    )
    return Vote(votes or 0, counted=True)


async def _view(session: AsyncSession, row: FeatureRequest) -> RequestView:
    code = await decisions.course_code(session, row.course_id)
    slug = title = None
    if row.content_item_id is not None and row.course_id is not None:
        found = (
            await session.execute(
                published.items(row.course_id)
                .with_only_columns(ContentItem.slug, ContentRevision.title)
                .where(ContentItem.id == row.content_item_id)
            )
        ).first()
        if found is not None:
            slug, title = found
    return views.from_row(RequestView, row, course_code=code, lesson_slug=slug, lesson_title=title)
