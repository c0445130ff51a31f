"""Study reminders: a local time on chosen weekdays, per course, in the student's own time zone.

Each preference keeps the UTC instant of its next reminder (`next_fire_at`, indexed, NULL when off or paused);
the planner (`bot.services.reminder_planner`, whose `plan_due` this module passes on) turns the due ones into
outbox rows, once per local day. What a reminder says is worked out when it is sent (`compose`), so it tells
where the student is then.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, NotEnrolled
from bot.services import delivery, navigation, outbox, reviews, streaks
from bot.services.enrollment import active_enrollment
from bot.services.reminder_planner import from_bitmask, next_fire_at
from bot.services.reminder_planner import plan_due as plan_due
from bot.services.tenancy import GuildConfig
from db.models import Course, Guild, ReminderPreference, Streak, User

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = frozenset(range(7))
DAY_SETS = {
    "every day": EVERY_DAY,
    "daily": EVERY_DAY,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
# Where a student's own quiet hours live in `users.preferences`: "HH:MM-HH:MM", or "off" for none at all.
QUIET_HOURS_KEY = "quiet_hours"
QUIET_OFF = "off"


class BadReminderTime(InvalidInput):
    def __init__(self, given: str) -> None:
        super().__init__(f"`{given}` is not a time I can read. Use 24-hour `HH:MM`, e.g. `09:00` or `18:30`.")


class BadReminderDays(InvalidInput):
    def __init__(self, given: str) -> None:
        super().__init__(
            f"`{given}` is not a set of days I can read. Use `every day`, `weekdays`, `weekends`, "
            "or days such as `mon,wed,fri`."
        )


class BadQuietHours(InvalidInput):
    def __init__(self, given: str) -> None:
        super().__init__(
            f"`{given}` is not a quiet-hours window I can read. Use `HH:MM-HH:MM`, e.g. `22:00-07:00` (it may run "
            "past midnight), `off` for none, or `default` for the server's."
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


DAY_PRESETS = ("every day", "weekdays", "weekends", "mon,wed,fri", "tue,thu", "sat,sun")


def suggest_days(typed: str, limit: int = 25) -> list[str]:
    """Values for the `days:` option while it is typed: the usual sets, and a list being typed completed with each
    day not in it yet (`mon,w` -> `mon,wed`)."""
    wanted = typed.strip().lower()
    found = [preset for preset in DAY_PRESETS if wanted in preset]
    head, comma, last = wanted.rpartition(",")
    chosen = [part.strip() for part in head.split(",") if part.strip()] if comma else []
    last = last.strip()
    if comma or last:
        found += [
            ",".join([*chosen, name])
            for name in WEEKDAY_NAMES
            if name.startswith(last[:3]) and name not in chosen and ",".join([*chosen, name]) not in found
        ]
    return found[:limit]


def to_bitmask(days: frozenset[int]) -> int:
    return sum(1 << day for day in days)


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
    preference.next_fire_at = next_fire_at(
        preference.local_time, preference.weekdays, zone, after=now, last_planned_day=preference.last_planned_day
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
    quiet: str | None = None,
) -> ReminderView:
    """Create or change the reminder for one of the student's courses (their latest without a code); a paused
    reminder starts again. With `quiet`, the student's quiet hours change too (see `set_quiet_hours`)."""
    if quiet is not None:
        await set_quiet_hours(session, user_id=user_id, given=quiet)
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
    preference.pause_untold = False
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


@dataclass(frozen=True, slots=True)
class ReminderOverview:
    """What `/remind show` tells a student: their zone, reminders, quiet hours, and (once) why they were paused."""

    time_zone: str
    reminders: list[ReminderView]
    quiet: QuietSetting
    pause_notice: str | None


async def overview(session: AsyncSession, *, guild_id: int, user_id: int, default_quiet: str) -> ReminderOverview:
    zone, views = await reminders_of(session, guild_id=guild_id, user_id=user_id)
    quiet = await quiet_hours_of(session, user_id=user_id, guild_id=guild_id, default=default_quiet)
    notice = await delivery.take_pause_notice(session, user_id=user_id, guild_id=guild_id)
    return ReminderOverview(zone, views, quiet, notice)


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


