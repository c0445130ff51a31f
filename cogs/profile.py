"""`/profile`: a student's own settings (time zone now; more options join the same command)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import profiles
from cogs._ui import embed, success_embed
from db.models import User


async def time_zone_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=zone, value=zone) for zone in profiles.matching_time_zones(current)]


class Profile(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="See or change your Coursebot settings")
    @app_commands.describe(timezone="Your IANA time zone, e.g. Europe/Paris: streaks and reminders follow it")
    @app_commands.autocomplete(timezone=time_zone_choices)
    async def profile(self, interaction: discord.Interaction, timezone: str | None = None) -> None:
        async with self.bot.db.session_scope() as session:
            if timezone is not None:
                zone = await profiles.set_time_zone(session, user_id=interaction.user.id, time_zone=timezone)
            else:
                user = await session.get(User, interaction.user.id)
                zone = user.time_zone if user else "UTC"
        if timezone is not None:
            reply = success_embed("Time zone saved", f"Your days now follow **{zone}**.")
        else:
            reply = embed("Your profile", f"Time zone: **{zone}**\nChange it with `/profile timezone:`.")
        await interaction.response.send_message(embed=reply, ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Profile(bot))
