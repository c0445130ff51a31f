"""Where each command may be used: Discord is told which need a server, and the bot refuses them elsewhere."""

from __future__ import annotations

import pytest
from discord import app_commands

from sandbox import DiscordSandbox, payloads

GUILD_CONTEXT = 0  # Discord's InteractionContextType.GUILD
# Personal commands that make sense in a DM with the bot; everything else needs a server.
USABLE_IN_DMS = {"streak", "profile"}


def synced_contexts(sandbox: DiscordSandbox) -> dict[str, list[int] | None]:
    """What `tree.sync()` would send for each top-level command: its allowed contexts (None: everywhere)."""
    tree = sandbox.bot.tree
    return {command.name: command.to_dict(tree).get("contexts") for command in tree.get_commands()}


async def test_every_command_that_needs_a_server_is_synced_as_guild_only(discord_sandbox: DiscordSandbox) -> None:
    contexts = synced_contexts(discord_sandbox)

    assert {"course", "lesson", "quiz", "tutor", "teach", "admin", "leaderboard"} <= contexts.keys()
    for name, allowed in contexts.items():
        if name in USABLE_IN_DMS:
            assert allowed is None or set(allowed) > {GUILD_CONTEXT}, name
        else:
            assert allowed == [GUILD_CONTEXT], f"/{name} would be offered in DMs"


@pytest.mark.parametrize("command", ["course list", "course progress", "lesson next", "quiz results", "tutor start"])
async def test_a_server_command_sent_from_a_dm_gets_a_clear_sentence(
    discord_sandbox: DiscordSandbox, command: str
) -> None:
    # A client with a stale command list can still send one from a DM.
    student = discord_sandbox.student["user"]
    found = discord_sandbox.bot.tree.get_command(command.split()[0])
    assert isinstance(found, app_commands.Group | app_commands.Command)
    payload = payloads.slash_interaction(
        command, [], user=student, guild=None, channel=payloads.dm_channel(student), locale="en-US"
    )

    reply = await discord_sandbox._interact(payload, label=f"/{command}", user_id=int(student["id"]))

    assert reply.ephemeral and "Use this command in a server, not in DMs." in reply.text


async def test_an_instructor_role_without_moderation_permissions_sees_teach(discord_sandbox: DiscordSandbox) -> None:
    # The instructor level comes from the role mapped in /admin setup; Discord must not hide /teach from it.
    role = await discord_sandbox.add_role("Teachers")
    await discord_sandbox.slash("admin setup", user=discord_sandbox.owner, instructor_role=role)
    teacher = await discord_sandbox.add_member("tess", roles=[role])

    reply = await discord_sandbox.slash("teach course create", user=teacher, code="NEW1", title="New course")

    assert "NEW1" in reply.text
