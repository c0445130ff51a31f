"""`/admin …`: privileged configuration. Every change writes an audit row (in the service)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.clock import local_date
from bot.services import audit, tenancy, xp
from cogs._checks import require_level
from cogs._ui import add_fields, embed, success_embed
from cogs._views import Paginator
from db.models import MemberRole

AUDIT_PAGE_SIZE = 10


def describe_config(config: tenancy.GuildConfig) -> list[tuple[str, str]]:
    def role(role_id: int | None) -> str:
        return f"<@&{role_id}>" if role_id else "not set"

    def channel(channel_id: int | None) -> str:
        return f"<#{channel_id}>" if channel_id else "not set"

    return [
        ("Admin role", role(config.admin_role_id) + " (members with Manage Server are admins too)"),
        ("Instructor role", role(config.instructor_role_id)),
        ("TA role", role(config.ta_role_id)),
        ("Reminder channel", channel(config.reminder_channel_id)),
        ("Announcement channel", channel(config.announcement_channel_id)),
    ]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="admin", group_description="Configure Coursebot for this server"):
    xp_group = app_commands.Group(name="xp", description="Correct members' XP")

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @app_commands.command(description="Map Discord roles to Coursebot levels and pick the bot's channels")
    @app_commands.describe(
        instructor_role="Members with this role can author and run courses",
        ta_role="Members with this role can see rosters and help students",
        admin_role="Members with this role can configure the bot",
        reminder_channel="Where study reminders are posted",
        announcement_channel="Where course announcements are posted",
    )
    @require_level(MemberRole.ADMIN)
    async def setup(
        self,
        interaction: discord.Interaction,
        instructor_role: discord.Role | None = None,
        ta_role: discord.Role | None = None,
        admin_role: discord.Role | None = None,
        reminder_channel: discord.TextChannel | None = None,
        announcement_channel: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        chosen = {
            "instructor_role_id": instructor_role,
            "ta_role_id": ta_role,
            "admin_role_id": admin_role,
            "reminder_channel_id": reminder_channel,
            "announcement_channel_id": announcement_channel,
        }
        changes = {key: value.id for key, value in chosen.items() if value is not None}
        async with self.bot.db.session_scope() as session:
            if changes:
                config = await tenancy.configure_guild(
                    session, guild_id=interaction.guild_id, actor_id=interaction.user.id, changes=changes
                )
            else:
                config = await tenancy.guild_config(session, interaction.guild_id)
        title = "Configuration saved" if changes else "Current configuration"
        hint = "" if changes else "Pass options to change a setting, e.g. `/admin setup instructor_role:@Teachers`."
        await interaction.response.send_message(
            embed=add_fields(success_embed(title, hint), describe_config(config)), ephemeral=True
        )

    @app_commands.command(description="Recent instructor and admin changes in this server")
    @app_commands.describe(action="Only this kind of change, e.g. course.publish")
    @require_level(MemberRole.ADMIN)
    async def audit(self, interaction: discord.Interaction, action: str | None = None) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            entries = await audit.recent(session, guild_id=interaction.guild_id, limit=100, action=action)
        if not entries:
            await interaction.response.send_message(embed=embed("Audit log", "Nothing recorded yet."), ephemeral=True)
            return
        pages = []
        for start in range(0, len(entries), AUDIT_PAGE_SIZE):
            lines = [
                f"{discord.utils.format_dt(entry.at, 'R')} <@{entry.actor_id}> `{entry.action}` "
                f"{entry.target_type} {', '.join(map(str, entry.target_ids))}"
                for entry in entries[start : start + AUDIT_PAGE_SIZE]
            ]
            pages.append(embed("Audit log", "\n".join(lines)))
        await Paginator(pages, owner_id=interaction.user.id).start(interaction)

    @xp_group.command(name="adjust", description="Give or take XP, with a reason (audited)")
    @app_commands.describe(amount="Positive to give, negative to take", reason="Shown in the audit log")
    @require_level(MemberRole.ADMIN)
    async def xp_adjust(
        self,
        interaction: discord.Interaction,
        user: discord.Member,
        amount: app_commands.Range[int, -100_000, 100_000],
        reason: app_commands.Range[str, 1, 300],
    ) -> None:
        assert interaction.guild_id is not None
        async with self.bot.db.session_scope() as session:
            await tenancy.remember_user(
                session, user_id=user.id, display_name=user.display_name, locale=None, seen_at=self.bot.clock.now()
            )
            guild_zone, _ = await tenancy.time_zones(session, guild_id=interaction.guild_id, user_id=user.id)
            await xp.adjust(
                session, guild_id=interaction.guild_id, actor_id=interaction.user.id, user_id=user.id, amount=amount,
                reason=reason, day=local_date(self.bot.clock.now(), guild_zone), request_id=str(interaction.id),
            )  # fmt: skip
            total = await xp.total(session, guild_id=interaction.guild_id, user_id=user.id)
        await interaction.response.send_message(
            embed=success_embed(
                f"{'Gave' if amount > 0 else 'Took'} {abs(amount)} XP",
                f"{user.mention} now has {total} XP. Reason: {reason}",
            ),
            ephemeral=True,
        )


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(Admin(bot))
