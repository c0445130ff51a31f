"""`/admin` through real discord.py parsing: level roles stay distinct, operator-wide settings stay the operator's."""

from __future__ import annotations

import discord
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from sandbox import DiscordSandbox

INTERNAL_URL = "http://10.20.30.40:11434/v1"


@pytest.fixture
async def guild_admin(discord_sandbox: DiscordSandbox) -> dict:
    """A member who manages this server (a Coursebot admin here) but does not run the bot."""
    managers = await discord_sandbox.add_role(
        "Server managers", permissions=discord.Permissions(manage_guild=True).value, position=1
    )
    return await discord_sandbox.add_member("gina", roles=[managers])


async def test_setup_refuses_one_role_for_two_levels(discord_sandbox: DiscordSandbox) -> None:
    sandbox = discord_sandbox
    await sandbox.slash("admin setup", user=sandbox.owner, instructor_role=sandbox.instructor_role)

    demoting = await sandbox.slash("admin setup", user=sandbox.owner, ta_role=sandbox.instructor_role)
    both = await sandbox.slash(
        "admin setup", user=sandbox.owner, ta_role=sandbox.instructor_role, admin_role=sandbox.instructor_role
    )

    assert demoting.ephemeral and "can't be both the instructor and the TA role" in demoting.text
    assert "can't be both the" in both.text
    current = await sandbox.slash("admin setup", user=sandbox.owner)
    assert "TA role: not set" in current.text and "Admin role: not set" in current.text
    created = await sandbox.slash("teach course create", user=sandbox.instructor, code="CS1", title="Still teaching")
    assert "Created CS1" in created.text


async def test_a_guild_admin_cannot_read_the_operators_llm_servers(
    discord_sandbox: DiscordSandbox, guild_admin: dict
) -> None:
    sandbox = discord_sandbox
    sandbox.bot.settings.secret_key = SecretStr(Fernet.generate_key().decode())  # type: ignore[attr-defined]
    added = await sandbox.slash("admin llm add", user=sandbox.owner, name="lab-gpu", base_url=INTERNAL_URL)
    assert "Added lab-gpu" in added.text

    listed = await sandbox.slash("admin llm list", user=guild_admin)
    suggested = await sandbox.autocomplete("admin llm model", "backend", "", user=guild_admin)

    assert listed.ephemeral and "operator" in listed.text and INTERNAL_URL not in listed.text
    assert suggested == []
    assert INTERNAL_URL in (await sandbox.slash("admin llm list", user=sandbox.owner)).text
    assert await sandbox.autocomplete("admin llm model", "backend", "", user=sandbox.owner)


async def test_a_guild_admin_cannot_read_the_operators_prompts(
    discord_sandbox: DiscordSandbox, guild_admin: dict
) -> None:
    sandbox = discord_sandbox
    await sandbox.slash(
        "admin prompts create", user=sandbox.owner, text="Secret house rules for the tutor.", labels="production"
    )

    shown = await sandbox.slash("admin prompts show", user=guild_admin)
    listed = await sandbox.slash("admin prompts list", user=guild_admin)
    suggested = await sandbox.autocomplete("admin prompts show", "name", "", user=guild_admin)

    for reply in (shown, listed):
        assert reply.ephemeral and "operator" in reply.text and "Secret house rules" not in reply.text
    assert suggested == []
    assert "Secret house rules" in (await sandbox.slash("admin prompts show", user=sandbox.owner)).text
