"""`/profile …`: a member's own settings (`show`, `timezone`, `leaderboard`) and their data (`data`, `export`,
`delete`; docs/privacy.md). Every subcommand acts on the caller only, in a server or in a DM with the bot."""

from __future__ import annotations

import io
import zipfile
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import privacy, profiles
from cogs._limits import AUTOCOMPLETE_CHOICES_MAX, EMBED_DESCRIPTION_MAX
from cogs._ui import clip, embed, success_embed
from cogs._views import OwnedView

# Discord takes 10 MiB from a bot in any server; a bigger export goes zipped (JSON shrinks about tenfold).
ZIP_EXPORTS_ABOVE = 8 * 1024 * 1024


async def time_zone_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    zones = profiles.matching_time_zones(current, limit=AUTOCOMPLETE_CHOICES_MAX)
    return [app_commands.Choice(name=zone, value=zone) for zone in zones]


def erasure_summary(held: list[privacy.Holding], tombstone_days: int) -> str:
    """What `/profile delete` will do, kind by kind, as the confirmation shows it."""
    parts = []
    for treatment, why in (
        (privacy.Treatment.DELETE, ""),
        (privacy.Treatment.DETACH, " Each quiz's statistics stay right; courses keep what staff made."),
        (privacy.Treatment.PSEUDONYMISE, " What was done stays on record, not by or to whom."),
    ):
        chosen = [holding for holding in held if holding.count and holding.on_erasure is treatment]
        kinds = ", ".join(f"{holding.label.lower()} ({holding.count})" for holding in chosen)
        if kinds:
            parts.append(f"**{treatment.value.capitalize()}**: {kinds}.{why}")
    parts.append(
        f"**Kept for {tombstone_days} days**: your Discord id and the time of this erasure, nothing else, so it can be "
        "applied again if a backup is ever restored."
    )
    parts.append("This is every server, and it cannot be undone. Messages in your Discord tutor threads stay there.")
    return "\n\n".join(parts)


def export_file(document: bytes, user_id: int) -> discord.File:
    name = f"coursebot-data-{user_id}.json"
    if len(document) <= ZIP_EXPORTS_ABOVE:
        return discord.File(io.BytesIO(document), filename=name)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, document)
    packed.seek(0)
    return discord.File(packed, filename=f"{name}.zip")


