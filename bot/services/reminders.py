"""Study reminders: a local time on chosen weekdays, per course, in the student's own time zone.

Each preference keeps the UTC instant of its next reminder (`next_fire_at`, indexed, NULL when off or paused).
`plan_due` reads only the preferences whose instant has come, puts one outbox row per reminder (dedupe key
`reminder:{user}:{course}:{local day}`) and moves each instant on to the next chosen local day, so a planner
tick costs what is due, not what exists, and no local day is planned twice (`bot.clock.next_local_occurrence`).
What a reminder says is worked out when it is sent (`compose`), so it tells where the student is then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date, next_local_occurrence
from bot.errors import InvalidInput, NotEnrolled
from bot.services import navigation, outbox, streaks
from bot.services.enrollment import active_enrollment
from db.models import Course, NotificationKind, ReminderPreference, Streak, User

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = frozenset(range(7))
DAY_SETS = {
    "every day": EVERY_DAY,
    "daily": EVERY_DAY,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
# A reminder more than this late (the bot was down) is not sent: the student has moved on.
STALE_AFTER = timedelta(hours=2)
# Pause a student's reminders after this many deliveries in a row failed (DMs closed, no fallback channel).
PAUSE_AFTER_FAILURES = 3
# PostgreSQL advisory lock key of the planner: one planner at a time across every bot process.
PLANNER_LOCK = 0x436F7572_7365  # "Course"


class BadReminderTime(InvalidInput):
    def __init__(self, given: str) -> None:
        super().__init__(f"`{given}` is not a time I can read. Use 24-hour `HH:MM`, e.g. `09:00` or `18:30`.")


class BadReminderDays(InvalidInput):
    def __init__(self, given: str) -> None:
        super().__init__(
            f"`{given}` is not a set of days I can read. Use `every day`, `weekdays`, `weekends`, "
            "or days such as `mon,wed,fri`."
        )


def parse_time(given: str) -> time:
    match = re.fullmatch(r"\s*([01]?\d|2[0-3])[:.h]([0-5]\d)\s*", given)
    if match is None:
        raise BadReminderTime(given)
    return time(int(match[1]), int(match[2]))


def parse_days(given: str | None) -> frozenset[int]:
    """`every day`, `weekdays`, `weekends`, or days named by their first three letters or more (`mon,wed,fri`)."""
    if given is None or not given.strip():
        return EVERY_DAY
    wanted = given.strip().lower()
    if wanted in DAY_SETS:
        return DAY_SETS[wanted]
    days = set()
    for part in filter(None, re.split(r"[\s,;/]+", wanted)):
        day = next(
            (index for index, name in enumerate(FULL_DAY_NAMES) if len(part) >= 3 and name.startswith(part)), None
        )
        if day is None:
            raise BadReminderDays(given)
        days.add(day)
    if not days:
        raise BadReminderDays(given)
    return frozenset(days)


def describe_days(days: frozenset[int]) -> str:
    for name, day_set in DAY_SETS.items():
        if days == day_set and name != "daily":
            return name
    return ",".join(WEEKDAY_NAMES[day] for day in sorted(days))


def to_bitmask(days: frozenset[int]) -> int:
    return sum(1 << day for day in days)


def from_bitmask(mask: int) -> frozenset[int]:
    return frozenset(day for day in range(7) if mask & (1 << day))


@dataclass(frozen=True, slots=True)
class ReminderView:
    course_code: str
    local_time: time
    days: frozenset[int]
    time_zone: str
    next_at: datetime | None  # UTC; None while paused
    paused_reason: str | None

    @property
    def next_local(self) -> datetime | None:
        return self.next_at.astimezone(ZoneInfo(self.time_zone)) if self.next_at else None


async def _user_zone(session: AsyncSession, user_id: int) -> str:
    return await session.scalar(select(User.time_zone).where(User.id == user_id)) or "UTC"


def _schedule(preference: ReminderPreference, *, now: datetime, zone: str) -> None:
    """Set the next instant: the first chosen local day after `now` not planned yet."""
    not_before = preference.last_planned_day + timedelta(days=1) if preference.last_planned_day else None
    _, preference.next_fire_at = next_local_occurrence(
        now,
        at=preference.local_time,
        weekdays=from_bitmask(preference.weekdays),
        time_zone=zone,
        not_before_day=not_before,
    )


async def set_reminder(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    course_code: str | None,
    at: time,
    days: frozenset[int],
    now: datetime,
) -> ReminderView:
    """Create or change the reminder for one of the student's courses (their latest without a code); a paused
    reminder starts again."""
    enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
    zone = await _user_zone(session, user_id)
    preference = await session.scalar(
        select(ReminderPreference).where(
            ReminderPreference.user_id == user_id, ReminderPreference.course_id == enrollment.course_id
        )
    )
    if preference is None:
        preference = ReminderPreference(guild_id=guild_id, user_id=user_id, course_id=enrollment.course_id)
        session.add(preference)
    preference.local_time = at
    preference.weekdays = to_bitmask(days)
    preference.paused_reason = None
    preference.consecutive_failures = 0
    _schedule(preference, now=now, zone=zone)
    return ReminderView(enrollment.course_code, at, days, zone, preference.next_fire_at, None)


async def turn_off(session: AsyncSession, *, guild_id: int, user_id: int, course_code: str | None) -> list[str]:
    """Delete the student's reminders in this guild, for one course or (without a code) all; returns the codes."""
    query = (
        select(ReminderPreference, Course.code)
        .join(Course, Course.id == ReminderPreference.course_id)
        .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
    )
    if course_code:
        enrollment = await active_enrollment(session, guild_id=guild_id, user_id=user_id, course_code=course_code)
        query = query.where(ReminderPreference.course_id == enrollment.course_id)
    rows = (await session.execute(query)).all()
    for preference, _ in rows:
        await session.delete(preference)
    return sorted(code for _, code in rows)


