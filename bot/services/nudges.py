"""Nudges beyond the daily reminder: a streak at risk, a cohort about to end, a new lesson announced.

Each is planned into the outbox (`bot.services.outbox`) under a dedupe key, so a rerun, an overlapping window or
a second process plans nothing twice, and each is worked out again when it is sent (`compose_nudge`), so it
says how things stand then, or is skipped.

Students' nudges follow their reminders: a student without a `reminder_preferences` row for the course, or whose
reminders are paused (`paused_reason` set), gets none; the flags `streak_nudges` and `deadline_nudges` turn each
kind off. Announcements go to the guild's announcement channel, one post per published revision, never to each
student and never with a mention; they are planned when an instructor publishes new revisions of a course that is
already live (`courses.set_published`, or a re-import with publish), not when a course first goes live.

What each planner reads follows what is due, not how many students there are:

- `plan_streak_nudges` first works out, in Python, the zones whose local nudge time (say 20:00) fell in the
  window since the last tick: at any instant that is the handful of zones sharing one UTC offset. It then reads
  only the students of those zones (`users.time_zone IN (...)`) who hold a live streak of 3+ days, a nudge flag
  and an unpaused reminder (`users.time_zone` is indexed). One read and one insert per tick, however many
  students live elsewhere.
- `plan_deadline_nudges` reads the cohorts whose notice instant (`ends_at` - 3 days) fell in the window (a scan
  of cohorts, which are few), then the active students of just those cohorts with their progress.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_instant
from bot.services import audit, delivery, outbox, published, streaks, tenancy
from db.models import (
    ContentItem,
    ContentKind,
    ContentProgress,
    ContentRevision,
    Course,
    CourseEnrollment,
    CourseOffering,
    EnrollmentStatus,
    NotificationKind,
    ReminderPreference,
    RevisionVisibility,
    Streak,
    User,
)

# A streak this long or longer is worth a nudge when today would break it.
STREAK_AT_RISK_FROM = 3
# How long before a cohort ends its students below 100 % hear about it.
DEADLINE_NOTICE = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class NudgeMessage:
    """What a nudge says. `course_code` (None when there is no course to continue) lets a DM's Continue button
    work; an announcement's channel is the claimed row's `channel_id`."""

    guild_id: int
    course_code: str | None
    title: str
    text: str


@cache
def _known_zones() -> tuple[tuple[str, ZoneInfo], ...]:
    return tuple((name, ZoneInfo(name)) for name in sorted(available_timezones()))


def zones_at(at: time, *, since: datetime, now: datetime) -> dict[str, tuple[date, datetime]]:
    """The IANA zones whose wall clock showed `at` in the window (`since`, `now`]: zone -> (that local date, the
    UTC instant). Pure arithmetic over the zone database, a few milliseconds for its ~600 zones; at any instant
    the zones sharing one offset answer, so this is the short list a planner queries by.

    A wall-clock time skipped by a DST change counts at the first minute after it (`bot.clock.local_instant`),
    so each local day still gets its one occurrence."""
    found: dict[str, tuple[date, datetime]] = {}
    for name, zone in _known_zones():
        wall_since, wall_now = since.astimezone(zone), now.astimezone(zone)
        steady = wall_since.utcoffset() == wall_now.utcoffset()
        day = wall_since.date()
        while day <= wall_now.date():
            wall = datetime.combine(day, at)
            if not steady or wall_since.replace(tzinfo=None) < wall <= wall_now.replace(tzinfo=None):
                # Exact only where needed: no offset change in the window means wall-clock order is time order.
                instant = local_instant(day, at, name)
                if since < instant <= now:
                    found[name] = (day, instant)
            day += timedelta(days=1)
    return found


async def plan_streak_nudges(
    session: AsyncSession, *, since: datetime, now: datetime, at: time, min_streak: int = STREAK_AT_RISK_FROM
) -> int:
    """Plan a STREAK_AT_RISK nudge for each student whose local time `at` (e.g. 20:00, from the configuration)
    came in (`since`, `now`], whose streak of `min_streak`+ days would end (or spend a freeze) unless they
    study that local day, who has not studied that day, and who keeps an unpaused reminder with
    `streak_nudges` on. Dedupe key `streak:{user}:{local date}`: one nudge per student and local day, whichever
    guild. Returns how many were planned.

    `since` is the previous tick's `now` (after a restart, further back to catch up): overlapping windows plan
    nothing twice. No statement when no zone is due; one read, and one insert if anyone is at risk, otherwise."""
    due = zones_at(at, since=since, now=now)
    if not due:
        return 0
    days = {day for day, _ in due.values()}
    # Alive and not yet extended on `day`: last active the day before, or two days before with a freeze to spend.
    risky_dates = {day - timedelta(days=gap) for day in days for gap in (1, 2)}
    rows = await session.execute(
        select(
            User.id,
            User.time_zone,
            Streak.current,
            Streak.last_activity_date,
            Streak.freezes_available,
            ReminderPreference.guild_id,
            ReminderPreference.course_id,
        )
        .join(Streak, Streak.user_id == User.id)
        .join(ReminderPreference, ReminderPreference.user_id == User.id)
        .where(
            User.time_zone.in_(sorted(due)),
            Streak.current >= min_streak,
            Streak.last_activity_date.in_(sorted(risky_dates)),
            ReminderPreference.streak_nudges.is_(True),
            ReminderPreference.paused_reason.is_(None),
        )
        .order_by(User.id, ReminderPreference.id)
    )
    planned: dict[int, outbox.Planned] = {}
    for user_id, zone, current, last_active, freezes, guild_id, course_id in rows:
        if user_id in planned:
            continue  # one nudge per student: the guild and course of their first reminder
        day, instant = due[zone]
        state = streaks.StreakState(current=current, last_activity_date=last_active, freezes_available=freezes)
        if last_active >= day or streaks.current_as_of(state, day) < min_streak:
            continue
        planned[user_id] = outbox.Planned(
            dedupe_key=f"streak:{user_id}:{day.isoformat()}",
            kind=NotificationKind.STREAK_AT_RISK,
            guild_id=guild_id,
            due_at=instant,
            user_id=user_id,
            course_id=course_id,
            payload={"day": day.isoformat(), "streak": current},
        )
    return await outbox.enqueue(session, planned.values())


def _published_items(course_ids: Iterable[int]):  # type: ignore[no-untyped-def]
    """Every published item of these courses: what 100 % progress is measured against."""
    return (
        published.items(*sorted(course_ids))
        .with_only_columns(ContentItem.id, ContentItem.course_id)
        .cte("published_items")
    )


async def plan_deadline_nudges(
    session: AsyncSession, *, since: datetime, now: datetime, notice: timedelta = DEADLINE_NOTICE
) -> int:
    """Plan a COHORT_DEADLINE nudge, due `notice` before the cohort's `ends_at`, for each active student below
    100 % of the course's published items whose reminder for the course is unpaused with `deadline_nudges` on,
    for every live, published course's cohort whose notice instant came in (`since`, `now`] and that has not
    ended. Dedupe key `deadline:{user}:{offering}`. Returns how many were planned. One statement when no cohort
    is due; then one read of those cohorts' students with their progress, and one insert."""
    cohorts = (
        await session.execute(
            select(CourseOffering.id, CourseOffering.course_id, CourseOffering.ends_at, Course.guild_id)
            .join(Course, Course.id == CourseOffering.course_id)
            .where(
                CourseOffering.ends_at > since + notice,
                CourseOffering.ends_at <= now + notice,
                CourseOffering.ends_at > now,
                Course.deleted_at.is_(None),
                Course.is_published.is_(True),
            )
        )
    ).all()
    if not cohorts:
        return 0
    items = _published_items({cohort.course_id for cohort in cohorts})
    done = (
        select(func.count())
        .select_from(ContentProgress)
        .join(items, items.c.id == ContentProgress.item_id)
        .where(
            ContentProgress.user_id == CourseEnrollment.user_id,
            ContentProgress.offering_id == CourseEnrollment.offering_id,
            ContentProgress.completed_at.is_not(None),
        )
        .scalar_subquery()
    )
    totals = select(items.c.course_id, func.count().label("total")).group_by(items.c.course_id).subquery()
    students = await session.execute(
        select(CourseEnrollment.user_id, CourseEnrollment.offering_id, done.label("done"), totals.c.total)
        .join(CourseOffering, CourseOffering.id == CourseEnrollment.offering_id)
        .join(totals, totals.c.course_id == CourseOffering.course_id)
        .join(
            ReminderPreference,
            and_(
                ReminderPreference.user_id == CourseEnrollment.user_id,
                ReminderPreference.course_id == CourseOffering.course_id,
            ),
        )
        .where(
            CourseEnrollment.offering_id.in_([cohort.id for cohort in cohorts]),
            CourseEnrollment.status == EnrollmentStatus.ACTIVE,
            ReminderPreference.deadline_nudges.is_(True),
            ReminderPreference.paused_reason.is_(None),
        )
    )
    by_id = {cohort.id: cohort for cohort in cohorts}
    planned = []
    for user_id, offering_id, done_count, total_count in students:
        if done_count >= total_count:
            continue  # 100 %: nothing left to finish
        cohort = by_id[offering_id]
        planned.append(
            outbox.Planned(
                dedupe_key=f"deadline:{user_id}:{offering_id}",
                kind=NotificationKind.COHORT_DEADLINE,
                guild_id=cohort.guild_id,
                due_at=cohort.ends_at - notice,
                user_id=user_id,
                course_id=cohort.course_id,
                payload={"offering": offering_id, "ends_at": cohort.ends_at.isoformat()},
            )
        )
    return await outbox.enqueue(session, planned)