class Profile(commands.GroupCog, group_name="profile", group_description="Your Coursebot settings and your data"):
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def _update(
        self, interaction: discord.Interaction, *, time_zone: str | None = None, on_leaderboards: bool | None = None
    ) -> profiles.Profile:
        async with self.bot.db.session_scope() as session:
            return await profiles.update_profile(
                session,
                user_id=interaction.user.id,
                now=self.bot.clock.now(),
                time_zone=time_zone,
                on_leaderboards=on_leaderboards,
            )

    @app_commands.command(description="Your Coursebot settings")
    async def show(self, interaction: discord.Interaction) -> None:
        shown = await self._update(interaction)
        listed = "shown" if shown.on_leaderboards else "hidden"
        reply = embed(
            "Your profile",
            f"Time zone: **{shown.time_zone}**\nLeaderboards: **{listed}**\n"
            "Change them with `/profile timezone` and `/profile leaderboard`. What Coursebot keeps about you: "
            "`/profile data`.",
        )
        await interaction.response.send_message(embed=reply, ephemeral=True)

    @app_commands.command(name="timezone", description="Set your time zone: streaks and reminders follow it")
    @app_commands.describe(zone="Your IANA time zone, e.g. Europe/Paris")
    @app_commands.autocomplete(zone=time_zone_choices)
    async def time_zone(self, interaction: discord.Interaction, zone: str) -> None:
        shown = await self._update(interaction, time_zone=zone)
        reply = success_embed("Profile saved", f"Your days now follow **{shown.time_zone}**.")
        await interaction.response.send_message(embed=reply, ephemeral=True)

    @app_commands.command(description="Show or hide yourself on leaderboards (your XP counts either way)")
    @app_commands.describe(visible="on: listed on leaderboards; off: hidden from them")
    async def leaderboard(self, interaction: discord.Interaction, visible: Literal["on", "off"]) -> None:
        shown = await self._update(interaction, on_leaderboards=visible == "on")
        saved = "You are shown on leaderboards." if shown.on_leaderboards else "You are hidden from leaderboards."
        await interaction.response.send_message(embed=success_embed("Profile saved", saved), ephemeral=True)

    @app_commands.command(description="What Coursebot keeps about you, and for how long")
    async def data(self, interaction: discord.Interaction) -> None:
        async with self.bot.db.session_scope() as session:
            held = await privacy.inventory(session, user_id=interaction.user.id, settings=self.bot.settings.privacy)
        lines = [
            f"**{holding.label}**: {holding.count} · kept {holding.retention}" for holding in held if holding.count
        ]
        lines.append(
            "\nThat is everything, in every server. `/profile export` sends you a copy; `/profile delete` erases it."
        )
        page = embed("What Coursebot keeps about you", clip("\n".join(lines), EMBED_DESCRIPTION_MAX))
        await interaction.response.send_message(embed=page, ephemeral=True)

    @app_commands.command(description="Download everything Coursebot keeps about you, as a JSON file")
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.session_scope() as session:
            document = await privacy.export_data(
                session,
                user_id=interaction.user.id,
                requested_by="self",
                guild_id=interaction.guild_id,
                now=self.bot.clock.now(),
                settings=self.bot.settings.privacy,
            )
        reply = success_embed(
            "Your data",
            "Everything Coursebot keeps about you, in every server: one list per kind that `/profile data` counts.",
        )
        await interaction.followup.send(embed=reply, file=export_file(document, interaction.user.id), ephemeral=True)

    @app_commands.command(description="Erase everything Coursebot keeps about you, in every server (asks first)")
    async def delete(self, interaction: discord.Interaction) -> None:
        settings = self.bot.settings.privacy
        async with self.bot.db.session_scope() as session:
            held = await privacy.inventory(session, user_id=interaction.user.id, settings=settings)
        question = embed(
            "Erase your data?", clip(erasure_summary(held, settings.tombstone_days), EMBED_DESCRIPTION_MAX)
        )
        view = ErasureConfirmation(self.bot, owner_id=interaction.user.id)
        await interaction.response.send_message(embed=question, view=view, ephemeral=True)
        view.message = await interaction.original_response()


class ErasureConfirmation(OwnedView):
    """**Delete my data** or **Cancel** under the summary of what goes. The erasure runs in the press itself: it is
    acknowledged at once, and its outcome replaces the question."""

    def __init__(self, bot: CourseBot, *, owner_id: int) -> None:
        super().__init__(owner_id=owner_id, timeout=120)
        self.bot = bot

    @discord.ui.button(label="Delete my data", style=discord.ButtonStyle.danger)
    async def erase(self, interaction: discord.Interaction, button: discord.ui.Button[ErasureConfirmation]) -> None:
        self.stop()
        await interaction.response.defer()  # many rows take a few seconds
        erased = await privacy.erase_user(
            self.bot.db,
            user_id=interaction.user.id,
            requested_by="self",
            now=self.bot.clock.now(),
            batch_size=self.bot.settings.privacy.batch_size,
        )
        self.bot.forget_seen()  # their next command starts a new, empty account
        if erased.finished:
            outcome = success_embed(
                "Your data is erased",
                "Nothing Coursebot kept names you any more. If you use it again, it starts afresh.",
            )
        else:
            outcome = embed(
                "Almost done",
                "You were still using Coursebot while it erased your data; the rest goes within the hour.",
            )
        await interaction.edit_original_response(embed=outcome, view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ErasureConfirmation]) -> None:
        self.stop()
        await interaction.response.edit_message(embed=embed("Nothing deleted", "Your data is as it was."), view=None)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Profile(bot))
