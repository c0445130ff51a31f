"""Material students submit to a course: pending until staff decide, then a course material credited to the student
(with XP), or rejected with a reason the student is told. An approval can be undone: the material goes and the XP is
taken back by a compensating ledger event.

Every decision is one conditional UPDATE from the state it needs (PENDING to decide, APPROVED to undo), so of two
concurrent presses one decides and the other is told; the XP is keyed `submission:<id>:approved` in the ledger and
its reversal `submission:<id>:undone`, so neither can count twice. The file's bytes wait in the submission until it
is decided (a rejected one drops them). Decisions are audited, and the student hears of each through the outbox.

The material an approval registers is indexed after the decision commits (`bot.tutor.materials.upload_material`
finds it by its bytes): a transaction never stays open across text extraction and embedding.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date
from bot.config import HumanLoopSettings
from bot.errors import CourseError, InvalidInput, NotFound
from bot.services import audit, courses, decisions, outbox, tenancy, views, xp
from bot.services.enrollment import active_enrollment
from bot.tutor import materials
from db.models import MaterialSubmission, NotificationKind, SubmissionStatus, User

TITLE_CHARS = 150
NOTE_CHARS = 500
REASON_CHARS = 500
REVIEW_LIMIT = 25
DAY = timedelta(hours=24)


class SubmissionLimit(CourseError):
    """The student has as many submissions waiting, or sent as many today, as the server allows."""


class AlreadyDecided(CourseError):
    def __init__(self, status: SubmissionStatus, decided_by: int | None) -> None:
        by = f" by <@{decided_by}>" if decided_by else ""
        super().__init__(f"This submission was already {status.value.lower()}{by}. Nothing changed.")


@dataclass(frozen=True, slots=True)
class SubmissionView:
    id: int
    course_id: int
    course_code: str
    student_id: int
    title: str
    filename: str
    file_type: str
    size_bytes: int
    note: str | None
    status: SubmissionStatus
    reason: str | None
    decided_by: int | None
    material_id: int | None
    xp_awarded: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    submission: SubmissionView
    changed: bool  # False: it already was so (a second press of Undo)


@dataclass(frozen=True, slots=True)
class Approval:
    """An approved submission and what indexing its material needs, once the decision has committed."""

    submission: SubmissionView
    filename: str
    data: bytes
    material_title: str


async def submit(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    course_code: str,
    filename: str,
    data: bytes,
    title: str | None,
    note: str | None,
    now: datetime,
    limits: HumanLoopSettings,
) -> SubmissionView:
    """Offer a file (Markdown, text or PDF) to a course the student takes: PENDING until staff decide.

    Raises `InvalidInput` (type, size, empty, sent already), `NotEnrolled` or `SubmissionLimit`."""
    file_type = materials.file_type_for(filename)
    if not data:
        raise InvalidInput(f"`{filename}` is empty.")
    if len(data) > limits.max_submission_bytes:
        raise InvalidInput(
            f"That file is {len(data) / 1e6:.1f} MB; a submission may be at most "
            f"{limits.max_submission_bytes / 1e6:g} MB."
        )
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    sha256 = hashlib.sha256(data).hexdigest()
    waiting = await session.scalar(
        select(MaterialSubmission.id).where(
            MaterialSubmission.course_id == enrollment.course_id,
            MaterialSubmission.sha256 == sha256,
            MaterialSubmission.status.in_([SubmissionStatus.PENDING, SubmissionStatus.APPROVED]),
        )
    )
    if waiting is not None:
        raise InvalidInput(f"This file was already submitted to {enrollment.course_code} (submission #{waiting}).")
    # One student's submissions are counted and added one at a time, so two at once cannot pass the limits together.
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    mine = select(func.count()).where(MaterialSubmission.student_id == user_id, MaterialSubmission.guild_id == guild_id)
    pending = await session.scalar(mine.where(MaterialSubmission.status == SubmissionStatus.PENDING)) or 0
    if pending >= limits.max_pending_submissions:
        raise SubmissionLimit(
            f"You have {pending} submissions waiting for staff, the most at once. Wait until they decide on one."
        )
    today = await session.scalar(mine.where(MaterialSubmission.created_at > now - DAY)) or 0
    if today >= limits.submissions_per_day:
        raise SubmissionLimit(f"You can submit {limits.submissions_per_day} files a day. Try again tomorrow.")
    row = MaterialSubmission(
        guild_id=guild_id,
        course_id=enrollment.course_id,
        student_id=user_id,
        title=((title or "").strip() or PurePath(filename).stem or filename)[:TITLE_CHARS],
        note=(note or "").strip()[:NOTE_CHARS] or None,
        filename=PurePath(filename).name[:200],
        file_type=file_type,
        size_bytes=len(data),
        sha256=sha256,
        data=data,
        status=SubmissionStatus.PENDING,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return _view(row, enrollment.course_code)


async def list_for_review(session: AsyncSession, *, guild_id: int, course_code: str) -> list[SubmissionView]:
    """The course's pending submissions (oldest first), then its approved ones (newest first), which can be undone."""
    course = await courses.live_course(session, guild_id=guild_id, code=course_code)
    rows = list(
        await session.scalars(
            select(MaterialSubmission)
            .where(
                MaterialSubmission.course_id == course.id,
                MaterialSubmission.status.in_([SubmissionStatus.PENDING, SubmissionStatus.APPROVED]),
            )
            .order_by(MaterialSubmission.status.desc(), MaterialSubmission.id)  # "PENDING" > "APPROVED": pending first
            .limit(REVIEW_LIMIT)
        )
    )
    pending = [row for row in rows if row.status is SubmissionStatus.PENDING]
    approved = sorted((row for row in rows if row.status is SubmissionStatus.APPROVED), key=lambda row: -row.id)
    return [_view(row, course.code) for row in [*pending, *approved]]


