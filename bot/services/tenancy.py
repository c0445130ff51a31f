"""Guilds and users appear on the fly: a row when the bot sees a guild, and on a user's first interaction.

Also the guild's bot configuration (role and channel mapping) set by `/admin setup`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.plaintext import without_unsafe_characters
from db.models import Guild, User
from db.session import dialect_insert


class GuildConfig(BaseModel):
    """What `/admin setup` maps: Discord role ids for each level, and the bot's channels."""

    model_config = ConfigDict(frozen=True)

    admin_role_id: int | None = None
    instructor_role_id: int | None = None
    ta_role_id: int | None = None
    reminder_channel_id: int | None = None
    announcement_channel_id: int | None = None
    # Where Ask-a-TA escalations are posted for staff to claim, and where feedback requests are posted for +1s.
    staff_channel_id: int | None = None
    feedback_channel_id: int | None = None
    # The server's default quiet hours ("22:00-07:00", each student's own wall clock); a student may choose theirs.
    quiet_hours: str | None = None


async def remember_guild(session: AsyncSession, *, guild_id: int, name: str, locale: str = "en-US") -> None:
    """Create the guild's row, or refresh its name; settings are never touched here."""
    statement = dialect_insert(session, Guild).values(id=guild_id, name=_shown_name(name), locale=locale, settings={})
    await session.execute(
        statement.on_conflict_do_update(index_elements=[Guild.id], set_={"name": statement.excluded.name})
    )


async def remember_user(
    session: AsyncSession, *, user_id: int, display_name: str, locale: str | None, seen_at: datetime
) -> None:
    """Create the user's row on first sight; afterwards keep the display name and last activity fresh.

    The name is stored as it may be shown: without control characters or text-direction overrides.
    """
    statement = dialect_insert(session, User).values(
        id=user_id,
        display_name=_shown_name(display_name),
        locale=locale or "en-US",
        preferences={},
        last_active_at=seen_at,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[User.id],
            set_={"display_name": statement.excluded.display_name, "last_active_at": statement.excluded.last_active_at},
        )
    )


def _shown_name(name: str) -> str:
    """A Discord name as rosters and boards may echo it (the column holds 100 characters)."""
    return without_unsafe_characters(name).strip()[:100] or "(no name)"


async def guild_config(session: AsyncSession, guild_id: int) -> GuildConfig:
    settings = await session.scalar(select(Guild.settings).where(Guild.id == guild_id))
    return GuildConfig.model_validate(settings or {})


async def configure_guild(
    session: AsyncSession, *, guild_id: int, actor_id: int, changes: dict[str, int | str | None]
) -> GuildConfig:
    """Apply `changes` (keys of GuildConfig) to the guild's configuration and audit it."""
    guild = await session.get(Guild, guild_id, with_for_update=True)
    if guild is None:
        raise LookupError(f"guild {guild_id} was never seen")
    updated = GuildConfig.model_validate({**guild.settings, **changes})
    guild.settings = {**guild.settings, **updated.model_dump()}
    await audit.record(
        session,
        guild_id=guild_id,
        actor_id=actor_id,
        action="guild.configure",
        target_type="guild",
        target_ids=[guild_id],
        meta={key: value for key, value in changes.items()},
    )
    return updated


async def guild_zone(session: AsyncSession, *, guild_id: int) -> str:
    """The guild's time zone: its days (boards, reports) run from midnight there."""
    return await session.scalar(select(Guild.time_zone).where(Guild.id == guild_id)) or "UTC"


async def time_zones(session: AsyncSession, *, guild_id: int | None, user_id: int) -> tuple[str, str]:
    """(guild zone, user zone): "today" for boards is the guild's date, for streaks the user's own."""
    user_zone = await session.scalar(select(User.time_zone).where(User.id == user_id))
    guild_zone = await session.scalar(select(Guild.time_zone).where(Guild.id == guild_id)) if guild_id else None
    return guild_zone or "UTC", user_zone or "UTC"