async def plan_announcement(
    session: AsyncSession, *, guild_id: int, course_id: int, item_ids: Sequence[int], actor_id: int, now: datetime
) -> int:
    """Plan one ANNOUNCEMENT post in the guild's announcement channel for each of these items' newest published
    revision (dedupe key `announce:{course}:{item}:{revision}`), and audit it with the instructor as actor.
    A channel post, never a DM to each student and never a mention. Returns how many posts were planned: 0 when
    the guild has no announcement channel, or every revision was announced already (then nothing is audited)."""
    channel_id = (await tenancy.guild_config(session, guild_id)).announcement_channel_id
    if channel_id is None or not item_ids:
        return 0
    newest = (
        select(ContentRevision.item_id, func.max(ContentRevision.version).label("version"), func.count().label("times"))
        .where(ContentRevision.visibility == RevisionVisibility.PUBLISHED, ContentRevision.item_id.in_(item_ids))
        .group_by(ContentRevision.item_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(ContentItem.id, newest.c.version, newest.c.times)
            .join(newest, newest.c.item_id == ContentItem.id)
            .join(Course, Course.id == ContentItem.course_id)
            .where(
                ContentItem.course_id == course_id,
                ContentItem.deleted_at.is_(None),
                Course.guild_id == guild_id,
                Course.deleted_at.is_(None),
            )
            .order_by(ContentItem.id)
        )
    ).all()
    planned = [
        outbox.Planned(
            dedupe_key=f"announce:{course_id}:{item_id}:{version}",
            kind=NotificationKind.ANNOUNCEMENT,
            guild_id=guild_id,
            due_at=now,
            course_id=course_id,
            channel_id=channel_id,
            payload={"item": item_id, "revision": version, "new": times == 1},
        )
        for item_id, version, times in rows
    ]
    announced = await outbox.enqueue(session, planned)
    if announced:
        await audit.record(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="course.announce",
            target_type="content_item",
            target_ids=[row.id for row in rows],
            meta={"course_id": course_id, "channel_id": channel_id, "revisions": [row.version for row in rows]},
        )
    return announced


