"""The operator's endpoints: Prometheus metrics of interactions, shards, the database pool, model calls and jobs,
and the health check a supervisor polls; served by a bot connected over a real websocket to the offline Discord."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from bot import metrics
from bot.app import CourseBot
from bot.config import MetricsSettings, Settings
from bot.health import Observability
from db.session import Database
from sandbox import payloads
from sandbox.gateway import FakeGateway
from sandbox.http import FakeDiscordHTTP
from sandbox.world import GENERAL_CHANNEL_ID, STUDENT_ID, add_default_guild
from tests.fakes.openai_server import FakeOpenAIServer
from tests.tutor.conftest import MakeClient, make_client, openai_server  # noqa: F401  (fixtures)
from tests.tutor.test_llm import QUESTION


@asynccontextmanager
async def observed_bot(database: Database, settings: Settings) -> AsyncIterator[tuple[CourseBot, Observability]]:
    """A started bot on the offline Discord (one shard) and its endpoints on a free port (port 0, which the
    settings refuse, so built without validation)."""
    http = FakeDiscordHTTP()
    guild = add_default_guild(http)
    async with http, FakeGateway(http) as gateway:
        on_a_free_port = MetricsSettings.model_construct(enabled=True, host="127.0.0.1", port=0)
        served = settings.model_copy(update={"metrics": on_a_free_port})
        bot = CourseBot(served, database=database)
        observability = Observability(bot, served)
        await observability.start()
        running = asyncio.create_task(bot.start("token"))
        try:
            async with asyncio.timeout(10):
                await asyncio.sleep(0)  # `start` first sets the client up: only then may it be waited for
                await bot.wait_until_ready()
            student = http.member(guild["id"], STUDENT_ID)
            channel = http.channels[str(GENERAL_CHANNEL_ID)]
            await gateway.push(
                "INTERACTION_CREATE",
                payloads.slash_interaction("profile show", [], user=student, guild=guild, channel=channel),
            )
            await http.wait_for_call("POST", "/interactions/*/callback", timeout=10)
            await asyncio.sleep(0.05)  # the command's handler ends just after its answer
            yield bot, observability
        finally:
            await bot.close()
            await asyncio.gather(running, return_exceptions=True)
            await observability.stop()


async def get(observability: Observability, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as client, client.get(observability.address + path) as response:
        return response.status, await response.text()


def test_metrics_are_off_unless_enabled(settings: Settings) -> None:
    assert settings.metrics.enabled is False  # `coursebot run` serves them only when asked; the console never


async def test_metrics_count_interactions_read_shards_and_pool_and_health_tells_what_is_down(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = {"kind": "command", "command": "profile show"}
    counted = ("coursebot_interactions_total", {**command, "outcome": "ok"})
    acknowledged = ("coursebot_interaction_ack_seconds_count", command)
    completed = ("coursebot_interaction_seconds_count", command)
    before = [sample(name, **labels) for name, labels in (counted, acknowledged, completed)]
    async with observed_bot(database, settings) as (bot, observability):
        started = time.perf_counter()
        status, text = await get(observability, "/metrics")
        scrape_seconds = time.perf_counter() - started
        healthy = await get(observability, "/health")
        unreachable = Database.from_url("postgresql+asyncpg://nobody@127.0.0.1:1/none", connect_timeout=1)
        monkeypatch.setattr(bot, "_database", unreachable)
        without_database = await get(observability, "/health")
        monkeypatch.undo()
        await unreachable.dispose()
        await bot.close()
        closed = await get(observability, "/health")

    assert status == 200
    after = [sample(name, **labels) for name, labels in (counted, acknowledged, completed)]
    assert [now - then for now, then in zip(after, before, strict=True)] == [1, 1, 1]
    assert 'coursebot_interactions_total{command="profile show",kind="command",outcome="ok"}' in text
    assert 'coursebot_shard_connected{shard="0"} 1.0' in text
    assert "# TYPE coursebot_gateway_latency_seconds gauge" in text  # a sample per shard after its first heartbeat
    assert "coursebot_db_connections_in_use" in text
    assert scrape_seconds < 1.0  # the bench measures it (`python -m bench cluster`); this only catches a hang
    assert healthy[0] == 200 and '"shards": {"0": true}' in healthy[1] and '"database": true' in healthy[1]
    assert without_database[0] == 503 and '"database": false' in without_database[1]
    assert closed[0] == 503 and '"0": false' in closed[1]


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_model_calls_are_counted_with_their_tokens_and_latency(
    openai_server: FakeOpenAIServer,  # noqa: F811
    make_client: MakeClient,  # noqa: F811
) -> None:
    before = {
        "calls": sample("coursebot_llm_calls_total", operation="chat completion", outcome="ok"),
        "prompt": sample("coursebot_llm_tokens_total", direction="prompt"),
        "latencies": sample("coursebot_llm_call_seconds_count", operation="chat completion"),
    }
    openai_server.reply("A variable is a name bound to a value.", prompt_tokens=21, completion_tokens=9)
    await make_client().complete(QUESTION)

    assert sample("coursebot_llm_calls_total", operation="chat completion", outcome="ok") == before["calls"] + 1
    assert sample("coursebot_llm_tokens_total", direction="prompt") == before["prompt"] + 21
    assert sample("coursebot_llm_call_seconds_count", operation="chat completion") == before["latencies"] + 1
