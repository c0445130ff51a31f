"""A user's own settings: time zone (for streaks and reminders) and whether leaderboards list them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput
from bot.services import leaderboard, reminders
from db.models import User


class UnknownTimeZone(InvalidInput):
    def __init__(self, given: str) -> None:
        close = difflib.get_close_matches(given, all_time_zones(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(f'`{zone}`' for zone in close)}?" if close else ""
        super().__init__(
            f"`{given}` is not a time zone I know.{hint} Use an IANA name such as `Europe/Paris` or "
            "`America/New_York`; the option suggests names as you type."
        )


@cache
def all_time_zones() -> list[str]:
    # "localtime" and similar aliases are not places a person lives in.
    return sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


def matching_time_zones(typed: str, limit: int = 25) -> list[str]:
    """Zones for autocomplete: names containing what was typed (case-insensitive), prefix matches first."""
    needle = typed.strip().lower().replace(" ", "_")
    if not needle:
        return ["UTC", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo"]
    found = [zone for zone in all_time_zones() if needle in zone.lower()]
    found.sort(key=lambda zone: (not zone.lower().split("/")[-1].startswith(needle), zone))
    return found[:limit]


def canonical_time_zone(given: str) -> str:
    """The zone's canonical spelling, or UnknownTimeZone with suggestions."""
    wanted = given.strip().replace(" ", "_")
    for zone in all_time_zones():
        if zone.lower() == wanted.lower():
            return zone
    raise UnknownTimeZone(given)


async def set_time_zone(session: AsyncSession, *, user_id: int, time_zone: str, now: datetime) -> str:
    """Store the user's zone; returns its canonical name. Their study reminders move to the new zone (a local day
    already reminded stays done); past streak days are not recomputed."""
    zone = canonical_time_zone(time_zone)
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} was never seen")
    user.time_zone = zone
    await session.flush()
    await reminders.reschedule_user(session, user_id=user_id, now=now)
    return zone


@dataclass(frozen=True, slots=True)
class Profile:
    time_zone: str
    on_leaderboards: bool


async def update_profile(
    session: AsyncSession,
    *,
    user_id: int,
    now: datetime,
    time_zone: str | None = None,
    on_leaderboards: bool | None = None,
) -> Profile:
    """Apply the changes given (None leaves a setting as it is), then the user's profile as it now stands.

    A time zone is stored in its canonical spelling (UnknownTimeZone otherwise), as `set_time_zone` does."""
    if time_zone is not None:
        await set_time_zone(session, user_id=user_id, time_zone=time_zone, now=now)
    if on_leaderboards is not None:
        await leaderboard.set_leaderboard_visibility(session, user_id=user_id, visible=on_leaderboards)
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} was never seen")
    return Profile(user.time_zone, leaderboard.shown_on_boards(user.preferences))
