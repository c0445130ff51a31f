"""CourseBot: the Discord client. `setup_hook` wires settings, database, scheduler and every cog."""

from __future__ import annotations

import gc
import logging
import pkgutil
from typing import Any

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord import app_commands
from discord.ext import commands

import cogs
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.scheduler import install_jobs
from bot.services import tenancy
from db import migrate
from db.session import Database

log = logging.getLogger(__name__)


def cog_modules() -> list[str]:
    """Every extension under `cogs/`; modules starting with `_` are shared helpers, not cogs."""
    return sorted(
        f"cogs.{module.name}" for module in pkgutil.iter_modules(cogs.__path__) if not module.name.startswith("_")
    )


class CourseTree(app_commands.CommandTree["CourseBot"]):
    async def interaction_check(self, interaction: discord.Interaction[CourseBot]) -> bool:
        """Before any command runs: make sure the guild and the user have rows (nobody pre-registers)."""
        await interaction.client.remember(interaction)
        return True


class CourseBot(commands.AutoShardedBot):
    """The bot. Pass `database` and `clock` to run it against a given database and time (tests, console).

    `freeze_heap` (for a process that runs one bot) takes everything alive after start-up out of the garbage
    collector's scans: modules, ORM mappers and compiled statements are a few hundred thousand objects that
    never become garbage, and walking them on each full collection held the event loop for milliseconds at a
    time under a burst of interactions.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        clock: Clock | None = None,
        freeze_heap: bool = False,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True  # tutor threads read what the student wrote
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            # Course text and model output must never ping anyone.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CourseTree,
            help_command=None,
        )
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._database = database
        self._owns_database = database is None
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        # What this process already wrote, so a busy guild doesn't upsert the same rows on every click.
        self._remembered: set[tuple[int | None, int, str]] = set()
        self._known_guilds: set[int] = set()
        self._freeze_heap = freeze_heap

    @property
    def db(self) -> Database:
        if self._database is None:
            raise RuntimeError("the database is opened in setup_hook; it is not available before login")
        return self._database

    async def setup_hook(self) -> None:
        if self._database is None:
            database_settings = self.settings.database
            self._database = Database.from_url(
                database_settings.url,
                pool_size=database_settings.pool_size,
                max_overflow=database_settings.max_overflow,
                echo=database_settings.echo,
            )
        await migrate.ensure_current(self.db.engine, auto_migrate=self.settings.database.auto_migrate)
        for module in cog_modules():
            await self.load_extension(module)
        install_jobs(self)
        self.scheduler.start()
        for guild_id in self.settings.discord.dev_guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if self.settings.discord.sync_globally:
            await self.tree.sync()
        log.info("Loaded %d cogs on %s", len(self.cogs), self.db.backend)
        if self._freeze_heap:
            gc.collect()
            gc.freeze()

    async def remember(self, interaction: discord.Interaction[Any]) -> None:
        """Upsert the interaction's guild and user rows, once per process unless the name changed."""
        key = (interaction.guild_id, interaction.user.id, interaction.user.display_name)
        if key in self._remembered:
            return
        async with self.db.session_scope() as session:
            if interaction.guild is not None and interaction.guild.id not in self._known_guilds:
                await tenancy.remember_guild(session, guild_id=interaction.guild.id, name=interaction.guild.name)
            await tenancy.remember_user(
                session,
                user_id=interaction.user.id,
                display_name=interaction.user.display_name,
                locale=str(interaction.locale),
                seen_at=self.clock.now(),
            )
        self._remembered.add(key)
        if interaction.guild is not None:
            self._known_guilds.add(interaction.guild.id)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        async with self.db.session_scope() as session:
            await tenancy.remember_guild(
                session, guild_id=guild.id, name=guild.name, locale=str(guild.preferred_locale)
            )

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.on_guild_available(guild)

    async def close(self) -> None:
        """Stop the scheduler (letting a running job finish), close Discord, then the database it opened."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        await super().close()
        if self._owns_database and self._database is not None:
            await self._database.dispose()
