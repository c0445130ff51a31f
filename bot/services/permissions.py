"""Permission levels STUDENT < TA < INSTRUCTOR < ADMIN, decided in code.

A member's level is the highest of: ADMIN for Discord's Manage Server permission, the levels of the
Discord roles mapped by `/admin setup`, and levels granted to them by the bot (`guild_members`).
Discord's own default command permissions are only a hint; this is the check that counts.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.tenancy import GuildConfig, guild_config
from db.models import GuildMember, MemberRole

ORDER = [MemberRole.STUDENT, MemberRole.TA, MemberRole.INSTRUCTOR, MemberRole.ADMIN]


def at_least(level: MemberRole, needed: MemberRole) -> bool:
    return ORDER.index(level) >= ORDER.index(needed)


def level_from(
    config: GuildConfig, *, role_ids: Collection[int], manages_guild: bool, granted: Collection[MemberRole] = ()
) -> MemberRole:
    """The highest level that any of these grants gives."""
    levels = {MemberRole.STUDENT, *granted}
    if manages_guild:
        levels.add(MemberRole.ADMIN)
    mapped = {
        config.admin_role_id: MemberRole.ADMIN,
        config.instructor_role_id: MemberRole.INSTRUCTOR,
        config.ta_role_id: MemberRole.TA,
    }
    levels.update(level for role_id, level in mapped.items() if role_id is not None and role_id in role_ids)
    return max(levels, key=ORDER.index)


async def member_level(
    session: AsyncSession, *, guild_id: int, user_id: int, role_ids: Collection[int], manages_guild: bool
) -> MemberRole:
    config = await guild_config(session, guild_id)
    granted = await session.scalars(
        select(GuildMember.role).where(GuildMember.guild_id == guild_id, GuildMember.user_id == user_id)
    )
    return level_from(config, role_ids=role_ids, manages_guild=manages_guild, granted=granted.all())