async def compose_nudge(session: AsyncSession, claimed: outbox.Claimed) -> NudgeMessage | str:
    """The nudge as it should read now, or the reason to skip it (studied since, progress done, opted out,
    lesson withdrawn). Reminders go through `reminders.compose`."""
    match claimed.kind:
        case NotificationKind.STREAK_AT_RISK:
            return await _compose_streak(session, claimed)
        case NotificationKind.COHORT_DEADLINE:
            return await _compose_deadline(session, claimed)
        case NotificationKind.ANNOUNCEMENT:
            return await _compose_announcement(session, claimed)
    raise ValueError(f"{claimed.kind} is not a nudge; reminders are composed by reminders.compose")


async def _live_course_code(session: AsyncSession, course_id: int | None) -> str | None:
    if course_id is None:
        return None
    return await session.scalar(
        select(Course.code).where(Course.id == course_id, Course.deleted_at.is_(None), Course.is_published.is_(True))
    )


async def _compose_streak(session: AsyncSession, claimed: outbox.Claimed) -> NudgeMessage | str:
    assert claimed.user_id is not None
    day = date.fromisoformat(claimed.payload["day"])
    state = await streaks.state_of(session, user_id=claimed.user_id)
    if state.last_activity_date is not None and state.last_activity_date >= day:
        return "already studied today"
    days = streaks.current_as_of(state, day)
    if days < STREAK_AT_RISK_FROM:
        return "no streak at risk any more"
    if not await delivery.still_wanted(session, user_id=claimed.user_id, nudges=ReminderPreference.streak_nudges):
        return "streak nudges turned off"
    code = await _live_course_code(session, claimed.course_id)
    where = f" course:{code}" if code else ""
    spare = (
        " If today can't be done, a streak freeze will cover it."
        if state.freezes_available > 0 and state.last_activity_date == day - timedelta(days=1)
        else ""
    )
    return NudgeMessage(
        guild_id=claimed.guild_id,
        course_code=code,
        title=f"Keep your {days}-day streak going",
        text=f"You haven't studied today yet. One lesson keeps your streak alive: `/lesson next{where}`.{spare}",
    )


