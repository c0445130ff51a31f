"""Student material submissions: limits, one decision per submission, XP once, and an undo that reverses it once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config import HumanLoopSettings
from bot.errors import InvalidInput, NotEnrolled
from bot.services import submissions, xp
from bot.services.submissions import AlreadyDecided, SubmissionLimit
from db.models import AuditLog, Material, MaterialSubmission, Notification, NotificationKind, SubmissionStatus, XPEvent
from db.session import Database
from tests.services.course_fixtures import (
    ALICE,
    BOB,
    GUILD,
    INSTRUCTOR,
    NOW,
    enroll,
    import_course,
    seed_people,
    tiny_package,
)

LIMITS = HumanLoopSettings(
    max_pending_submissions=2, submissions_per_day=3, max_submission_bytes=1000, submission_xp=25
)


@pytest.fixture
async def course(database: Database) -> Database:
    await seed_people(database)
    await import_course(database, tiny_package())
    await enroll(database, ALICE, "TINY")
    return database


async def submit(database: Database, data: bytes = b"# Loops\n\nA loop repeats.", **changes: object) -> int:
    fields: dict[str, object] = {
        "guild_id": GUILD,
        "user_id": ALICE,
        "course_code": "TINY",
        "filename": "loops.md",
        "data": data,
        "title": None,
        "note": "my notes",
        "now": NOW,
        "limits": LIMITS,
    }
    async with database.session_scope() as session:
        return (await submissions.submit(session, **{**fields, **changes})).id  # type: ignore[arg-type]


async def approve(database: Database, submission_id: int) -> submissions.Approval:
    async with database.session_scope() as session:
        return await submissions.approve(
            session, submission_id=submission_id, guild_id=GUILD, actor_id=INSTRUCTOR, xp_amount=25, now=NOW
        )


async def undo(database: Database, submission_id: int) -> submissions.Decision:
    async with database.session_scope() as session:
        return await submissions.undo(
            session, submission_id=submission_id, guild_id=GUILD, actor_id=INSTRUCTOR, now=NOW
        )


async def test_bad_files_and_strangers_are_refused_and_nothing_is_written(course: Database) -> None:
    with pytest.raises(InvalidInput, match="not a file the tutor can read"):
        await submit(course, filename="virus.exe")
    with pytest.raises(InvalidInput, match="at most"):
        await submit(course, data=b"x" * 1001)
    with pytest.raises(InvalidInput, match="empty"):
        await submit(course, data=b"")
    with pytest.raises(NotEnrolled):
        await submit(course, user_id=BOB)
    async with course.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(MaterialSubmission)) == 0


async def test_pending_and_daily_limits_hold(course: Database) -> None:
    first = await submit(course, data=b"one")
    second = await submit(course, data=b"two")
    with pytest.raises(SubmissionLimit, match="waiting"):
        await submit(course, data=b"three")
    with pytest.raises(InvalidInput, match="already submitted"):
        await submit(course, data=b"two")
    async with course.session_scope() as session:
        for submission_id in (first, second):
            await submissions.reject(
                session, submission_id=submission_id, guild_id=GUILD, actor_id=INSTRUCTOR, reason="Off topic", now=NOW
            )
    await submit(course, data=b"three")
    with pytest.raises(SubmissionLimit, match="a day"):
        await submit(course, data=b"four")
    await submit(course, data=b"four", now=NOW + timedelta(days=1, minutes=1))  # a day later, one is free again


async def test_concurrent_approvals_award_xp_once_and_the_loser_is_told(course: Database) -> None:
    submission_id = await submit(course)
    results = await asyncio.gather(*(approve(course, submission_id) for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(result, submissions.Approval) for result in results) == 1
    assert all(isinstance(result, AlreadyDecided) for result in results if not isinstance(result, submissions.Approval))
    async with course.session_scope() as session:
        assert await xp.total(session, guild_id=GUILD, user_id=ALICE) == 25
        material = await session.scalar(select(Material).where(Material.uploader_id == ALICE))
        assert material is not None and material.title == "loops (by Alice)"
        assert await session.scalar(select(func.count()).where(AuditLog.action == "submission.approve")) == 1
        told = await session.scalar(
            select(Notification).where(Notification.kind == NotificationKind.SUBMISSION_DECISION)
        )
        assert told is not None and told.user_id == ALICE and "25 XP" in told.payload["text"]


async def test_undo_removes_the_material_and_reverses_the_xp_once(course: Database) -> None:
    submission_id = await submit(course)
    await approve(course, submission_id)
    first, second = await asyncio.gather(undo(course, submission_id), undo(course, submission_id))
    assert sorted([first.changed, second.changed]) == [False, True]
    async with course.session_scope() as session:
        assert await xp.total(session, guild_id=GUILD, user_id=ALICE) == 0
        ledger = sorted((event.source_key, event.amount) for event in await session.scalars(select(XPEvent)))
        assert ledger == [(f"submission:{submission_id}:approved", 25), (f"submission:{submission_id}:undone", -25)]
        material = await session.scalar(select(Material).where(Material.uploader_id == ALICE))
        assert material is not None and material.deleted_at is not None
        row = await session.get_one(MaterialSubmission, submission_id)
        assert row.status is SubmissionStatus.UNDONE
    with pytest.raises(AlreadyDecided):
        await approve(course, submission_id)


async def test_a_rejection_needs_a_reason_and_tells_the_student(course: Database) -> None:
    submission_id = await submit(course)
    async with course.session_scope() as session:
        with pytest.raises(InvalidInput, match="Say why"):
            await submissions.reject(
                session, submission_id=submission_id, guild_id=GUILD, actor_id=INSTRUCTOR, reason="  ", now=NOW
            )
    async with course.session_scope() as session:
        await submissions.reject(
            session, submission_id=submission_id, guild_id=GUILD, actor_id=INSTRUCTOR, reason="Copied", now=NOW
        )
    async with course.session_scope() as session:
        told = await session.scalar(select(Notification.payload))
        assert told is not None and "Copied" in told["text"]
    with pytest.raises(InvalidInput, match="Only an approved"):
        await undo(course, submission_id)
