"""What staff buttons, forms and commands share. A button works for whoever can see its message and runs no command
checks, so the level is checked on every press and every submitted form (`staff_press`); a change that asks for a
confirmation first looks up what it changes (`live_course_of`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import discord

from bot.app import CourseBot
from bot.services import courses, permissions
from cogs._checks import MissingLevel, level_of
from db.models import Course, MemberRole

Decided = TypeVar("Decided")


def bot_of(interaction: discord.Interaction) -> CourseBot:
    return interaction.client  # type: ignore[return-value]


async def require(interaction: discord.Interaction, needed: MemberRole) -> MemberRole:
    """The presser's level, or `MissingLevel` when it is below `needed` (a button has no command checks)."""
    level = await level_of(interaction)
    if not permissions.at_least(level, needed):
        raise MissingLevel(needed.value)
    return level


@dataclass(frozen=True)
class StaffPress:
    """A press (or form) by a member at `needed` or above, in a guild: who, where, at what level."""

    bot: CourseBot
    guild_id: int
    user_id: int
    level: MemberRole

    @property
    def acts_for_anyone(self) -> bool:
        """Instructors may act on what another TA holds."""
        return permissions.at_least(self.level, MemberRole.INSTRUCTOR)

    async def decide(self, decision: Callable[..., Awaitable[Decided]], /, **options: Any) -> Decided:
        """`decision(session, guild_id=…, actor_id=…, now=…, **options)` in a unit of work of its own: a staff
        decision on a row, made in this press's guild by its member, now."""
        async with self.bot.db.session_scope() as session:
            return await decision(
                session, guild_id=self.guild_id, actor_id=self.user_id, now=self.bot.clock.now(), **options
            )


async def staff_press(interaction: discord.Interaction, needed: MemberRole = MemberRole.TA) -> StaffPress:
    """The press, once its member is at `needed` or above; `MissingLevel` otherwise."""
    level = await require(interaction, needed)  # first: in a DM it refuses, as there is no level there
    assert interaction.guild_id is not None
    return StaffPress(bot_of(interaction), interaction.guild_id, interaction.user.id, level)


async def live_course_of(interaction: discord.Interaction, code: str) -> Course:
    """The guild's live course `code`, looked up in a scope of its own before a confirmation is asked, so that an
    unknown code is refused at once rather than after the confirmation."""
    assert interaction.guild_id is not None
    async with bot_of(interaction).db.session_scope() as session:
        return await courses.live_course(session, guild_id=interaction.guild_id, code=code)
