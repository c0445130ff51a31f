"""The XP ledger: every award is one `xp_events` row keyed by its source, so nothing is awarded twice.

The totals are kept by database triggers on the ledger (migration 0008): `member_stats` (guild total),
`course_member_stats` (course total), `xp_daily` (per day, for weekly/monthly boards) and `xp_levels`
(members per total, for ranks). They change in the same transaction as the ledger row, and only when that
row was actually inserted; an award is one statement. On PostgreSQL `xp_levels` changes as that transaction
commits (migration 0018): a class earns alike, so its awards would otherwise queue on the same level rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import local_date
from bot.errors import InvalidInput
from bot.services import audit, tenancy
from db.models import MemberStats, XPEvent
from db.session import dialect_insert


@dataclass(frozen=True, slots=True)
class Award:
    amount: int
    recorded: bool  # False when this source had already been awarded


async def award(
    session: AsyncSession,
    *,
    guild_id: int,
    user_id: int,
    amount: int,
    action: str,
    source_key: str,
    day: date,
    course_id: int | None = None,
    reason: str = "",
) -> Award:
    """Record `amount` XP for `source_key` once. `day` is the guild-local date the XP counts on."""
    inserted = await session.scalar(
        dialect_insert(session, XPEvent)
        .values(
            guild_id=guild_id,
            user_id=user_id,
            course_id=course_id,
            amount=amount,
            action=action,
            reason=reason,
            source_key=source_key,
            day=day,
        )
        .on_conflict_do_nothing(index_elements=[XPEvent.source_key])
        .returning(XPEvent.id)
    )
    if inserted is None:
        return Award(amount=0, recorded=False)
    return Award(amount=amount, recorded=True)


@dataclass(frozen=True, slots=True)
class Adjustment:
    recorded: bool  # False when this request had already been applied
    total: int  # the member's XP in the guild afterwards


async def adjust(
    session: AsyncSession,
    *,
    guild_id: int,
    actor_id: int,
    user_id: int,
    display_name: str,
    amount: int,
    reason: str,
    now: datetime,
    request_id: str,
) -> Adjustment:
    """An admin's manual correction (positive or negative) of a member's XP, audited, and the member's new total.

    The member may never have used the bot: their row is made with `display_name`. The XP counts on the guild's
    local date at `now`. `request_id` makes a retried request (the same interaction delivered twice) count once.
    """
    if amount == 0:
        raise InvalidInput("An adjustment of 0 XP changes nothing; give a positive or negative amount.")
    if not reason.strip():
        raise InvalidInput("Say why: the reason is shown in the audit log.")
    await tenancy.remember_user(session, user_id=user_id, display_name=display_name, locale=None, seen_at=now)
    guild_zone, _ = await tenancy.time_zones(session, guild_id=guild_id, user_id=user_id)
    result = await award(
        session,
        guild_id=guild_id,
        user_id=user_id,
        amount=amount,
        action="admin_adjust",
        source_key=f"adjust:{request_id}",
        day=local_date(now, guild_zone),
        reason=reason.strip()[:300],
    )
    if result.recorded:
        await audit.record(
            session,
            guild_id=guild_id,
            actor_id=actor_id,
            action="xp.adjust",
            target_type="member",
            target_ids=[user_id],
            meta={"amount": amount, "reason": reason.strip()[:300]},
        )
    return Adjustment(result.recorded, await total(session, guild_id=guild_id, user_id=user_id))


async def total(session: AsyncSession, *, guild_id: int, user_id: int) -> int:
    stats = await session.get(MemberStats, (guild_id, user_id))
    return stats.total_xp if stats else 0
