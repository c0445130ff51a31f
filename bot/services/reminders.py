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
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, DateTime, bindparam, exists, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date, next_local_occurrence
from bot.errors import InvalidInput, NotEnrolled
from bot.services import delivery, navigation, outbox, reviews, streaks
from bot.services.enrollment import active_enrollment
from bot.services.tenancy import GuildConfig
from db.base import utcnow
from db.models import Course, Guild, NotificationKind, ReminderPreference, Streak, User

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
# PostgreSQL advisory lock key of the planner: one planner at a time across every bot process.
PLANNER_LOCK = 0x436F7572_7365  # "Course"
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
    preference.next_fire_at = _next_fire_at(
        preference.local_time, preference.weekdays, zone, after=now, last_planned_day=preference.last_planned_day
    )


def _next_fire_at(at: time, weekdays: int, zone: str, *, after: datetime, last_planned_day: date | None) -> datetime:
    """The instant of the first chosen local day after `after` not planned yet."""
    not_before = last_planned_day + timedelta(days=1) if last_planned_day else None
    _, instant = next_local_occurrence(
        after, at=at, weekdays=from_bitmask(weekdays), time_zone=zone, not_before_day=not_before
    )
    return instant


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


async def _take_planner_lock(session: AsyncSession) -> bool:
    """On PostgreSQL, the planner lock for this transaction (False: another process is planning), and a commit
    that does not wait for the disk. That is safe here: a tick lost to a crash before the write-ahead log reaches
    the disk is lost whole (outbox rows and moved instants together), so the next tick plans it again; and a
    sender's claim, which does wait, flushes every commit before it."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one process, and its single writer already serialises planners
    return bool(
        await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key) FROM set_config('synchronous_commit', 'off', true)"),
            {"key": PLANNER_LOCK},
        )
    )


async def plan_due(session: AsyncSession, *, now: datetime, limit: int = 5000) -> int:
    """Turn every reminder whose instant has come into an outbox row, and move each on; returns how many were
    planned. On PostgreSQL only one process plans at a time (an advisory lock held to commit), and rows another
    transaction holds are skipped, not waited for.

    A tick's statements don't grow with what it plans: the lock (PostgreSQL), one locking read of the due rows
    (plain columns, no ORM objects), the outbox insert and the update that moves the instants on, each one
    set-based statement (see `outbox.enqueue` and `_move_instants`). The date arithmetic is worked out once per
    distinct (zone, time, days, instant, last day): a minute's due rows share a few of them."""
    if not await _take_planner_lock(session):
        return 0
    rows = (
        await session.execute(
            select(
                ReminderPreference.id,
                ReminderPreference.guild_id,
                ReminderPreference.user_id,
                ReminderPreference.course_id,
                ReminderPreference.local_time,
                ReminderPreference.weekdays,
                ReminderPreference.next_fire_at,
                ReminderPreference.last_planned_day,
                User.time_zone,
            )
            .join(User, User.id == ReminderPreference.user_id)
            .where(ReminderPreference.next_fire_at <= now)
            .order_by(ReminderPreference.next_fire_at)
            .limit(limit)
            .with_for_update(of=ReminderPreference, skip_locked=True)
        )
    ).all()
    if not rows:
        return 0
    for zone in {row.time_zone for row in rows}:
        _keep_loaded(zone)
    advance = cache(_advance)  # for this tick only
    planned, moved = [], []
    for preference_id, guild_id, user_id, course_id, at, weekdays, fire_at, last_day, zone in rows:
        days, next_fire_at, last_planned_day = advance(at, weekdays, zone, fire_at, last_day, now)
        for day, due_at in days:
            planned.append(
                outbox.Planned(
                    dedupe_key=f"reminder:{user_id}:{course_id}:{day}",
                    kind=NotificationKind.REMINDER,
                    guild_id=guild_id,
                    due_at=due_at,
                    user_id=user_id,
                    course_id=course_id,
                    payload={"day": day},
                )
            )
        moved.append((preference_id, next_fire_at, last_planned_day))
    await outbox.enqueue(session, planned)
    await _move_instants(session, moved)
    return len(planned)