async def _compose_deadline(session: AsyncSession, claimed: outbox.Claimed) -> NudgeMessage | str:
    assert claimed.user_id is not None and claimed.course_id is not None
    offering_id = claimed.payload["offering"]
    cohort = (
        await session.execute(
            select(CourseOffering.term_name, CourseOffering.ends_at, Course.code, Course.title, CourseEnrollment.status)
            .join(Course, Course.id == CourseOffering.course_id)
            .join(
                CourseEnrollment,
                and_(CourseEnrollment.offering_id == CourseOffering.id, CourseEnrollment.user_id == claimed.user_id),
            )
            .where(CourseOffering.id == offering_id, Course.deleted_at.is_(None), Course.is_published.is_(True))
        )
    ).one_or_none()
    if cohort is None or cohort.status is not EnrollmentStatus.ACTIVE:
        return "no longer an active student of the cohort"
    if cohort.ends_at is None or cohort.ends_at.isoformat() != claimed.payload["ends_at"]:
        return "the cohort's end date changed"
    if not await delivery.still_wanted(
        session, user_id=claimed.user_id, course_id=claimed.course_id, nudges=ReminderPreference.deadline_nudges
    ):
        return "deadline nudges turned off"
    items = _published_items([claimed.course_id])
    done, total = (
        await session.execute(
            select(func.count(ContentProgress.completed_at), func.count())
            .select_from(items)
            .outerjoin(
                ContentProgress,
                and_(
                    ContentProgress.item_id == items.c.id,
                    ContentProgress.offering_id == offering_id,
                    ContentProgress.user_id == claimed.user_id,
                ),
            )
        )
    ).one()
    if done >= total:
        return "the course is already finished"
    days_left = max(1, round((cohort.ends_at - claimed.due_at) / timedelta(days=1)))
    return NudgeMessage(
        guild_id=claimed.guild_id,
        course_code=cohort.code,
        title=f"{cohort.code} ({cohort.term_name}) ends in {days_left} day{'s' if days_left != 1 else ''}",
        text=(
            f"You have finished {done} of {total} items of {cohort.title}. "
            f"`/lesson next course:{cohort.code}` picks up where you left off."
        ),
    )


async def _compose_announcement(session: AsyncSession, claimed: outbox.Claimed) -> NudgeMessage | str:
    item_id, version = claimed.payload["item"], claimed.payload["revision"]
    newest_published = (
        select(func.max(ContentRevision.version))
        .where(ContentRevision.item_id == item_id, ContentRevision.visibility == RevisionVisibility.PUBLISHED)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(
                Course.code,
                Course.title,
                ContentRevision.title,
                ContentItem.kind,
                ContentItem.slug,
                newest_published.label("newest"),
            )
            .join(ContentItem, ContentItem.course_id == Course.id)
            .join(ContentRevision, ContentRevision.item_id == ContentItem.id)
            .where(
                ContentItem.id == item_id,
                ContentItem.deleted_at.is_(None),
                ContentRevision.version == version,
                ContentRevision.visibility == RevisionVisibility.PUBLISHED,
                Course.deleted_at.is_(None),
                Course.is_published.is_(True),
            )
        )
    ).one_or_none()
    if row is None:
        return "the lesson or its course is no longer published"
    if row.newest != version:
        return "a newer revision replaced it"  # its own announcement says what students see now
    code, course_title, title, kind, slug, _ = row
    what = "quiz" if kind is ContentKind.QUIZ else "lesson"
    fresh = "new" if claimed.payload.get("new", True) else "updated"
    return NudgeMessage(
        guild_id=claimed.guild_id,
        course_code=code,
        title=f"{fresh.capitalize()} {what} in {code}: {title}",
        text=f"{title} is {fresh} in {course_title}. Open it with `/lesson open lesson:{slug} course:{code}`.",
    )
