"""End to end: the unmodified CourseBot connects over a real websocket to a fake gateway and answers."""

from __future__ import annotations

import logging

import pytest

from bot.app import CourseBot
from bot.config import Settings
from db.session import Database
from sandbox import payloads
from sandbox.gateway import IDENTIFY, FakeGateway, started
from sandbox.harness import GENERAL_CHANNEL_ID, STUDENT_ID, add_default_guild
from sandbox.http import FakeDiscordHTTP


async def test_coursebot_connects_and_answers_a_slash_command(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    http = FakeDiscordHTTP()
    guild = add_default_guild(http)
    async with http, FakeGateway(http) as gateway:
        bot = CourseBot(settings, database=database)
        async with started(bot):
            student = http.member(guild["id"], STUDENT_ID)
            channel = http.channels[str(GENERAL_CHANNEL_ID)]
            command = bot.tree.get_command("profile")
            assert command is not None
            await gateway.push(
                "INTERACTION_CREATE",
                payloads.slash_interaction("profile show", [], user=student, guild=guild, channel=channel),
            )
            callback = await http.wait_for_call("POST", "/interactions/*/callback", timeout=10)

    embed = callback.json["data"]["embeds"][0]
    assert embed["title"] == "Your profile" and callback.json["data"]["flags"] == 64  # ephemeral
    identify = next(frame for frame in gateway.received if frame["op"] == IDENTIFY)
    assert identify["d"]["intents"] == bot.intents.value
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text
