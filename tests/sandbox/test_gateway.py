"""End to end: the unmodified `bot.start()` talks to the fake gateway over a real websocket."""

from __future__ import annotations

import logging

import discord
import pytest
from discord.ext import commands

from sandbox import payloads
from sandbox.gateway import HEARTBEAT, IDENTIFY, FakeGateway, started
from sandbox.harness import GENERAL_CHANNEL_ID, STUDENT_ID, add_default_guild
from sandbox.http import FakeDiscordHTTP


def ping_bot(base: type[commands.Bot]) -> commands.Bot:
    class PingBot(base):  # type: ignore[misc, valid-type]
        async def setup_hook(self) -> None:
            @self.tree.command(description="Check the bot is alive")
            async def ping(interaction: discord.Interaction) -> None:
                await interaction.response.send_message(f"pong from shard {interaction.guild.shard_id}")  # type: ignore[union-attr]

    # A short guild_ready_timeout keeps on_ready from waiting the default two seconds after GUILD_CREATE.
    return PingBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)


@pytest.mark.parametrize("base", [commands.AutoShardedBot, commands.Bot], ids=["auto-sharded", "single"])
async def test_the_real_bot_connects_receives_the_guild_and_answers_a_slash_command(
    base: type[commands.Bot], caplog: pytest.LogCaptureFixture
) -> None:
    http = FakeDiscordHTTP()
    guild = add_default_guild(http)
    async with http, FakeGateway(http) as gateway:
        bot = ping_bot(base)
        async with started(bot, seconds=5):
            assert bot.user is not None and bot.user.id == payloads.BOT_USER_ID
            assert bot.get_guild(int(guild["id"])) is not None

            student = http.member(guild["id"], STUDENT_ID)
            assert student is not None
            interaction = payloads.slash_interaction(
                "ping", user=student, guild=guild, channel=http.channels[str(GENERAL_CHANNEL_ID)]
            )
            await gateway.push("INTERACTION_CREATE", interaction)
            callback = await http.wait_for_call("POST", "/interactions/*/callback", timeout=5)
            assert callback.json == {"type": 4, "data": {"tts": False, "content": "pong from shard 0"}}

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    identify = next(f for f in gateway.received if f["op"] == IDENTIFY)
    assert identify["d"]["token"] == "token" and identify["d"]["intents"] == discord.Intents.default().value
    assert any(f["op"] == HEARTBEAT for f in gateway.received)
    assert gateway.connections[0]["compress"] in ("zlib-stream", "zstd-stream")
    if base is commands.AutoShardedBot:
        assert identify["d"]["shard"] == [0, 1] and http.calls_to("GET", "/gateway/bot")