async def reminders_of(session: AsyncSession, *, guild_id: int, user_id: int) -> tuple[str, list[ReminderView]]:
    """(the student's zone, their reminders in this guild by course code)."""
    zone = await _user_zone(session, user_id)
    rows = await session.execute(
        select(ReminderPreference, Course.code)
        .join(Course, Course.id == ReminderPreference.course_id)
        .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
        .order_by(Course.code)
    )
    return zone, [
        ReminderView(code, pref.local_time, from_bitmask(pref.weekdays), zone, pref.next_fire_at, pref.paused_reason)
        for pref, code in rows
    ]


async def reschedule_user(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """After a time-zone change: future reminders move to the new zone; a local day already planned stays done."""
    zone = await _user_zone(session, user_id)
    preferences = await session.scalars(
        select(ReminderPreference).where(
            ReminderPreference.user_id == user_id, ReminderPreference.paused_reason.is_(None)
        )
    )
    for preference in preferences:
        _schedule(preference, now=now, zone=zone)


async def _take_planner_lock(session: AsyncSession) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one process, and its single writer already serialises planners
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PLANNER_LOCK}))


async def plan_due(session: AsyncSession, *, now: datetime, limit: int = 5000) -> int:
    """Turn every reminder whose instant has come into an outbox row, and move each on; returns how many were
    planned. On PostgreSQL only one process plans at a time (an advisory lock held to commit)."""
    if not await _take_planner_lock(session):
        return 0
    rows = (
        await session.execute(
            select(ReminderPreference, User.time_zone)
            .join(User, User.id == ReminderPreference.user_id)
            .where(ReminderPreference.next_fire_at <= now)
            .order_by(ReminderPreference.next_fire_at)
            .limit(limit)
            .with_for_update(of=ReminderPreference, skip_locked=True)
        )
    ).all()
    planned = []
    for preference, zone in rows:
        while preference.next_fire_at is not None and preference.next_fire_at <= now:
            fire_at = preference.next_fire_at
            if now - fire_at > STALE_AFTER:
                # Missed while the bot was down: skip to the occurrences still worth sending.
                _schedule(preference, now=now - STALE_AFTER, zone=zone)
                continue
            day = _planned_day(preference, fire_at, zone)
            planned.append(
                outbox.Planned(
                    dedupe_key=f"reminder:{preference.user_id}:{preference.course_id}:{day.isoformat()}",
                    kind=NotificationKind.REMINDER,
                    guild_id=preference.guild_id,
                    due_at=fire_at,
                    user_id=preference.user_id,
                    course_id=preference.course_id,
                    payload={"day": day.isoformat()},
                )
            )
            preference.last_planned_day = day
            _schedule(preference, now=fire_at, zone=zone)
    await outbox.enqueue(session, planned)
    return len(planned)