@dataclass(frozen=True, slots=True)
class ReminderMessage(navigation.StudyPosition):
    """What a reminder tells the student: where they stand, their streak and due reviews; `guild_id` and
    `course_code` make its Continue button work in a DM."""

    guild_id: int
    streak_days: int
    reviews_due: int = 0  # review cards of the course due by the end of the reminder's day (`/review`)


async def compose(session: AsyncSession, claimed: outbox.Claimed) -> ReminderMessage | str:
    """The reminder as it should read now, or the reason to skip it (turned off or paused since it was planned,
    studied that day, no longer enrolled). Whether the student is still in the server is Discord's to say, at
    delivery."""
    assert claimed.user_id is not None and claimed.course_id is not None
    if not await delivery.still_wanted(session, user_id=claimed.user_id, course_id=claimed.course_id):
        return "reminder turned off or paused"
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
        **asdict(position),
        guild_id=claimed.guild_id,
        streak_days=streaks.current_as_of(state, day),
        reviews_due=await reviews.due_on(session, user_id=claimed.user_id, course_id=claimed.course_id, day=day),
    )


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window of local wall-clock time, `start` included, `end` not; it runs past midnight when
    `end` <= `start` (22:00-07:00)."""

    start: time
    end: time

    def covers(self, at: time) -> bool:
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet_hours(given: str) -> QuietHours | None:
    """`22:00-07:00` -> QuietHours; `off` (or `none`) -> None. Anything else raises BadQuietHours."""
    wanted = given.strip().lower()
    if wanted in (QUIET_OFF, "none", "no"):
        return None
    parts = re.split(r"\s*(?:-|–|to)\s*", wanted)
    if len(parts) != 2:
        raise BadQuietHours(given)
    try:
        start, end = parse_time(parts[0]), parse_time(parts[1])
    except BadReminderTime:
        raise BadQuietHours(given) from None
    if start == end:
        raise BadQuietHours(given)
    return QuietHours(start, end)


@dataclass(frozen=True, slots=True)
class QuietSetting:
    """The quiet hours that hold for a student in a guild, and who chose them: the student ("you"), the server's
    admins ("server") or the bot's operator ("bot", config `reminders.default_quiet_hours`)."""

    hours: QuietHours | None
    chosen_by: str


async def set_quiet_hours(session: AsyncSession, *, user_id: int, given: str) -> None:
    """The student's own quiet hours (`22:00-07:00`, or `off` for none at all whatever the server's), or
    `default` to follow the server's again."""
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} was never seen")
    preferences = {key: value for key, value in user.preferences.items() if key != QUIET_HOURS_KEY}
    if given.strip().lower() != "default":
        quiet = parse_quiet_hours(given)
        preferences[QUIET_HOURS_KEY] = str(quiet) if quiet else QUIET_OFF
    user.preferences = preferences


def _quiet_setting(user_preferences: dict | None, guild_settings: dict | None, default: str) -> QuietSetting:
    own = (user_preferences or {}).get(QUIET_HOURS_KEY)
    if own:
        return QuietSetting(parse_quiet_hours(own), "you")
    server = GuildConfig.model_validate(guild_settings or {}).quiet_hours
    if server:
        return QuietSetting(parse_quiet_hours(server), "server")
    return QuietSetting(parse_quiet_hours(default) if default else None, "bot")


async def quiet_hours_of(session: AsyncSession, *, user_id: int, guild_id: int, default: str) -> QuietSetting:
    """The quiet hours that hold for the student in this guild: their own, else the server's, else `default`."""
    row = (
        await session.execute(
            select(User.preferences, select(Guild.settings).where(Guild.id == guild_id).scalar_subquery()).where(
                User.id == user_id
            )
        )
    ).first()
    preferences, settings = row if row is not None else (None, None)
    return _quiet_setting(preferences, settings, default)


async def in_quiet_hours(session: AsyncSession, *, user_id: int, guild_id: int, now: datetime, default: str) -> bool:
    """Whether `now` falls in the student's quiet hours, on their own wall clock (one query)."""
    row = (
        await session.execute(
            select(
                User.time_zone,
                User.preferences,
                select(Guild.settings).where(Guild.id == guild_id).scalar_subquery(),
            ).where(User.id == user_id)
        )
    ).first()
    if row is None:
        return False
    zone, preferences, settings = row
    quiet = _quiet_setting(preferences, settings, default).hours
    return quiet is not None and quiet.covers(now.astimezone(ZoneInfo(zone or "UTC")).time())
