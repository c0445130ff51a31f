"""`/profile` through real discord.py parsing: a member's own settings (`show`, `timezone`, `leaderboard`) and their
own data (`data`, `export`, `delete`, in a server and in a DM), and that staff reach no one else's through it."""

from __future__ import annotations

import json

import discord
from discord import app_commands

from bot.clock import FixedClock
from db.models import User
from db.session import Database
from sandbox import DiscordSandbox, payloads
from sandbox.harness import Reply
from tests.cogs.test_privacy import person, studying_student  # noqa: F401 (the fixture is taken by name)
from tests.services.test_privacy import rows_mentioning


def exported(reply: Reply) -> dict[str, object]:
    (attachment,) = reply.files
    assert attachment.filename.startswith("coursebot-data-") and attachment.filename.endswith(".json")
    return json.loads(attachment.data)


async def test_profile_show_reflects_the_time_zone_and_leaderboard_choice_you_made(
    discord_sandbox: DiscordSandbox,
) -> None:
    before = await discord_sandbox.slash("profile show")
    await discord_sandbox.slash("profile timezone", zone="Asia/Tokyo")
    hidden = await discord_sandbox.slash("profile leaderboard", visible="off")

    after = await discord_sandbox.slash("profile show")

    assert "Time zone: **UTC**" in before.text and "Leaderboards: **shown**" in before.text
    assert hidden.ephemeral and "You are hidden from leaderboards." in hidden.text
    assert after.ephemeral and "Time zone: **Asia/Tokyo**" in after.text and "Leaderboards: **hidden**" in after.text


async def test_a_time_zone_is_saved_and_a_bad_one_is_refused_with_a_hint(
    discord_sandbox: DiscordSandbox, database: Database
) -> None:
    saved = await discord_sandbox.slash("profile timezone", zone="Europe/Paris")
    refused = await discord_sandbox.slash("profile timezone", zone="Mars/Olympus")
    typo = await discord_sandbox.slash("profile timezone", zone="Europe/Pariss")
    assert "Europe/Paris" in saved.text
    assert refused.ephemeral and "not a time zone" in refused.text and "IANA" in refused.text
    assert "Did you mean `Europe/Paris`" in typo.text
    async with database.session_scope() as session:
        user = await session.get(User, int(discord_sandbox.student["user"]["id"]))
    assert user is not None and user.time_zone == "Europe/Paris"


async def test_time_zones_autocomplete(discord_sandbox: DiscordSandbox) -> None:
    choices = await discord_sandbox.autocomplete("profile timezone", "zone", "new_y")
    assert [choice.value for choice in choices] == ["America/New_York"]


async def test_a_student_sees_what_is_kept_and_for_how_long(studying: DiscordSandbox) -> None:
    reply = await studying.slash("profile data")

    assert reply.ephemeral
    assert "**Course enrollments**: 1 · kept until you delete it" in reply.text
    assert "**Study reminders**: 1" in reply.text and "**Lesson progress**: 2" in reply.text
    assert "`/profile export`" in reply.text and "`/profile delete`" in reply.text


async def test_a_student_exports_their_data_once_a_day(studying: DiscordSandbox, clock: FixedClock) -> None:
    reply = await studying.slash("profile export")

    assert reply.ephemeral
    document = exported(reply)
    student = str(person(studying.student))
    assert document["user_id"] == student
    data = document["data"]
    assert isinstance(data, dict)
    assert [row["course"] for row in data["enrollments"]] == ["PY101"]
    assert str(person(studying.instructor)) not in json.dumps(document)  # who imported the course is not theirs

    again = await studying.slash("profile export")
    assert again.ephemeral and "once every 24 hours" in again.text and not again.files
    clock.advance(hours=24)
    assert exported(await studying.slash("profile export"))["user_id"] == student


async def test_a_student_erases_their_data_after_confirming_and_can_start_afresh(
    studying: DiscordSandbox, database: Database
) -> None:
    asked = await studying.slash("profile delete")

    assert asked.ephemeral and "Erase your data?" in asked.text
    assert "**Deleted**: " in asked.text and "course enrollments (1)" in asked.text
    assert "**Kept for 35 days**: your Discord id" in asked.text
    assert [component.label for component in asked.components] == ["Delete my data", "Cancel"]

    done = await studying.click(asked, "Delete my data")

    assert done.ephemeral and "Your data is erased" in done.text and not done.components
    assert await rows_mentioning(database, person(studying.student)) == ["erased_users.user_id"]
    again = await studying.slash("profile show")  # the bot forgot it had seen them: their row is written anew
    assert "Your profile" in again.text
    async with database.session_scope() as session:
        assert await session.get(User, person(studying.student)) is not None


async def test_cancelling_deletes_nothing(studying: DiscordSandbox, database: Database) -> None:
    before = await rows_mentioning(database, person(studying.student))
    asked = await studying.slash("profile delete")

    cancelled = await studying.click(asked, "Cancel")

    assert "Nothing deleted" in cancelled.text
    assert await rows_mentioning(database, person(studying.student)) == before


async def test_profile_data_and_delete_work_in_a_dm(studying: DiscordSandbox, database: Database) -> None:
    # Someone who left every server can still reach the bot in a DM.
    student = studying.student["user"]
    dm = studying.http.open_dm_channel(student["id"])  # type: ignore[index]

    async def in_dm(command: str) -> Reply:
        payload = payloads.slash_interaction(
            command, [], user=student, guild=None, channel=dm, application_id=studying.http.application_id
        )
        return await studying._interact(payload, label=f"/{command}", user_id=person(studying.student))

    shown = await in_dm("profile data")
    asked = await in_dm("profile delete")
    done = await studying.click(asked, "Delete my data")

    assert "**Course enrollments**: 1" in shown.text
    assert "Your data is erased" in done.text
    assert await rows_mentioning(database, person(studying.student)) == ["erased_users.user_id"]


async def test_staff_reach_only_their_own_data_with_profile(studying: DiscordSandbox, database: Database) -> None:
    # No /profile command takes another member: the operator's CLI is the only way to someone else's data.
    profile = studying.bot.tree.get_command("profile")
    assert isinstance(profile, app_commands.Group)
    for command in profile.commands:
        assert all(
            parameter.type not in (discord.AppCommandOptionType.user, discord.AppCommandOptionType.mentionable)
            for parameter in command.parameters  # type: ignore[union-attr]
        ), command.name
    student = person(studying.student)

    document = exported(await studying.slash("profile export", user=studying.instructor))
    asked = await studying.slash("profile delete", user=studying.owner)
    await studying.click(asked, "Delete my data", user=studying.owner)

    assert document["user_id"] == str(person(studying.instructor)) and str(student) not in json.dumps(document)
    assert await rows_mentioning(database, person(studying.owner)) == ["erased_users.user_id"]
    async with database.session_scope() as session:
        assert await session.get(User, student) is not None  # the student's data is untouched