async def _move_instants(session: AsyncSession, moved: list[tuple[int, datetime, date | None]]) -> None:
    """Store each planned preference's (id, next instant, last planned day) in one statement: on PostgreSQL an
    UPDATE joined to the new values sent as three arrays; on SQLite, in-process, an executemany."""
    preferences = ReminderPreference.__table__
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        ids, instants, days = (list(column) for column in zip(*moved, strict=True))
        new = (
            func.unnest(
                bindparam("ids", ids, type_=postgresql.ARRAY(BigInteger)),
                bindparam("instants", instants, type_=postgresql.ARRAY(DateTime(timezone=True))),
                bindparam("days", days, type_=postgresql.ARRAY(Date)),
            )
            .table_valued("id", "next_fire_at", "last_planned_day")
            .render_derived(name="moved")
        )
        await connection.execute(
            update(preferences)
            .where(preferences.c.id == new.c.id)
            .values(next_fire_at=new.c.next_fire_at, last_planned_day=new.c.last_planned_day, updated_at=utcnow())
        )
        return
    await connection.execute(
        update(preferences)
        .where(preferences.c.id == bindparam("row_id"))
        .values(next_fire_at=bindparam("instant"), last_planned_day=bindparam("day"), updated_at=utcnow()),
        [{"row_id": row_id, "instant": instant, "day": day} for row_id, instant, day in moved],
    )


@cache
def _keep_loaded(zone: str) -> ZoneInfo:
    """Hold a zone for the life of the process: `ZoneInfo` keeps a zone loaded only while something holds it (and
    the last few used), and a tick's date arithmetic asks for each of its zones many times."""
    return ZoneInfo(zone)


def _advance(
    at: time, weekdays: int, zone: str, fire_at: datetime, last_planned_day: date | None, now: datetime
) -> tuple[list[tuple[str, datetime]], datetime, date | None]:
    """What a tick at `now` does to one preference: the (local day as ISO text, instant) pairs to plan, then its
    next instant and last planned day. Pure, so rows sharing their arguments share the answer."""
    days = []
    while fire_at <= now:
        if now - fire_at > STALE_AFTER:
            # Missed while the bot was down: skip to the occurrences still worth sending.
            fire_at = _next_fire_at(at, weekdays, zone, after=now - STALE_AFTER, last_planned_day=last_planned_day)
            continue
        day = _planned_day(at, weekdays, zone, fire_at, last_planned_day)
        days.append((day.isoformat(), fire_at))
        last_planned_day = day
        fire_at = _next_fire_at(at, weekdays, zone, after=fire_at, last_planned_day=day)
    return days, fire_at, last_planned_day


def _planned_day(at: time, weekdays: int, zone: str, fire_at: datetime, last_planned_day: date | None) -> date:
    """The local day `fire_at` was scheduled for (a time skipped by DST may fire on the next wall-clock day)."""
    not_before = last_planned_day + timedelta(days=1) if last_planned_day else None
    day, instant = next_local_occurrence(
        fire_at - timedelta(microseconds=1),
        at=at,
        weekdays=from_bitmask(weekdays),
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
    reviews_due: int = 0  # review cards of the course due by the end of the reminder's day (`/review`)


async def compose(session: AsyncSession, claimed: outbox.Claimed) -> ReminderMessage | str:
    """The reminder as it should read now, or the reason to skip it (turned off or paused since it was planned,
    studied that day, no longer enrolled). Whether the student is still in the server is Discord's to say, at
    delivery."""
    assert claimed.user_id is not None and claimed.course_id is not None
    still_wanted = await session.scalar(
        select(
            exists().where(
                ReminderPreference.user_id == claimed.user_id,
                ReminderPreference.course_id == claimed.course_id,
                ReminderPreference.paused_reason.is_(None),
            )
        )
    )
    if not still_wanted:
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
        guild_id=claimed.guild_id,
        course_code=position.course_code,
        course_title=position.course_title,
        current_title=position.current_title,
        next_title=position.next_title,
        quiz_to_pass=position.quiz_to_pass,
        done=position.done,
        total=position.total,
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
