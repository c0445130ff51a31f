"""The operator's endpoints: Prometheus metrics of interactions (commands, buttons), shards, the database pool and
its waits, model calls and jobs, and the health check a supervisor polls; served by a bot connected over a real
websocket to the offline Discord."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text as sql

from bot import metrics
from bot.app import CourseBot
from bot.config import MetricsSettings, Settings
from bot.health import Observability
from db.session import Database
from sandbox import DiscordSandbox, payloads
from sandbox.gateway import FakeGateway
from sandbox.http import FakeDiscordHTTP
from sandbox.world import GENERAL_CHANNEL_ID, STUDENT_ID, add_default_guild
from tests.cogs.conftest import classroom, clock, discord_sandbox  # noqa: F401  (fixtures)
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
    command = {"kind": "command", "name": "profile show"}
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
    assert 'coursebot_interactions_total{kind="command",name="profile show",outcome="ok"}' in text
    assert 'coursebot_shard_connected{shard="0"} 1.0' in text
    assert "# TYPE coursebot_gateway_latency_seconds gauge" in text  # a sample per shard after its first heartbeat
    assert "coursebot_db_connections_in_use" in text
    assert scrape_seconds < 1.0  # the bench measures it (`python -m bench cluster`); this only catches a hang
    assert healthy[0] == 200 and '"shards": {"0": true}' in healthy[1] and '"database": true' in healthy[1]
    assert without_database[0] == 503 and '"database": false' in without_database[1]
    assert closed[0] == 503 and '"0": false' in closed[1]


def sample(metric: str, /, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(metric, labels) or 0.0


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


# How long the test holds every connection of the pool while a unit of work asks for one.
HELD_SECONDS = 0.1


def scraped(text: str, metric: str, /, **labels: str) -> float:
    """The value of one sample in a `/metrics` answer (0 when it isn't there)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == metric and found.labels == labels:
                return found.value
    return 0.0


async def test_a_unit_of_work_waiting_for_a_connection_shows_its_wait_in_metrics(
    database: Database, settings: Settings
) -> None:
    wait = "coursebot_db_connection_wait_seconds"
    # Two connections, no overflow (SQLite has one anyway): a periodic job that runs meanwhile needs two on
    # PostgreSQL, its lock's and its work's.
    small_pool = Database.from_url(database.engine.url, pool_size=2, max_overflow=0)
    try:
        async with observed_bot(small_pool, settings) as (bot, observability), AsyncExitStack() as held:
            before = (await get(observability, "/metrics"))[1]
            for _ in range(bot.db.engine.sync_engine.pool.size()):  # type: ignore[attr-defined]
                await held.enter_async_context(bot.db.engine.connect())
            waiting = asyncio.create_task(select_one(bot.db))
            await asyncio.sleep(HELD_SECONDS)
            assert not waiting.done()
            await held.aclose()
            await waiting
            after = (await get(observability, "/metrics"))[1]
    finally:
        await small_pool.dispose()

    def waits_over(seconds: str, text: str) -> float:
        return scraped(text, f"{wait}_count") - scraped(text, f"{wait}_bucket", le=seconds)

    # At least: a periodic job may have waited too.
    assert scraped(after, f"{wait}_count") - scraped(before, f"{wait}_count") >= 1
    assert waits_over("0.05", after) - waits_over("0.05", before) >= 1  # the wait, about HELD_SECONDS
    assert scraped(after, f"{wait}_sum") - scraped(before, f"{wait}_sum") >= HELD_SECONDS * 0.9


async def select_one(database: Database) -> None:
    async with database.session_scope() as session:
        await session.execute(sql("SELECT 1"))


def component_counts() -> dict[tuple[str, str], float]:
    """Every button, select and modal counted so far, by name and outcome."""
    return {
        (found.labels["name"], found.labels["outcome"]): found.value
        for family in metrics.REGISTRY.collect()
        for found in family.samples
        if found.name == "coursebot_interactions_total" and found.labels["kind"] == "component"
    }


async def test_quiz_buttons_are_counted_by_class_with_their_outcome_and_completion_time(
    classroom: DiscordSandbox,  # noqa: F811
) -> None:
    await classroom.slash("course enroll", course="PY101")
    message = await classroom.slash("quiz start", quiz="first-steps-check")
    _, attempt, question, _ = (message.components[0].custom_id or "").split(":")
    presses = ["A", "Submit"] if "Submit" in [component.label for component in message.components] else ["A"]
    pressed = ["ToggleButton", "SubmitButton"] if len(presses) == 2 else ["AnswerButton"]
    counts = component_counts()
    names = {"AnswerButton", *pressed}
    completions = {name: sample("coursebot_interaction_seconds_count", kind="component", name=name) for name in names}

    forged = await classroom.click(message, "A", forged_custom_id=f"quiz:{attempt}:{question}:999")
    for press in presses:
        message = await classroom.click(message, press)
    # A press is counted when its handler ends, after its answer: by a callback of the handler's task, one loop
    # turn after the task is done.
    assert await classroom.finish_handlers()
    await asyncio.sleep(0)

    assert "isn't one of this question's options" in forged.text
    counted = {key: value - counts.get(key, 0.0) for key, value in component_counts().items()}
    assert {key: value for key, value in counted.items() if value} == {
        ("AnswerButton", "error"): 1,
        **{(name, "ok"): 1 for name in pressed},
    }
    for name in names:  # every press, failed or not, has its completion time
        presses_of_name = sum(value for (counted_name, _), value in counted.items() if counted_name == name)
        assert sample("coursebot_interaction_seconds_count", kind="component", name=name) == (
            completions[name] + presses_of_name
        )
    # Class names (`AnswerButton`, `Paginator.next`), never a custom id's numbers: few series.
    assert all(re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?", name) for name, _ in component_counts())
