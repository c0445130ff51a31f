"""Servers that remove the bot: their data is purged `privacy.guild_grace_days` later (by the scheduler's privacy
job), unless the bot is added back first. Members' own data: `/profile data|export|delete` (cogs/profile.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

import discord
from discord.ext import commands

from bot.app import CourseBot
from bot.services import privacy
from db.session import is_database_fault

log = logging.getLogger(__name__)


class GuildRemovals(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.bot.settings.privacy.guild_grace_days)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        async with self.bot.db.session_scope() as session:
            await privacy.schedule_guild_purge(session, guild_id=guild.id, now=self.bot.clock.now(), grace=self.grace)
        log.info("Removed from server %s: its data is purged in %s unless the bot is added back", guild.id, self.grace)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.keep(guild)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.keep(guild)

    async def keep(self, guild: discord.Guild) -> None:
        """The bot is in `guild` (again): its data stays."""
        async with self.bot.db.session_scope() as session:
            cancelled = await privacy.cancel_guild_purge(session, guild_id=guild.id)
        if cancelled:
            log.info("Back in server %s: its data is kept", guild.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """A removal while the bot was offline sends no event: every stored server the bot is no longer in is
        scheduled now, and every server it is in is kept."""
        try:
            async with self.bot.db.session_scope() as session:
                gone = await privacy.reconcile_guilds(
                    session,
                    present=[guild.id for guild in self.bot.guilds],
                    now=self.bot.clock.now(),
                    grace=self.grace,
                )
        except Exception as error:
            if not is_database_fault(error):
                raise
            # The next start (or the removal event of each server) schedules them; nothing is deleted early.
            log.warning("Could not check for servers that removed the bot: the database isn't answering (%r)", error)
            return
        if gone:
            log.info("No longer in %d stored server(s): their data is purged in %s", len(gone), self.grace)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(GuildRemovals(bot))
