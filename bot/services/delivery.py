"""How messages the bot sends on its own reach a student, and what happens when they do not.

A student's DM channel is opened once and stored (`users.dm_channel_id`), and the bot confirms they are still in
the server only every few days (`reminder_preferences.member_seen_at`), so a reminder costs Discord one request,
not three: at Discord's 50 requests a second that is the difference between a minute's 2,000 reminders leaving
within the minute or over two. Both are prepared ahead of a reminder (`routes_to_prepare`, `remember_routes`), so
even a student's first reminder is one request at its minute. Failed deliveries in a row, or a student found gone
from the server, pause a student's reminders, and the pause is told to them once, by whichever process sees them
first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.clock import local_date, local_instant
from bot.services import outbox, tenancy
from db.models import Course, ReminderPreference, User

# Pause a student's reminders after this many deliveries in a row failed (DMs closed, no fallback channel).
PAUSE_AFTER_FAILURES = 3
PAUSED_REASON = (
    "I couldn't reach you 3 times in a row, so your reminders are paused. Allow direct messages from this server "
    "(server menu → Privacy Settings → Direct Messages), then run `/remind set` again."
)
LEFT_REASON = "You left the server, so your reminders there are paused. Back in it, run `/remind set` again."
# A reminder leaves up to a minute after its instant: a membership check falling due by then is prepared too.
SEND_SLACK = timedelta(minutes=1)


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


async def remember_left(session: AsyncSession, *, user_id: int, guild_id: int) -> bool:
    """Discord says the student is no longer in the guild: their reminders there pause, so none costs another
    request, and the pause waits to be told (`take_pause_notice`), should they come back. Returns True when this
    paused them."""
    paused = await session.execute(
        update(ReminderPreference)
        .where(
            ReminderPreference.user_id == user_id,
            ReminderPreference.guild_id == guild_id,
            ReminderPreference.paused_reason.is_(None),
        )
        .values(next_fire_at=None, paused_reason=LEFT_REASON, pause_untold=True)
    )
    return bool(paused.rowcount)


@dataclass(frozen=True, slots=True)
class RouteToPrepare:
    """A student with a reminder coming whose route is not ready for it: what to ask Discord before it comes."""

    user_id: int
    guild_id: int
    open_dm: bool  # no DM channel stored yet
    check_member: bool  # the membership check falls due by the time the reminder leaves


@dataclass(frozen=True, slots=True)
class RoutesBatch:
    routes: list[RouteToPrepare]
    resume_after: tuple[datetime, int] | None  # (instant, preference id) the next batch starts after; None: done


async def routes_to_prepare(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    check_every: timedelta,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> RoutesBatch:
    """The students whose reminder comes in (`since`, `until`] and whose route is not ready for it (no DM channel,
    or a membership check due by then), at most `limit` reminders a batch, in the order they come (the index of
    `next_fire_at`); `after` continues from the previous batch. Paused reminders have no instant: never here."""
    preference = ReminderPreference
    in_window = [preference.next_fire_at > since, preference.next_fire_at <= until]
    if after is not None:
        at, preference_id = after
        in_window.append(
            or_(preference.next_fire_at > at, and_(preference.next_fire_at == at, preference.id > preference_id))
        )
    # Seen this recently, no reminder in the window needs a check (refined per reminder below).
    seen_long_ago = until + SEND_SLACK - check_every
    rows = (
        await session.execute(
            select(
                preference.id,
                preference.next_fire_at,
                preference.user_id,
                preference.guild_id,
                User.dm_channel_id,
                preference.member_seen_at,
            )
            .join(User, User.id == preference.user_id)
            .where(
                *in_window,
                or_(
                    User.dm_channel_id.is_(None),
                    preference.member_seen_at.is_(None),
                    preference.member_seen_at <= seen_long_ago,
                ),
            )
            .order_by(preference.next_fire_at, preference.id)
            .limit(limit)
        )
    ).all()
    routes: dict[tuple[int, int], RouteToPrepare] = {}
    for _, fire_at, user_id, guild_id, dm_channel_id, seen_at in rows:
        check = Route(dm_channel_id, seen_at).member_check_due(now=fire_at + SEND_SLACK, every=check_every)
        earlier = routes.get((user_id, guild_id))
        if earlier is not None:
            check = check or earlier.check_member
        if dm_channel_id is None or check:
            routes[user_id, guild_id] = RouteToPrepare(user_id, guild_id, dm_channel_id is None, check)
    resume_after = (rows[-1][1], rows[-1][0]) if len(rows) == limit else None
    return RoutesBatch(list(routes.values()), resume_after)


@dataclass(frozen=True, slots=True)
class PreparedRoute:
    """What Discord said of one student ahead of their reminder."""

    user_id: int
    guild_id: int
    member_seen: bool = False  # confirmed in the guild just now
    dm_channel_id: int | None = None  # the DM channel opened just now
    left: bool = False  # Discord says they are no longer in the guild


async def remember_routes(
    session: AsyncSession, prepared: list[PreparedRoute], *, seen_at: datetime
) -> list[tuple[int, int]]:
    """Store what was prepared ahead (`routes_to_prepare`): a statement each for memberships and DM channels,
    however many students; a student who left has their reminders there paused (`remember_left`). Returns the
    (guild, user) of each student paused by it."""
    paused = [
        (route.guild_id, route.user_id)
        for route in prepared
        if route.left and await remember_left(session, user_id=route.user_id, guild_id=route.guild_id)
    ]
    preferences, users = ReminderPreference.__table__, User.__table__  # plain executemany, no ORM bulk rules
    seen = [{"uid": route.user_id, "gid": route.guild_id, "seen": seen_at} for route in prepared if route.member_seen]
    if seen:
        await session.execute(
            update(preferences)
            .where(preferences.c.user_id == bindparam("uid"), preferences.c.guild_id == bindparam("gid"))
            .values(member_seen_at=bindparam("seen")),
            seen,
        )
    opened = [{"uid": route.user_id, "channel": route.dm_channel_id} for route in prepared if route.dm_channel_id]
    if opened:
        await session.execute(
            update(users).where(users.c.id == bindparam("uid")).values(dm_channel_id=bindparam("channel")), opened
        )
    return paused


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


async def still_wanted(
    session: AsyncSession,
    *,
    user_id: int,
    course_id: int | None = None,
    nudges: InstrumentedAttribute[bool] | None = None,
) -> bool:
    """Whether the student still has an unpaused reminder (for `course_id`; with the `nudges` switch on): what a
    reminder or nudge planned earlier asks again when it is sent."""
    wanted = [ReminderPreference.user_id == user_id, ReminderPreference.paused_reason.is_(None)]
    if course_id is not None:
        wanted.append(ReminderPreference.course_id == course_id)
    if nudges is not None:
        wanted.append(nudges.is_(True))
    return bool(await session.scalar(select(exists().where(*wanted))))
