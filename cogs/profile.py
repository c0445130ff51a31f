"""`/profile`: a student's own settings (time zone now; more options join the same command)."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import leaderboard as leaderboards
from bot.services import profiles
from cogs._ui import embed, success_embed
from db.models import User


async def time_zone_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=zone, value=zone) for zone in profiles.matching_time_zones(current)]


class Profile(commands.Cog):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="See or change your Coursebot settings")
    @app_commands.describe(
        timezone="Your IANA time zone, e.g. Europe/Paris: streaks and reminders follow it",
        leaderboard="Show you on leaderboards (your XP counts either way)",
    )
    @app_commands.autocomplete(timezone=time_zone_choices)
    async def profile(
        self,
        interaction: discord.Interaction,
        timezone: str | None = None,
        leaderboard: Literal["on", "off"] | None = None,
    ) -> None:
        changes = []
        async with self.bot.db.session_scope() as session:
            if timezone is not None:
                zone = await profiles.set_time_zone(
                    session, user_id=interaction.user.id, time_zone=timezone, now=self.bot.clock.now()
                )
                changes.append(f"Your days now follow **{zone}**.")
            if leaderboard is not None:
                await leaderboards.set_leaderboard_visibility(
                    session, user_id=interaction.user.id, visible=leaderboard == "on"
                )
                changes.append(
                    "You are shown on leaderboards." if leaderboard == "on" else "You are hidden from leaderboards."
                )
            user = await session.get(User, interaction.user.id)
        if changes:
            reply = success_embed("Profile saved", "\n".join(changes))
        else:
            assert user is not None
            shown = "hidden" if user.preferences.get(leaderboards.PREFERENCE) == leaderboards.HIDDEN else "shown"
            reply = embed(
                "Your profile",
                f"Time zone: **{user.time_zone}**\nLeaderboards: **{shown}**\n"
                "Change them with `/profile timezone:` and `/profile leaderboard:`.",
            )
        await interaction.response.send_message(embed=reply, ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Profile(bot))
