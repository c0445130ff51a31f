"""Feedback requests: a reference per request, a rate limit per member, +1 once each, status changes told once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.errors import InvalidInput, NotFound
from bot.services import feedback
from bot.services.feedback import FeedbackRateLimited
from db.models import AuditLog, FeatureRequestVote, Notification, NotificationKind, RequestKind, RequestStatus
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    INSTRUCTOR,
    NOW,
    import_course,
    seed_people,
    tiny_package,
)


@pytest.fixture
async def school(database: Database) -> Database:
    await seed_people(database)
    await import_course(database, tiny_package())
    return database


async def send(database: Database, **changes: object) -> feedback.RequestView:
    fields: dict[str, object] = {
        "guild_id": GUILD,
        "user_id": ALICE,
        "kind": RequestKind.CONTENT,
        "title": "Typo in setup",
        "details": "It says pyhton.",
        "course_code": "TINY",
        "lesson": "setup",
        "now": NOW,
        "per_hour": 2,
    }
    async with database.session_scope() as session:
        return await feedback.send_feedback(session, **{**fields, **changes})  # type: ignore[arg-type]


async def test_a_content_problem_links_its_lesson_and_the_rate_limit_holds(school: Database) -> None:
    request = await send(school)
    assert request.course_code == "TINY" and request.lesson_slug == "setup" and request.lesson_title
    assert request.status is RequestStatus.PENDING and request.id > 0
    await send(school, kind=RequestKind.IDEA, course_code=None, lesson=None)
    with pytest.raises(FeedbackRateLimited):
        await send(school)
    await send(school, now=NOW + timedelta(hours=1, seconds=1))
    with pytest.raises(InvalidInput, match="course"):
        await send(school, user_id=BOB, course_code=None)
    with pytest.raises(NotFound):
        await send(school, user_id=BOB, lesson="no-such-lesson")
    with pytest.raises(InvalidInput, match="title"):
        await send(school, user_id=BOB, title="   ")


async def test_each_member_counts_once_however_many_presses(school: Database) -> None:
    request = await send(school)

    async def vote(user_id: int) -> feedback.Vote:
        async with school.session_scope() as session:
            return await feedback.vote(session, request_id=request.id, guild_id=GUILD, user_id=user_id)

    votes = await asyncio.gather(*(vote(user) for user in (BOB, BOB, BOB, CAROL, CAROL)))
    assert sum(vote.counted for vote in votes) == 2
    async with school.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(FeatureRequestVote)) == 2
        listed = await feedback.list_requests(session, guild_id=GUILD)
    assert [(item.id, item.votes) for item in listed] == [(request.id, 2)]


async def test_a_status_change_is_audited_and_told_once(school: Database) -> None:
    request = await send(school)

    async def move(status: RequestStatus, note: str | None) -> feedback.StatusChange:
        async with school.session_scope() as session:
            return await feedback.set_status(
                session, request_id=request.id, guild_id=GUILD, actor_id=INSTRUCTOR, status=status, note=note, now=NOW
            )

    assert (await move(RequestStatus.PLANNED, "Next week")).changed
    assert not (await move(RequestStatus.PLANNED, None)).changed  # the same form sent twice
    async with school.session_scope() as session:
        told = (await session.scalars(select(Notification))).all()
        assert [(row.kind, row.user_id) for row in told] == [(NotificationKind.REQUEST_STATUS, ALICE)]
        assert "Next week" in told[0].payload["text"] and "planned" in told[0].payload["title"]
        assert await session.scalar(select(func.count()).where(AuditLog.action == "feedback.status")) == 1
        [listed] = await feedback.list_requests(session, guild_id=GUILD, status=RequestStatus.PLANNED)
    assert listed.admin_note == "Next week"