async def approve(
    session: AsyncSession, *, submission_id: int, guild_id: int, actor_id: int, xp_amount: int, now: datetime
) -> Approval:
    """Make the submission a course material credited to the student and award its XP, once. Audited.

    Raises `AlreadyDecided` (the loser of concurrent presses), `NotFound`, or `InvalidInput` when the course already
    has the same file as a material (nothing changes then)."""
    row, code = await _decide_pending(session, submission_id, guild_id, actor_id, now, SubmissionStatus.APPROVED)
    student = await session.scalar(select(User.display_name).where(User.id == row.student_id))
    data = await session.scalar(select(MaterialSubmission.data).where(MaterialSubmission.id == row.id)) or b""
    material_title = f"{row.title} (by {student or 'a student'})"[: materials.TITLE_LENGTH]
    registration = await materials.register(
        session,
        course_id=row.course_id,
        uploader_id=row.student_id,
        filename=row.filename,
        data=data,
        title=material_title,
        sha256=row.sha256,
    )
    if not registration.created:
        raise InvalidInput(
            f"{code} already has this file as the material “{registration.material.title}”, so nothing was approved."
        )
    guild_zone, _ = await tenancy.time_zones(session, guild_id=guild_id, user_id=row.student_id)
    awarded = await xp.award(
        session,
        guild_id=guild_id,
        user_id=row.student_id,
        amount=xp_amount,
        action="submission_approved",
        source_key=f"submission:{row.id}:approved",
        day=local_date(now, guild_zone),
        course_id=row.course_id,
        reason=f"Material approved: {row.title}"[:300],
    )
    row.material_id = registration.material.id
    row.xp_awarded = awarded.amount
    await session.flush()
    xp_text = f" You earned {row.xp_awarded} XP." if row.xp_awarded else ""
    await _record_decision(
        session,
        row,
        actor_id,
        "approve",
        now,
        f"Your material “{row.title}” is now part of {code}: the tutor can cite it, with your name.{xp_text}",
        code=code,
        material=row.material_id,
        xp=row.xp_awarded,
    )
    return Approval(_view(row, code), row.filename, data, material_title)


async def reject(
    session: AsyncSession, *, submission_id: int, guild_id: int, actor_id: int, reason: str, now: datetime
) -> SubmissionView:
    """Turn the submission down; the student is told `reason`. Its file is dropped. Audited.

    Raises `InvalidInput` (no reason), `AlreadyDecided` or `NotFound`."""
    reason = reason.strip()[:REASON_CHARS]
    if not reason:
        raise InvalidInput("Say why: the student is told the reason.")
    row, code = await _decide_pending(
        session, submission_id, guild_id, actor_id, now, SubmissionStatus.REJECTED, reason=reason, data=b""
    )
    told = f"Your material “{row.title}” was not added to {code}: {reason}"
    await _record_decision(session, row, actor_id, "reject", now, told, code=code, reason=reason)
    return _view(row, code)


