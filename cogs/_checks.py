"""Permission checks for app commands: the level is decided in code on every call, never trusted from Discord."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

from bot.services import permissions
from db.models import MemberRole

if TYPE_CHECKING:
    from bot.app import CourseBot

T = TypeVar("T")


class MissingLevel(app_commands.CheckFailure):
    """The member's permission level is below what the command needs."""

    def __init__(self, needed: str) -> None:
        super().__init__(needed)
        self.needed = needed


async def level_of(interaction: discord.Interaction) -> MemberRole:
    """The member's level in the guild the interaction came from (STUDENT in DMs)."""
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        return MemberRole.STUDENT
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    async with bot.db.session_scope() as session:
        return await permissions.member_level(
            session,
            guild_id=interaction.guild_id,
            user_id=member.id,
            role_ids=[role.id for role in member.roles],
            manages_guild=member.guild_permissions.manage_guild,
        )


def require_level(needed: MemberRole) -> Callable[[T], T]:
    """Allow the command only in a guild and only to members at `needed` or above."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not permissions.at_least(await level_of(interaction), needed):
            raise MissingLevel(needed.value)
        return True

    predicate.required_level = needed  # type: ignore[attr-defined]  # lets tests enumerate privileged commands
    return app_commands.check(predicate)


class NotBotOperator(app_commands.CheckFailure):
    """The setting is shared by every server the bot is in: only the bot's operator may read or change it."""


async def is_bot_operator(interaction: discord.Interaction) -> bool:
    """Whether the member is the bot application's owner (or one of its team)."""
    return await interaction.client.is_owner(interaction.user)  # type: ignore[attr-defined,no-any-return]


def require_bot_operator() -> Callable[[T], T]:
    """Allow the command only to an admin of the guild who is also the bot application's owner (or one of its team):
    settings shared by every guild, such as the LLM backends (internal URLs) and the tutor prompts, are neither
    readable nor changeable by one guild's admins. The level is checked first, so a student hears that it needs an
    admin."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if not await is_bot_operator(interaction):
            raise NotBotOperator()
        return True

    def decorate(command: T) -> T:
        return app_commands.check(predicate)(require_level(MemberRole.ADMIN)(command))

    return decorate


def required_level(command: app_commands.Command | app_commands.Group) -> MemberRole:  # type: ignore[type-arg]
    """The level a command needs, read from its `require_level` check (STUDENT when it has none)."""
    levels = [getattr(check, "required_level", None) for check in getattr(command, "checks", [])]
    return next((level for level in levels if level is not None), MemberRole.STUDENT)
