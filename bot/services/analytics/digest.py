"""The weekly digest: each Monday (guild time zone) last week's figures of each course against the week before, to
the course's staff, through the outbox (kind DIGEST, one dedupe key per course, week and recipient, so a rerun or a
second process plans nothing twice). Where the guild set a staff channel it is one post there; otherwise a DM to
each instructor: the members granted the instructor or admin level by the bot, and the course's creator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import outbox, tenancy
from bot.services.analytics.snapshots import DayFigures, history
from db.models import Course, Guild, GuildMember, MemberRole, NotificationKind
from db.models.analytics import WHOLE_COURSE

MONDAY = 0
STAFF_LEVELS = (MemberRole.INSTRUCTOR, MemberRole.ADMIN)


@dataclass(frozen=True, slots=True)
class WeekFigures:
    mean_active: float
    mean_engagement: float
    quiz_attempts: int
    quiz_pass_rate: float | None
    tutor_questions: int
    students: int  # enrolled on the week's last day

    @classmethod
    def of(cls, days: list[DayFigures]) -> WeekFigures:
        if not days:
            return cls(0.0, 0.0, 0, None, 0, 0)
        attempts = sum(day.quiz_attempts for day in days)
        return cls(
            mean_active=sum(day.active_students for day in days) / len(days),
            mean_engagement=sum(day.engagement_score for day in days) / len(days),
            quiz_attempts=attempts,
            quiz_pass_rate=sum(day.quiz_passed for day in days) / attempts if attempts else None,
            tutor_questions=sum(day.tutor_messages for day in days),
            students=days[-1].total_students,
        )


@dataclass(frozen=True, slots=True)
class Digest:
    course_code: str
    course_title: str
    week_start: date  # Monday of the week reported
    this_week: WeekFigures
    week_before: WeekFigures
    days: list[DayFigures]  # both weeks, oldest first, for the chart


def week_reported(now: datetime, time_zone: str) -> date | None:
    """The Monday of last week when it is Monday in `time_zone` at `now`, else None."""
    local = now.astimezone(ZoneInfo(time_zone))
    if local.weekday() != MONDAY:
        return None
    return local.date() - timedelta(days=7)


async def plan_digests(session: AsyncSession, *, now: datetime, hour: int) -> int:
    """Plan last week's digest of every live course whose guild is on Monday at or past `hour`; returns how many
    rows are new (0 on a rerun)."""
    courses = await session.execute(
        select(Course.id, Course.guild_id, Course.created_by, Guild.time_zone)
        .join(Guild, Guild.id == Course.guild_id)
        .where(Course.deleted_at.is_(None))
        .order_by(Course.guild_id, Course.id)
    )
    planned: list[outbox.Planned] = []
    staff: dict[int, tuple[int | None, list[int]]] = {}
    for course_id, guild_id, created_by, zone in courses:
        week = week_reported(now, zone or "UTC")
        if week is None or now.astimezone(ZoneInfo(zone or "UTC")).hour < hour:
            continue
        if guild_id not in staff:
            staff[guild_id] = await _staff_of(session, guild_id)
        channel_id, instructors = staff[guild_id]
        recipients: list[tuple[str, int | None, int | None]]
        if channel_id is not None:
            recipients = [(f"channel{channel_id}", None, channel_id)]
        else:
            people = dict.fromkeys([*instructors, *([created_by] if created_by else [])])
            recipients = [(f"user{user_id}", user_id, None) for user_id in people]
        planned += [
            outbox.Planned(
                dedupe_key=f"digest:{course_id}:{week.isoformat()}:{recipient}",
                kind=NotificationKind.DIGEST,
                guild_id=guild_id,
                due_at=now,
                user_id=user_id,
                course_id=course_id,
                channel_id=channel,
                payload={"week": week.isoformat()},
            )
            for recipient, user_id, channel in recipients
        ]
    return await outbox.enqueue(session, planned)


async def _staff_of(session: AsyncSession, guild_id: int) -> tuple[int | None, list[int]]:
    channel_id = (await tenancy.guild_config(session, guild_id)).staff_channel_id
    instructors = await session.scalars(
        select(GuildMember.user_id)
        .where(GuildMember.guild_id == guild_id, GuildMember.role.in_(STAFF_LEVELS))
        .distinct()
        .order_by(GuildMember.user_id)
    )
    return channel_id, list(instructors)


async def compose_digest(session: AsyncSession, claimed: outbox.Claimed) -> Digest | str:
    """The digest a claimed DIGEST row stands for, or why it is skipped (the course is gone)."""
    course = await session.scalar(select(Course).where(Course.id == claimed.course_id, Course.deleted_at.is_(None)))
    if course is None:
        return "the course was deleted"
    week = date.fromisoformat(claimed.payload["week"])
    days = await history(
        session,
        course_id=course.id,
        offering_id=WHOLE_COURSE,
        since=week - timedelta(days=7),
        until=week + timedelta(days=6),
    )
    return Digest(
        course_code=course.code,
        course_title=course.title,
        week_start=week,
        this_week=WeekFigures.of([day for day in days if day.day >= week]),
        week_before=WeekFigures.of([day for day in days if day.day < week]),
        days=days,
    )
