"""Permission levels STUDENT < TA < INSTRUCTOR < ADMIN, decided in code.

A member's level is the highest of: ADMIN for Discord's Manage Server permission, the levels of the
Discord roles mapped by `/admin setup`, and levels granted to them by the bot (`guild_members`).
Discord's own default command permissions are only a hint; this is the check that counts.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, RoleMappedTwice
from bot.services.tenancy import GuildConfig, configure_guild, guild_config
from db.models import Guild, GuildMember, MemberRole

ORDER = [MemberRole.STUDENT, MemberRole.TA, MemberRole.INSTRUCTOR, MemberRole.ADMIN]
# The GuildConfig keys that map a Discord role to a level, highest level first.
LEVEL_ROLE_KEYS = {
    "admin_role_id": MemberRole.ADMIN,
    "instructor_role_id": MemberRole.INSTRUCTOR,
    "ta_role_id": MemberRole.TA,
}


def at_least(level: MemberRole, needed: MemberRole) -> bool:
    return ORDER.index(level) >= ORDER.index(needed)


def level_from(
    config: GuildConfig, *, role_ids: Collection[int], manages_guild: bool, granted: Collection[MemberRole] = ()
) -> MemberRole:
    """The highest level that any of these grants gives."""
    levels = {MemberRole.STUDENT, *granted}
    if manages_guild:
        levels.add(MemberRole.ADMIN)
    # Pairs, not a dict keyed by role: a role mapped to two levels (saved before `save_setup` refused it)
    # must give the higher one, not whichever key came last.
    levels.update(
        level
        for key, level in LEVEL_ROLE_KEYS.items()
        if (role_id := getattr(config, key)) is not None and role_id in role_ids
    )
    return max(levels, key=ORDER.index)


def mapped_role_ids(config: GuildConfig) -> frozenset[int]:
    """The Discord roles that stand for a Coursebot level in this guild."""
    return frozenset(role_id for key in LEVEL_ROLE_KEYS if (role_id := getattr(config, key)) is not None)


def check_level_roles(config: GuildConfig, *, guild_id: int) -> None:
    """RoleMappedTwice when one Discord role stands for two levels; InvalidInput for @everyone (every member)."""
    levels_of: dict[int, list[str]] = {}
    for key, level in LEVEL_ROLE_KEYS.items():
        if (role_id := getattr(config, key)) is not None:
            levels_of.setdefault(role_id, []).append("TA" if level is MemberRole.TA else level.value.lower())
    if guild_id in levels_of:
        raise InvalidInput("@everyone can't stand for a level: every member would have it. Pick a role of its own.")
    for role_id, levels in levels_of.items():
        if len(levels) > 1:
            raise RoleMappedTwice(role_id, levels)


async def member_level(
    session: AsyncSession, *, guild_id: int, user_id: int, role_ids: Collection[int], manages_guild: bool
) -> MemberRole:
    config = await guild_config(session, guild_id)
    granted = await session.scalars(
        select(GuildMember.role).where(GuildMember.guild_id == guild_id, GuildMember.user_id == user_id)
    )
    return level_from(config, role_ids=role_ids, manages_guild=manages_guild, granted=granted.all())


async def save_setup(
    session: AsyncSession, *, guild_id: int, actor_id: int, changes: dict[str, int | str | None]
) -> GuildConfig:
    """Apply `/admin setup` changes (GuildConfig keys) and audit them; refuses a role for two levels, counting the
    roles already mapped, so e.g. making the instructor role the TA role as well is refused."""
    guild = await session.get(Guild, guild_id, with_for_update=True)  # two admins at once can't both pass the check
    if guild is None:
        raise LookupError(f"guild {guild_id} was never seen")
    check_level_roles(GuildConfig.model_validate({**guild.settings, **changes}), guild_id=guild_id)
    return await configure_guild(session, guild_id=guild_id, actor_id=actor_id, changes=changes)
