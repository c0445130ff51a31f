"""Which Discord roles Coursebot may hand out as cohort roles: plain roles only, never power.

A cohort role is given to whoever enrolls, so an instructor who could pick any role could make every
student (themselves included) an admin. The rule is checked when a cohort gets its role (`/teach cohort
create`, `/teach course import`) and again at every grant, since a role's permissions can change after.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import discord

from bot.services import permissions, tenancy
from bot.services.coursepack import CoursePackage, PackageInvalid, Problem
from db.models import MemberRole

if TYPE_CHECKING:
    from bot.app import CourseBot

# Permissions that let a member moderate, reconfigure or mass-ping the server: a role with any of them is
# not something every enrolled student may have.
ELEVATED = discord.Permissions(
    administrator=True,
    manage_guild=True,
    manage_roles=True,
    manage_channels=True,
    manage_messages=True,
    manage_webhooks=True,
    manage_threads=True,
    manage_nicknames=True,
    manage_expressions=True,
    manage_events=True,
    kick_members=True,
    ban_members=True,
    moderate_members=True,
    mention_everyone=True,
    mute_members=True,
    deafen_members=True,
    move_members=True,
    view_audit_log=True,
    view_guild_insights=True,
    view_creator_monetization_analytics=True,
    pin_messages=True,
    bypass_slowmode=True,
)


def _permission_name(flag: str) -> str:
    return {"manage_guild": "Manage Server", "moderate_members": "Timeout Members"}.get(
        flag, flag.replace("_", " ").title()
    )


def grantable_problem(
    role: discord.Role,
    *,
    bot_member: discord.Member,
    actor: discord.Member | None,
    mapped_role_ids: Collection[int],
    actor_is_admin: bool,
) -> str | None:
    """Why Coursebot must not give `role` to enrolled students, or None when it may.

    `actor` is who attaches the role to a cohort (None at grant time, when the student is only receiving it);
    unless they are a Coursebot admin the role must sit below their own highest role, as Discord asks of a
    member who hands out roles.
    """
    if role.is_default():
        return "it is @everyone"
    if role.managed:
        return "it is managed by an integration (a bot, a subscription or server boosts)"
    if role.permissions.administrator:
        return "it has the Administrator permission"
    if elevated := [flag for flag, has in role.permissions & ELEVATED if has]:
        return "it has elevated permissions (" + ", ".join(_permission_name(flag) for flag in elevated) + ")"
    if role.id in mapped_role_ids:
        return "it stands for a Coursebot level in `/admin setup`"
    if role >= bot_member.top_role:
        return "it is not below my highest role"
    if actor is not None and not actor_is_admin and role >= actor.top_role:
        return "it is not below your highest role"
    return None


async def grant_problem(bot: CourseBot, guild: discord.Guild, role_id: int) -> str | None:
    """Why Coursebot must not give (or take back) this cohort role now, or None: the check at grant time."""
    role = guild.get_role(role_id)
    if role is None:
        return "the role no longer exists"
    async with bot.db.session_scope() as session:
        config = await tenancy.guild_config(session, guild.id)
    return grantable_problem(
        role,
        bot_member=guild.me,
        actor=None,
        mapped_role_ids=permissions.mapped_role_ids(config),
        actor_is_admin=False,
    )


async def cohort_role_problems(interaction: discord.Interaction, role_ids: Iterable[int]) -> dict[int, str]:
    """Why each of these roles can't be a cohort role set up by this member; roles that can are left out.
    A role id that is not a role of this server is a problem too."""
    guild, actor = interaction.guild, interaction.user
    assert guild is not None and isinstance(actor, discord.Member)
    wanted = set(role_ids)
    if not wanted:
        return {}
    bot: CourseBot = interaction.client  # type: ignore[assignment]
    async with bot.db.session_scope() as session:
        config = await tenancy.guild_config(session, guild.id)
        level = await permissions.member_level(
            session,
            guild_id=guild.id,
            user_id=actor.id,
            role_ids=[role.id for role in actor.roles],
            manages_guild=actor.guild_permissions.manage_guild,
        )
    mapped, actor_is_admin = permissions.mapped_role_ids(config), permissions.at_least(level, MemberRole.ADMIN)
    problems = {}
    for role_id in wanted:
        role = guild.get_role(role_id)
        if role is None:
            problems[role_id] = "it is not a role of this server"
        elif problem := grantable_problem(
            role, bot_member=guild.me, actor=actor, mapped_role_ids=mapped, actor_is_admin=actor_is_admin
        ):
            problems[role_id] = problem
    return problems


async def check_package_roles(interaction: discord.Interaction, package: CoursePackage) -> None:
    """PackageInvalid naming every cohort of the package whose `role_id` Coursebot must not hand out."""
    terms_of: dict[int, list[str]] = {}
    for cohort in package.cohorts:
        if cohort.role_id is not None:
            terms_of.setdefault(cohort.role_id, []).append(cohort.term_name)
    problems = await cohort_role_problems(interaction, terms_of)
    if problems:
        guild = interaction.guild
        assert guild is not None
        raise PackageInvalid(
            Problem(
                "course.toml",
                None,
                f"cohort `{term}`: role `{role.name if (role := guild.get_role(role_id)) else role_id}` "
                f"can't be a cohort role: {reason}",
            )
            for role_id, reason in problems.items()
            for term in terms_of[role_id]
        )