def _planned_day(preference: ReminderPreference, fire_at: datetime, zone: str) -> date:
    """The local day `fire_at` was scheduled for (a time skipped by DST may fire on the next wall-clock day)."""
    not_before = preference.last_planned_day + timedelta(days=1) if preference.last_planned_day else None
    day, instant = next_local_occurrence(
        fire_at - timedelta(microseconds=1),
        at=preference.local_time,
        weekdays=from_bitmask(preference.weekdays),
        time_zone=zone,
        not_before_day=not_before,
    )
    return day if instant == fire_at else local_date(fire_at, zone)


@dataclass(frozen=True, slots=True)
class ReminderMessage:
    """What a reminder tells the student; `guild_id` and `course_code` make its Continue button work in a DM."""

    guild_id: int
    course_code: str
    course_title: str
    current_title: str | None
    next_title: str | None
    quiz_to_pass: str | None
    done: int
    total: int
    streak_days: int


async def compose(session: AsyncSession, claimed: outbox.Claimed) -> ReminderMessage | str:
    """The reminder as it should read now, or the reason to skip it (studied that day, no longer enrolled).
    Whether the student is still in the server is Discord's to say, at delivery."""
    assert claimed.user_id is not None and claimed.course_id is not None
    code = await session.scalar(select(Course.code).where(Course.id == claimed.course_id))
    try:
        enrollment = await active_enrollment(
            session, guild_id=claimed.guild_id, user_id=claimed.user_id, course_code=code or ""
        )
    except NotEnrolled:
        return "no longer enrolled in the course"
    day = date.fromisoformat(claimed.payload["day"])
    last_active = await session.scalar(select(Streak.last_activity_date).where(Streak.user_id == claimed.user_id))
    if last_active is not None and last_active >= day:
        return "already studied that day"
    position = await navigation.study_position(session, enrollment, user_id=claimed.user_id)
    state = await streaks.state_of(session, user_id=claimed.user_id)
    return ReminderMessage(
        guild_id=claimed.guild_id,
        course_code=position.course_code,
        course_title=position.course_title,
        current_title=position.current_title,
        next_title=position.next_title,
        quiz_to_pass=position.quiz_to_pass,
        done=position.done,
        total=position.total,
        streak_days=streaks.current_as_of(state, day),
    )


async def record_delivery(session: AsyncSession, *, user_id: int, guild_id: int, delivered: bool) -> bool:
    """Count a student's failed deliveries in a row; after PAUSE_AFTER_FAILURES their reminders in the guild
    pause. Returns True when this failure paused them."""
    if delivered:
        await session.execute(
            update(ReminderPreference)
            .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
            .values(consecutive_failures=0)
        )
        return False
    failures = await session.scalars(
        update(ReminderPreference)
        .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
        .values(consecutive_failures=ReminderPreference.consecutive_failures + 1)
        .returning(ReminderPreference.consecutive_failures)
    )
    if max(failures, default=0) < PAUSE_AFTER_FAILURES:
        return False
    await session.execute(
        update(ReminderPreference)
        .where(ReminderPreference.user_id == user_id, ReminderPreference.guild_id == guild_id)
        .values(
            next_fire_at=None,
            paused_reason="I couldn't reach you 3 times in a row: open your DMs for this server, then `/remind set`.",
        )
    )
    return True
