"""Daily streaks: one active day per local date in the user's time zone, freezes that bridge one missed day,
and XP at milestone lengths.

The day arithmetic is the pure function `advance`; `record_activity` wraps it in a locked read-modify-write
of the user's `streaks` row. Rules a caller can rely on:

- A streak's length counts active days. A single missed day is bridged by a freeze (spent automatically)
  and keeps the streak alive without adding to it; any larger gap, or a missed day with no freeze, starts a
  new streak at 1.
- An activity dated on or before the last counted date (the same day again, or an earlier date after the
  user moved west) counts nothing, so a time-zone change can never repair a gap.
- A freeze is earned on every `freeze_every_days`-th day of a streak, while fewer than `max_freezes` are held.
- Milestone XP is awarded once per streak (`xp_events.source_key` = `streak:{user}:{days}:{date reached}`):
  a streak that breaks and is rebuilt earns the 7-day bonus again, which rewards getting back into the habit
  and cannot be farmed faster than by studying every day.

Each counted day (and each day a freeze covered) is also appended to `activity_events` (kinds `streak_day`
and `streak_freeze`, `meta.day` = the local date as counted), which is what the calendar of `streak_view`
reads: those are exactly the dates the streak counted, in the zone the user had then.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date
from bot.config import Settings, StreakSettings
from bot.services import tenancy, xp
from db.models import ActivityEvent, Guild, Streak
from db.session import dialect_insert

CALENDAR_DAYS = 28
STREAK_DAY = "streak_day"
STREAK_FREEZE = "streak_freeze"
MILESTONE_ACTION = "streak_milestone"


@dataclass(frozen=True, slots=True)
class StreakState:
    """The stored counters of one user's streak; the default is a user who was never active.

    Each field is named as the `streaks` column it holds: reading and writing the row go by the fields."""

    current: int = 0
    longest: int = 0
    last_activity_date: date | None = None
    total_active_days: int = 0
    freezes_available: int = 0
    freeze_used_on: date | None = None

    @classmethod
    def of(cls, row: Streak | None) -> StreakState:
        """The state stored in a `streaks` row; the default state when there is none."""
        if row is None:
            return cls()
        return cls(**{field.name: getattr(row, field.name) for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class DayOutcome:
    """What one activity did to a streak."""

    counted: bool  # False: the date was already counted, or lies before the last counted date
    freeze_spent_on: date | None = None  # the missed day a freeze covered
    lost_streak: int = 0  # length of the streak this activity's gap ended; 0 when none ended
    freeze_earned: bool = False


@dataclass(frozen=True, slots=True)
class MilestoneReached:
    days: int
    xp_awarded: int  # 0 when no guild was given, or when this streak's milestone had already been awarded


@dataclass(frozen=True, slots=True)
class StreakUpdate:
    day: date  # the user's local date of the activity
    streak: StreakState  # after the activity
    outcome: DayOutcome
    milestone: MilestoneReached | None  # the length this activity brought the streak to, if it is a milestone


@dataclass(frozen=True, slots=True)
class StreakView:
    current: int  # 0 once the streak can no longer be saved by studying today
    longest: int
    total_active_days: int
    freezes_available: int
    last_28_days: tuple[bool, ...]  # oldest first, the last entry is today; True = active, or covered by a freeze


def advance(state: StreakState, today: date, rules: StreakSettings) -> tuple[StreakState, DayOutcome]:
    """The streak after an activity on the local date `today`, and what that activity did.

    Pure: no clock, no database. Applying the same `today` twice changes nothing the second time.
    """
    last = state.last_activity_date
    if last is not None and today <= last:
        return state, DayOutcome(counted=False)
    freezes = state.freezes_available
    freeze_spent_on: date | None = None
    lost_streak = 0
    if last is None:
        current = 1
    else:
        missed_days = (today - last).days - 1
        if missed_days == 0:
            current = state.current + 1
        elif missed_days == 1 and freezes > 0:
            freezes -= 1
            freeze_spent_on = last + timedelta(days=1)
            current = state.current + 1
        else:
            lost_streak = state.current
            current = 1
    # A cap lowered in the configuration stops earning; freezes already held are not taken away.
    freeze_earned = current % rules.freeze_every_days == 0 and freezes < rules.max_freezes
    if freeze_earned:
        freezes += 1
    advanced = StreakState(
        current=current,
        longest=max(state.longest, current),
        last_activity_date=today,
        total_active_days=state.total_active_days + 1,
        freezes_available=freezes,
        freeze_used_on=freeze_spent_on or state.freeze_used_on,
    )
    return advanced, DayOutcome(
        counted=True, freeze_spent_on=freeze_spent_on, lost_streak=lost_streak, freeze_earned=freeze_earned
    )


def current_as_of(state: StreakState, today: date) -> int:
    """The streak length to show on `today`: the stored one while studying today would still extend it, else 0."""
    if state.last_activity_date is None:
        return 0
    days_since = (today - state.last_activity_date).days
    still_alive = days_since <= 1 or (days_since == 2 and state.freezes_available > 0)
    return state.current if still_alive else 0


async def record_activity(
    session: AsyncSession,
    *,
    user_id: int,
    at: datetime,
    time_zone: str,
    rules: StreakSettings,
    milestones: dict[int, int],
    guild_id: int | None,
    seen: StreakState | None = None,
) -> StreakUpdate:
    """Count the user's activity at the instant `at` on their local date in the IANA zone `time_zone`.

    Safe to call for every activity and to replay: a date counts once, also when two calls race (the
    streak row is locked until the caller's transaction ends). `milestones` maps streak lengths to XP;
    that XP goes to `guild_id`'s ledger, and nothing is awarded when `guild_id` is None.

    `seen` is the streak as the caller already read it (without a lock, in a query of its own; the default
    state when the user has no row): it is applied as a compare-and-set on the last counted date, which saves
    the locked read, and the locked path runs only if the row changed in between.
    """
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: pass an aware datetime (UTC)")
    today = local_date(at, time_zone)
    if seen is not None:
        after, outcome = advance(seen, today, rules)
        if not outcome.counted:
            return StreakUpdate(day=today, streak=after, outcome=outcome, milestone=None)
        if await _store_if_unchanged(session, user_id=user_id, seen=seen, after=after):
            return await _counted(session, user_id, guild_id, at, today, after, outcome, milestones)
    await session.execute(
        dialect_insert(session, Streak)
        .values(user_id=user_id, current=0, longest=0, total_active_days=0, freezes_available=0)
        .on_conflict_do_nothing(index_elements=[Streak.user_id])
    )
    before = await _load_state(session, user_id=user_id, for_update=True)
    after, outcome = advance(before, today, rules)
    if not outcome.counted:
        return StreakUpdate(day=today, streak=after, outcome=outcome, milestone=None)
    await session.execute(update(Streak).where(Streak.user_id == user_id).values(**asdict(after)))
    return await _counted(session, user_id, guild_id, at, today, after, outcome, milestones)


async def record_study(
    session: AsyncSession,
    *,
    user_id: int,
    guild_id: int,
    at: datetime,
    time_zone: str,
    settings: Settings,
    seen: StreakState | None = None,
) -> StreakUpdate:
    """A student studied (a lesson, a quiz or review answer): `record_activity` under the configured streak rules,
    its milestone XP going to `guild_id`'s ledger."""
    return await record_activity(
        session,
        user_id=user_id,
        at=at,
        time_zone=time_zone,
        rules=settings.streaks,
        milestones=settings.xp.streak_milestones,
        guild_id=guild_id,
        seen=seen,
    )


async def _store_if_unchanged(session: AsyncSession, *, user_id: int, seen: StreakState, after: StreakState) -> bool:
    """Write `after` unless the row moved on from `seen` (a counted day always advances the last date)."""
    if seen.last_activity_date is None:
        created = await session.scalar(
            dialect_insert(session, Streak)
            .values(user_id=user_id, **asdict(after))
            .on_conflict_do_nothing(index_elements=[Streak.user_id])
            .returning(Streak.user_id)
        )
        if created is not None:
            return True
    result = await session.execute(
        update(Streak)
        .where(Streak.user_id == user_id, Streak.last_activity_date.is_not_distinct_from(seen.last_activity_date))
        .values(**asdict(after))
        .execution_options(synchronize_session=False)  # a plain UPDATE, so its row count is the verdict
    )
    return result.rowcount == 1


async def _counted(
    session: AsyncSession,
    user_id: int,
    guild_id: int | None,
    at: datetime,
    today: date,
    after: StreakState,
    outcome: DayOutcome,
    milestones: dict[int, int],
) -> StreakUpdate:
    """What follows a counted day: the calendar's activity rows, and the milestone XP."""
    counted_days = [(STREAK_DAY, today)]
    if outcome.freeze_spent_on is not None:
        counted_days.append((STREAK_FREEZE, outcome.freeze_spent_on))
    await session.execute(
        insert(ActivityEvent),
        [
            {"guild_id": guild_id, "user_id": user_id, "kind": kind, "at": at, "meta": {"day": day.isoformat()}}
            for kind, day in counted_days
        ],
    )
    reached: MilestoneReached | None = None
    if after.current in milestones:
        xp_awarded = 0
        if guild_id is not None:
            xp_awarded = await _award_milestone(
                session,
                guild_id=guild_id,
                user_id=user_id,
                days=after.current,
                xp_amount=milestones[after.current],
                streak_day=today,
                at=at,
            )
        reached = MilestoneReached(days=after.current, xp_awarded=xp_awarded)
    return StreakUpdate(day=today, streak=after, outcome=outcome, milestone=reached)


@dataclass(frozen=True, slots=True)
class StreakToday:
    view: StreakView  # as of the user's own date
    time_zone: str  # the user's zone, which that date and the calendar's days follow


async def streak_today(session: AsyncSession, *, user_id: int, now: datetime) -> StreakToday:
    """The user's streak as shown at `now`, on their own local date (what `/streak` shows)."""
    _, user_zone = await tenancy.time_zones(session, guild_id=None, user_id=user_id)
    view = await streak_view(session, user_id=user_id, today_local=local_date(now, user_zone))
    return StreakToday(view, user_zone)


async def streak_view(session: AsyncSession, *, user_id: int, today_local: date) -> StreakView:
    """The user's streak as shown on `today_local` (their own date), with the calendar of the last 28 days."""
    state = await _load_state(session, user_id=user_id, for_update=False)
    first_day = today_local - timedelta(days=CALENDAR_DAYS - 1)
    # A local date starts at most 14 hours before UTC midnight (UTC+14), so a day earlier is a safe bound.
    earliest_instant = datetime.combine(first_day - timedelta(days=1), time(), tzinfo=UTC)
    metas = await session.scalars(
        select(ActivityEvent.meta).where(
            ActivityEvent.user_id == user_id,
            ActivityEvent.at >= earliest_instant,
            ActivityEvent.kind.in_([STREAK_DAY, STREAK_FREEZE]),
        )
    )
    covered_days = {date.fromisoformat(meta["day"]) for meta in metas}
    return StreakView(
        current=current_as_of(state, today_local),
        longest=state.longest,
        total_active_days=state.total_active_days,
        freezes_available=state.freezes_available,
        last_28_days=tuple(first_day + timedelta(days=offset) in covered_days for offset in range(CALENDAR_DAYS)),
    )


async def state_of(session: AsyncSession, *, user_id: int) -> StreakState:
    """The user's stored streak (a fresh one if they never studied); `current_as_of` tells what it is today."""
    return await _load_state(session, user_id=user_id, for_update=False)


async def _load_state(session: AsyncSession, *, user_id: int, for_update: bool) -> StreakState:
    statement = select(*(getattr(Streak, field.name) for field in fields(StreakState))).where(Streak.user_id == user_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return StreakState()
    return StreakState(**row._asdict())


async def _award_milestone(
    session: AsyncSession, *, guild_id: int, user_id: int, days: int, xp_amount: int, streak_day: date, at: datetime
) -> int:
    guild_zone = (await session.execute(select(Guild.time_zone).where(Guild.id == guild_id))).scalar_one()
    # The date a streak reaches a length identifies that streak: counted dates only move forward, and a
    # streak passes each length once. (Its start date is not stored, and frozen days don't add to its length.)
    award = await xp.award(
        session,
        guild_id=guild_id,
        user_id=user_id,
        amount=xp_amount,
        action=MILESTONE_ACTION,
        source_key=f"streak:{user_id}:{days}:{streak_day.isoformat()}",
        day=local_date(at, guild_zone),
        reason=f"{days}-day streak",
    )
    return award.amount
