"""The runtime through real discord.py parsing: tenancy on the fly, permission levels, the error handler,
owner-only views, and the first commands (`/admin setup`, `/admin audit`)."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select

from bot.errors import CourseError
from cogs._checks import require_level, required_level
from cogs._views import Paginator
from cogs.errors import user_message
from db.models import AuditLog, Guild, MemberRole, User
from db.session import Database
from sandbox import DiscordSandbox


def all_commands(sandbox: DiscordSandbox) -> list[app_commands.Command]:  # type: ignore[type-arg]
    return [command for command in sandbox.bot.tree.walk_commands() if isinstance(command, app_commands.Command)]


async def test_a_guild_and_a_user_get_rows_on_first_sight(discord_sandbox: DiscordSandbox, database: Database) -> None:
    reply = await discord_sandbox.slash("profile show", user=discord_sandbox.student)
    assert reply.ephemeral and "UTC" in reply.text
    async with database.session_scope() as session:
        guild = await session.get(Guild, int(discord_sandbox.guild["id"]))
        user = await session.get(User, int(discord_sandbox.student["user"]["id"]))
    assert guild is not None and guild.name == discord_sandbox.guild["name"]
    assert user is not None and user.display_name == "Sam"


async def test_admin_setup_maps_roles_and_is_audited(discord_sandbox: DiscordSandbox, database: Database) -> None:
    role = discord_sandbox.instructor_role
    reply = await discord_sandbox.slash("admin setup", user=discord_sandbox.owner, instructor_role=role)
    assert reply.ephemeral and "Configuration saved" in reply.text and f"<@&{role['id']}>" in reply.text
    async with database.session_scope() as session:
        entries = (await session.scalars(select(AuditLog))).all()
    assert [(entry.action, entry.meta) for entry in entries] == [
        ("guild.configure", {"instructor_role_id": int(role["id"])})
    ]
    audit = await discord_sandbox.slash("admin audit", user=discord_sandbox.owner)
    assert "guild.configure" in audit.text


async def test_every_privileged_command_is_refused_to_a_student(discord_sandbox: DiscordSandbox) -> None:
    privileged = [command for command in all_commands(discord_sandbox) if required_level(command) != MemberRole.STUDENT]
    assert {command.qualified_name for command in privileged} >= {"admin setup", "admin audit"}
    for command in privileged:
        # validate=False: send it even though Discord's client would hide it; the bot's own check must hold.
        reply = await discord_sandbox.slash(
            command.qualified_name,
            user=discord_sandbox.student,
            validate=False,
            options=example_options(discord_sandbox, command.qualified_name),
        )
        assert reply.ephemeral, command.qualified_name
        assert f"{required_level(command).value.lower()} level" in reply.text, (command.qualified_name, reply.text)


async def test_a_mapped_instructor_role_grants_the_level(discord_sandbox: DiscordSandbox) -> None:
    await discord_sandbox.slash("admin setup", user=discord_sandbox.owner, admin_role=discord_sandbox.instructor_role)
    reply = await discord_sandbox.slash("admin audit", user=discord_sandbox.instructor, validate=False)
    assert "guild.configure" in reply.text


# Values for required options, by command; the coverage test below fails when a command lacks an example.
# "ATTACHMENT" stands for a small file the test uploads.
EXAMPLE_OPTIONS: dict[str, dict[str, object]] = {
    "course info": {"course": "PY101"},
    "course enroll": {"course": "PY101"},
    "course drop": {"course": "PY101"},
    "lesson open": {"lesson": "variables"},
    "teach course create": {"code": "DEMO1", "title": "Demo"},
    "teach course import": {"package": "ATTACHMENT"},
    "teach course export": {"course": "DEMO1"},
    "teach course publish": {"course": "DEMO1"},
    "teach course unpublish": {"course": "DEMO1"},
    "teach course delete": {"course": "DEMO1"},
    "teach cohort create": {"course": "DEMO1", "term": "Spring"},
    "teach cohort open": {"course": "DEMO1", "term": "Spring"},
    "teach cohort close": {"course": "DEMO1", "term": "Spring"},
    "teach roster": {"course": "DEMO1"},
    "admin xp adjust": {"user": 1_080_000_000_000_000_403, "amount": 5, "reason": "helped a classmate"},
    "admin llm add": {"name": "local", "base_url": "http://localhost:11434/v1"},
    "admin llm model": {"backend": 1, "model": "llama3"},
    "admin llm default": {"model": 1},
    "admin prompts create": {"text": "You are a patient tutor."},
    "admin prompts label": {"name": "tutor.system", "version": 1, "label": "production"},
    "admin cache stats": {"course": "DEMO1"},
    "admin cache clear": {"course": "DEMO1"},
    "teach materials upload": {"course": "DEMO1", "file": "ATTACHMENT"},
    "teach materials list": {"course": "DEMO1"},
    "teach materials review": {"course": "DEMO1"},
    "teach analytics": {"course": "DEMO1"},
    "teach gradebook": {"course": "DEMO1"},
    "remind set": {"time": "09:00"},
    "profile timezone": {"zone": "Europe/Paris"},
    "profile leaderboard": {"visible": "off"},
    "course submit": {"course": "DEMO1", "file": "ATTACHMENT"},
    "teach submissions": {"course": "DEMO1"},
    "feedback": {"kind": "bug"},
}


def example_options(sandbox: DiscordSandbox, command: str) -> dict[str, object]:
    return {
        name: sandbox.attachment("notes.zip", b"not a zip") if value == "ATTACHMENT" else value
        for name, value in EXAMPLE_OPTIONS.get(command, {}).items()
    }


async def test_every_command_in_the_tree_answers(discord_sandbox: DiscordSandbox) -> None:
    for command in all_commands(discord_sandbox):
        required = [parameter.name for parameter in command.parameters if parameter.required]
        options = example_options(discord_sandbox, command.qualified_name)
        assert set(required) <= set(options), f"add example options for /{command.qualified_name}: {required}"
        reply = await discord_sandbox.slash(
            command.qualified_name, user=discord_sandbox.owner, validate=False, options=options
        )
        assert reply.messages or reply.modal, f"/{command.qualified_name} did not answer"


async def test_the_audit_log_pages(discord_sandbox: DiscordSandbox) -> None:
    for _ in range(12):  # more than one page of audit rows
        await discord_sandbox.slash("admin setup", user=discord_sandbox.owner, ta_role=discord_sandbox.instructor_role)
    pager = await discord_sandbox.slash("admin audit", user=discord_sandbox.owner)
    assert "Page 1/2" in pager.text
    second = await discord_sandbox.click(pager, "Next", user=discord_sandbox.owner)
    assert "Page 2/2" in second.text and second.components[1].disabled  # "Next" on the last page


async def test_a_public_pager_answers_only_its_owner(faults: DiscordSandbox) -> None:
    pager = await faults.slash("fault-pager", user=faults.owner)
    assert not pager.ephemeral and "one" in pager.text
    stranger = await faults.click(pager, "Next", user=faults.student)
    assert stranger.ephemeral and "belong to someone else" in stranger.text
    owner = await faults.click(pager, "Next", user=faults.owner)
    assert "two" in owner.text


def faults_cog() -> commands.Cog:
    """Commands that fail in each way the error handler knows; a new class each time, so no state
    (such as a cooldown) carries over between tests."""

    class Faults(commands.Cog):
        @app_commands.command(name="fault-domain")
        async def domain(self, interaction: discord.Interaction) -> None:
            raise CourseError("You need to finish lesson 2 first.")

        @app_commands.command(name="fault-bug")
        async def bug(self, interaction: discord.Interaction) -> None:
            raise RuntimeError("boom")

        @app_commands.command(name="fault-after-defer")
        async def after_defer(self, interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            raise CourseError("Deferred, then refused.")

        @app_commands.command(name="fault-cooldown")
        @app_commands.checks.cooldown(1, 60)
        async def cooldown(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message("ok", ephemeral=True)

        @app_commands.command(name="fault-pager")
        async def pager(self, interaction: discord.Interaction) -> None:
            pages = [discord.Embed(title="one"), discord.Embed(title="two")]
            await Paginator(pages, owner_id=interaction.user.id).start(interaction, ephemeral=False)

        @app_commands.command(name="fault-admin")
        @require_level(MemberRole.ADMIN)
        async def admin_only(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message("ok", ephemeral=True)

    return Faults()


@pytest.fixture
async def faults(discord_sandbox: DiscordSandbox) -> DiscordSandbox:
    await discord_sandbox.bot.add_cog(faults_cog())
    return discord_sandbox


async def test_a_domain_error_shows_its_own_message(faults: DiscordSandbox) -> None:
    reply = await faults.slash("fault-domain")
    assert reply.ephemeral and "You need to finish lesson 2 first." in reply.text


async def test_an_unexpected_error_shows_an_error_id_and_logs_the_context(faults: DiscordSandbox) -> None:
    reply = await faults.slash("fault-bug")
    assert reply.ephemeral and "error id" in reply.text and "boom" not in reply.text
    logged = [record for record in faults.errors if "Unexpected error" in record.getMessage()]
    assert len(logged) == 1 and "fault-bug" in logged[0].getMessage()
    assert logged[0].exc_info is not None
    error_id = reply.text.split("`")[1]
    assert error_id in logged[0].getMessage()
    faults.errors.clear()  # expected here; the fixture fails on any other


async def test_an_error_after_a_deferral_still_reaches_the_user(faults: DiscordSandbox) -> None:
    reply = await faults.slash("fault-after-defer")
    assert reply.ephemeral and "Deferred, then refused." in reply.text


async def test_a_cooldown_says_when_to_retry(faults: DiscordSandbox) -> None:
    first = await faults.slash("fault-cooldown")
    second = await faults.slash("fault-cooldown")
    assert first.text == "ok"
    assert second.ephemeral and "Try again in 60 s" in second.text


async def test_a_level_check_names_the_level_needed(faults: DiscordSandbox) -> None:
    refused = await faults.slash("fault-admin", user=faults.student)
    allowed = await faults.slash("fault-admin", user=faults.owner)
    assert "admin level" in refused.text
    assert allowed.text == "ok"


def test_every_kind_of_failure_has_a_plain_message() -> None:
    class Zone(app_commands.Transformer):
        async def transform(self, interaction: discord.Interaction, value: str) -> str:
            return value

    bad_value = app_commands.TransformerError("Mars/Olympus", discord.AppCommandOptionType.string, Zone())
    assert user_message(bad_value) == "`Mars/Olympus` isn't a valid string here."
    assert "in a server" in (user_message(app_commands.NoPrivateMessage()) or "")
    assert "can't use this command here" in (user_message(app_commands.CheckFailure()) or "")
    assert user_message(RuntimeError("boom")) is None  # a bug: the handler shows an error id instead


async def test_a_guild_admin_cannot_change_settings_shared_by_every_guild(discord_sandbox: DiscordSandbox) -> None:
    await discord_sandbox.slash("admin setup", user=discord_sandbox.owner, admin_role=discord_sandbox.instructor_role)
    refused = await discord_sandbox.slash(
        "admin llm add",
        user=discord_sandbox.instructor,
        validate=False,
        options={"name": "mine", "base_url": "http://attacker.example/v1"},
    )
    assert "only the bot's operator" in refused.text
    listed = await discord_sandbox.slash("admin llm list", user=discord_sandbox.instructor, validate=False)
    assert "mine" not in listed.text
