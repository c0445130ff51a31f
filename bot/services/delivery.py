"""How messages the bot sends on its own reach a student, and what happens when they do not.

A student's DM channel is opened once and stored (`users.dm_channel_id`), and the bot confirms they are still in
the server only every few days (`reminder_preferences.member_seen_at`), so a reminder costs Discord one request,
not three: at Discord's 50 requests a second that is the difference between a minute's 2,000 reminders leaving
within the minute or over two. Failed deliveries in a row pause a student's reminders, and the pause is told to
them once, by whichever process sees them first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date, local_instant
from bot.services import outbox, tenancy
from db.models import Course, ReminderPreference, User

# Pause a student's reminders after this many deliveries in a row failed (DMs closed, no fallback channel).
PAUSE_AFTER_FAILURES = 3
PAUSED_REASON = (
    "I couldn't reach you 3 times in a row, so your reminders are paused. Allow direct messages from this server "
    "(server menu → Privacy Settings → Direct Messages), then run `/remind set` again."
)


@dataclass(frozen=True, slots=True)
class Route:
    """What the bot knows of the way to one student of one guild."""

    dm_channel_id: int | None  # None until their DM channel was first opened
    member_seen_at: datetime | None  # when Discord last confirmed they are in the guild

    def member_check_due(self, *, now: datetime, every: timedelta) -> bool:
        return self.member_seen_at is None or now - self.member_seen_at >= every


async def route(session: AsyncSession, *, user_id: int, guild_id: int) -> Route:
    seen = (
        select(func.min(ReminderPreference.member_seen_at))
        .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
        .scalar_subquery()
    )
    found = (await session.execute(select(User.dm_channel_id, seen).where(User.id == user_id))).first()
    return Route(None, None) if found is None else Route(*found)


async def remember_dm_channel(session: AsyncSession, *, user_id: int, channel_id: int) -> None:
    await session.execute(update(User).where(User.id == user_id).values(dm_channel_id=channel_id))


async def remember_member(session: AsyncSession, *, user_id: int, guild_id: int, seen_at: datetime) -> None:
    """The student was just seen in the guild (they used a command there): no membership check is due."""
    await session.execute(
        update(ReminderPreference)
        .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
        .values(member_seen_at=seen_at)
    )


async def record_delivery(
    session: AsyncSession, *, user_id: int, guild_id: int, delivered: bool, member_seen_at: datetime | None = None
) -> bool:
    """Count a student's failed deliveries in a row; after PAUSE_AFTER_FAILURES their reminders in the guild
    pause, and the pause waits to be told (`take_pause_notice`). `member_seen_at`: Discord confirmed just now that
    they are in the guild. Returns True when this failure paused them."""
    of_student = (ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
    if delivered:
        if member_seen_at is not None:
            values = {"consecutive_failures": 0, "member_seen_at": member_seen_at}
            await session.execute(update(ReminderPreference).where(*of_student).values(values))
        else:  # the usual case writes nothing: a row rewritten unchanged still costs a write
            await session.execute(
                update(ReminderPreference)
                .where(*of_student, ReminderPreference.consecutive_failures != 0)
                .values(consecutive_failures=0)
            )
        return False
    failures = await session.scalars(
        update(ReminderPreference)
        .where(*of_student)
        .values(consecutive_failures=ReminderPreference.consecutive_failures + 1)
        .returning(ReminderPreference.consecutive_failures)
    )
    if max(failures, default=0) < PAUSE_AFTER_FAILURES:
        return False
    paused = await session.execute(
        update(ReminderPreference)
        .where(*of_student, ReminderPreference.paused_reason.is_(None))
        .values(next_fire_at=None, paused_reason=PAUSED_REASON, pause_untold=True)
    )
    return bool(paused.rowcount)


async def take_pause_notice(session: AsyncSession, *, user_id: int, guild_id: int) -> str | None:
    """Why the student's reminders in this guild paused, once: the first call after a pause, in any process,
    returns the reason and marks it told (the pause itself stays until `/remind set`)."""
    reasons = await session.scalars(
        update(ReminderPreference)
        .where(
            ReminderPreference.user_id == user_id,
            ReminderPreference.guild_id == guild_id,
            ReminderPreference.pause_untold,
        )
        .values(pause_untold=False)
        .returning(ReminderPreference.paused_reason)
    )
    return next(iter(reasons), None)


async def untold_pauses(session: AsyncSession) -> set[tuple[int, int]]:
    """(guild, user) of every student paused and not told yet (see `take_pause_notice`)."""
    rows = await session.execute(
        select(ReminderPreference.guild_id, ReminderPreference.user_id)
        .where(ReminderPreference.pause_untold)
        .distinct()
    )
    return {(guild_id, user_id) for guild_id, user_id in rows}


@dataclass(frozen=True, slots=True)
class PausedStudent:
    user_id: int
    display_name: str
    course_code: str
    reason: str


async def paused_students(session: AsyncSession, *, guild_id: int, limit: int = 20) -> list[PausedStudent]:
    """The guild's students whose reminders are paused, most recently paused first."""
    rows = await session.execute(
        select(ReminderPreference.user_id, User.display_name, Course.code, ReminderPreference.paused_reason)
        .join(User, User.id == ReminderPreference.user_id)
        .join(Course, Course.id == ReminderPreference.course_id)
        .where(ReminderPreference.guild_id == guild_id, ReminderPreference.paused_reason.is_not(None))
        .order_by(ReminderPreference.updated_at.desc(), ReminderPreference.id)
        .limit(limit)
    )
    return [PausedStudent(user_id, name, code, reason or "") for user_id, name, code, reason in rows]


@dataclass(frozen=True, slots=True)
class GuildReport:
    """What `/admin reminders` shows: the outbox since the start of the guild's day, and who is paused."""

    time_zone: str
    day_started_at: datetime
    outbox: outbox.OutboxSummary
    paused: list[PausedStudent]


async def guild_report(session: AsyncSession, *, guild_id: int, now: datetime) -> GuildReport:
    zone = await tenancy.guild_zone(session, guild_id=guild_id)
    day_started_at = local_instant(local_date(now, zone), time(0), zone)
    counted = await outbox.summary(session, guild_id=guild_id, since=day_started_at)
    return GuildReport(zone, day_started_at, counted, await paused_students(session, guild_id=guild_id))