async def undo(session: AsyncSession, *, submission_id: int, guild_id: int, actor_id: int, now: datetime) -> Decision:
    """Withdraw an approval: the material is removed and the XP reversed by a compensating ledger event. Undoing
    again changes nothing. Audited. Raises `InvalidInput` for a submission that was never approved, or `NotFound`."""
    row, code, won = await _decide(
        session, submission_id, guild_id, actor_id, now, needs=SubmissionStatus.APPROVED, status=SubmissionStatus.UNDONE
    )
    if not won:
        if row.status is SubmissionStatus.UNDONE:
            return Decision(_view(row, code), changed=False)
        raise InvalidInput(f"Only an approved submission can be undone; this one is {row.status.value.lower()}.")
    if row.material_id is not None:
        with suppress(NotFound):  # staff removed the material by hand already
            await materials.delete_material(session, material_id=row.material_id, actor_id=actor_id, now=now)
    if row.xp_awarded:
        guild_zone, _ = await tenancy.time_zones(session, guild_id=guild_id, user_id=row.student_id)
        await xp.award(
            session,
            guild_id=guild_id,
            user_id=row.student_id,
            amount=-row.xp_awarded,
            action="submission_undone",
            source_key=f"submission:{row.id}:undone",
            day=local_date(now, guild_zone),
            course_id=row.course_id,
            reason=f"Approval withdrawn: {row.title}"[:300],
        )
    taken = f" The {row.xp_awarded} XP it earned were taken back." if row.xp_awarded else ""
    told = f"Your material “{row.title}” was removed from {code}.{taken}"
    await _record_decision(
        session, row, actor_id, "undo", now, told, code=code, material=row.material_id, xp=-row.xp_awarded
    )
    return Decision(_view(row, code), changed=True)


async def _record_decision(
    session: AsyncSession,
    row: MaterialSubmission,
    actor_id: int,
    action: str,
    now: datetime,
    text: str,
    *,
    code: str,
    **meta: object,
) -> None:
    """Audit the decision `action` about the student's submission (with `meta`), and plan their message `text` about
    it: each decision is told once, its key names the status it left the submission in."""
    await audit.record(
        session,
        guild_id=row.guild_id,
        actor_id=actor_id,
        action=f"submission.{action}",
        target_type="member",
        target_ids=[row.student_id],
        meta={"submission": row.id, **meta},
    )
    await outbox.enqueue(
        session,
        [
            outbox.Planned(
                dedupe_key=f"submission:{row.id}:{row.status.value.lower()}",
                kind=NotificationKind.SUBMISSION_DECISION,
                guild_id=row.guild_id,
                user_id=row.student_id,
                course_id=row.course_id,
                due_at=now,
                payload={"title": f"Your submission to {code}", "text": text},
            )
        ],
    )


async def _decide(
    session: AsyncSession,
    submission_id: int,
    guild_id: int,
    actor_id: int,
    now: datetime,
    *,
    needs: SubmissionStatus,
    status: SubmissionStatus,
    **values: object,
) -> tuple[MaterialSubmission, str, bool]:
    """Move the submission from `needs` to `status` as `actor_id`'s decision, once: the row as it now is, its course's
    code, and whether this call decided it."""
    row, won = await decisions.decide_once(
        session,
        MaterialSubmission,
        submission_id,
        guild_id=guild_id,
        what="submission",
        needs=needs,
        status=status,
        decided_by=actor_id,
        decided_at=now,
        **values,
    )
    return row, await decisions.course_code(session, row.course_id) or "?", won


async def _decide_pending(
    session: AsyncSession,
    submission_id: int,
    guild_id: int,
    actor_id: int,
    now: datetime,
    status: SubmissionStatus,
    **values: object,
) -> tuple[MaterialSubmission, str]:
    """Decide a PENDING submission (to `status`), once: `AlreadyDecided` for the loser of concurrent presses."""
    row, code, won = await _decide(
        session, submission_id, guild_id, actor_id, now, needs=SubmissionStatus.PENDING, status=status, **values
    )
    if not won:
        raise AlreadyDecided(row.status, row.decided_by)
    return row, code


def _view(row: MaterialSubmission, course_code: str) -> SubmissionView:
    return views.from_row(SubmissionView, row, course_code=course_code)
