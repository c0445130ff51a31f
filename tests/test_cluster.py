"""Past one process: two `CourseBot`s, each running one of two shards, on one PostgreSQL database, connected over
real websockets to one offline Discord (its gateway honours the shard each connection identifies with).

Each process gets only its shards' guilds and their interactions; a job one process leads does the work of every
guild, the other process's too, through REST (no guild cache needed); what a process remembers is forgotten after
an erasure by another; the tutor's cache keeps one answer when two processes write the same one; REST goes to the
configured API base. On SQLite a process that runs only some shards is refused.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp import web
from sqlalchemy import func, insert, select

from bot.__main__ import build_parser, with_shards
from bot.app import CourseBot, use_discord_api
from bot.clock import FixedClock
from bot.config import ClusterSettings, ConfigError, Settings, load_settings
from bot.services import privacy
from db.models import ChatSession, LLMResponseCache, SessionEndReason, SourceMode, User
from db.session import Database
from sandbox import payloads
from sandbox.gateway import FakeGateway
from sandbox.http import FakeDiscordHTTP
from sandbox.world import DEFAULT_GUILD_ID, OWNER_ID, STUDENT_ID, add_default_guild
from tests.cogs.conftest import START
from tests.conftest import on_postgresql_only
from tests.tutor.conftest import CourseRows, course  # noqa: F401  (`course` is a fixture)
from tests.tutor.test_cache import key, node_count, store_greeting  # noqa: F401  (`key` is a fixture)

SHARDS = 2
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


def add_guild_on_the_other_shard(http: FakeDiscordHTTP) -> dict[str, Any]:
    """A second guild, like the default one (the student, the bot and a channel), on the other shard."""
    guild_id = DEFAULT_GUILD_ID + (1 << 22)
    everyone = payloads.everyone_role(guild_id)
    bot_role = payloads.role(
        "Coursebot", permissions=payloads.BOT_PERMISSIONS, position=1, bot_id=int(http.bot_user["id"])
    )
    student = copy.deepcopy(http.member(DEFAULT_GUILD_ID, STUDENT_ID))
    assert student is not None
    student["roles"] = []
    guild = payloads.guild(
        "Second server",
        id=guild_id,
        owner_id=OWNER_ID,
        roles=[everyone, bot_role],
        channels=[payloads.text_channel("general", guild_id=guild_id)],
        members=[student, payloads.member(http.bot_user, roles=[bot_role])],
    )
    http.add_guild(guild)
    return guild


def running_shard(settings: Settings, shard: int) -> Settings:
    return settings.model_copy(update={"cluster": ClusterSettings(shard_count=SHARDS, shards=[shard])})


@asynccontextmanager
async def two_processes(
    database: Database, settings: Settings, clock: FixedClock
) -> AsyncIterator[tuple[FakeDiscordHTTP, FakeGateway, list[CourseBot]]]:
    """Two started bots, shard 0 and shard 1, each with its own engine on `database`, as two processes have."""
    http = FakeDiscordHTTP()
    add_default_guild(http)
    add_guild_on_the_other_shard(http)
    engines = [database, Database.from_url(database.engine.url)]
    async with http, FakeGateway(http) as gateway:
        bots = [CourseBot(running_shard(settings, shard), database=engines[shard], clock=clock) for shard in (0, 1)]
        running = [asyncio.create_task(bot.start("token")) for bot in bots]
        try:
            async with asyncio.timeout(20):
                await asyncio.gather(*(bot.wait_until_ready() for bot in bots))
            yield http, gateway, bots
        finally:
            for bot in bots:
                await bot.close()
            await asyncio.gather(*running, return_exceptions=True)
            await engines[1].dispose()


def recorder(guild_ids: list[int | None]) -> Any:
    async def on_interaction(interaction: discord.Interaction[Any]) -> None:
        guild_ids.append(interaction.guild_id)

    return on_interaction


async def test_sqlite_refuses_a_process_that_runs_only_some_shards(database: Database, settings: Settings) -> None:
    if database.backend == "sqlite":
        with pytest.raises(ConfigError, match=r"runs shards \[1\] of 2.*SQLite is for one process"):
            CourseBot(running_shard(settings, 1), database=database)
    else:
        assert CourseBot(running_shard(settings, 1), database=database).shard_ids == [1]
    every_shard = settings.model_copy(update={"cluster": ClusterSettings(shard_count=SHARDS, shards=[0, 1])})
    assert CourseBot(every_shard, database=database).shard_count == SHARDS  # one process with them all is fine


async def test_each_process_gets_only_its_shards_guilds_and_their_interactions(
    database: Database, settings: Settings
) -> None:
    on_postgresql_only(database)
    async with two_processes(database, settings, FixedClock(START)) as (http, gateway, bots):
        handled: list[list[int | None]] = [[], []]
        for shard, bot in enumerate(bots):
            bot.add_listener(recorder(handled[shard]), "on_interaction")
        for guild in http.guilds.values():
            student = http.member(guild["id"], STUDENT_ID)
            channel = http.channels[guild["channels"][0]["id"]]
            since = len(http.calls)
            await gateway.push(
                "INTERACTION_CREATE",
                payloads.slash_interaction("profile show", [], user=student, guild=guild, channel=channel),
            )
            await http.wait_for_call("POST", "/interactions/*/callback", since=since, timeout=10)
        guilds = [sorted(guild.id for guild in bot.guilds) for bot in bots]

    both = sorted(int(guild_id) for guild_id in http.guilds)
    assert sorted(shard_of(guild_id) for guild_id in both) == [0, 1]
    for shard in (0, 1):
        mine = [guild_id for guild_id in both if shard_of(guild_id) == shard]
        assert guilds[shard] == mine and handled[shard] == mine


async def test_a_job_led_by_one_process_does_the_other_process_guilds_work_through_rest(
    database: Database, settings: Settings
) -> None:
    on_postgresql_only(database)
    clock = FixedClock(START)
    async with two_processes(database, settings, clock) as (http, _, bots):
        other_guild = next(int(guild_id) for guild_id in http.guilds if shard_of(int(guild_id)) == 1)
        general = next(c for c in http.channels.values() if c.get("guild_id") == str(other_guild) and c["type"] == 0)
        thread = payloads.thread("Tutor", parent=general, owner_id=STUDENT_ID, private=True)
        http.add_channel(thread)
        idle_since = START - timedelta(hours=2)
        async with database.session_scope() as session:
            await session.execute(insert(User).values(id=STUDENT_ID, display_name="Sam"))
            await session.execute(
                insert(ChatSession).values(
                    user_id=STUDENT_ID,
                    guild_id=other_guild,
                    thread_id=int(thread["id"]),
                    source_mode=SourceMode.COURSE,
                    started_at=idle_since,
                    last_message_at=idle_since,
                )
            )
        assert bots[0].get_guild(other_guild) is None  # shard 0's process has no cache of that guild
        sweeps = [bot.scheduler.get_job("tutor.end_idle") for bot in bots]
        await sweeps[0].func(*sweeps[0].args)
        await sweeps[1].func(*sweeps[1].args)  # finds nothing left to do
        archived = await http.wait_for_call("PATCH", f"/channels/{thread['id']}", timeout=10)
        await asyncio.sleep(0)
        patches = [call for call in http.calls if call.matches("PATCH", f"/channels/{thread['id']}")]

    assert archived.json == {"archived": True, "locked": True} and len(patches) == 1
    assert len(http.messages_in(thread["id"])) == 1  # the one notice that the session closed
    async with database.session_scope() as session:
        assert await session.scalar(select(ChatSession.end_reason)) is SessionEndReason.INACTIVITY


async def test_an_erasure_in_one_process_makes_the_others_forget_whom_they_saw(
    database: Database, settings: Settings
) -> None:
    on_postgresql_only(database)
    clock = FixedClock(START)
    async with two_processes(database, settings, clock) as (http, gateway, bots):
        other_guild = next(guild for guild in http.guilds.values() if shard_of(int(guild["id"])) == 1)
        student = http.member(other_guild["id"], STUDENT_ID)
        channel = http.channels[other_guild["channels"][0]["id"]]

        async def profile() -> None:
            since = len(http.calls)
            await gateway.push(
                "INTERACTION_CREATE",
                payloads.slash_interaction("profile show", [], user=student, guild=other_guild, channel=channel),
            )
            await http.wait_for_call("POST", "/interactions/*/callback", since=since, timeout=10)

        async def students() -> int:
            async with database.session_scope() as session:
                return await session.scalar(select(func.count()).where(User.id == STUDENT_ID)) or 0

        await profile()  # shard 1's process writes her row and remembers it
        assert await students() == 1
        await privacy.erase_user(
            database, user_id=STUDENT_ID, requested_by="operator", now=clock.now(), batch_size=100
        )  # by the operator's CLI, or by her own /profile delete in the other process
        assert await students() == 0
        clock.advance(minutes=1)
        forget = bots[1].scheduler.get_job("privacy.forget_erased")
        await forget.func(*forget.args)
        await profile()
        assert await students() == 1  # written again, not skipped as remembered


async def test_two_processes_writing_the_same_tutor_answer_keep_one_in_the_cache(
    database: Database,
    course: CourseRows,  # noqa: F811
    key: Any,  # noqa: F811
) -> None:
    """The tutor's wait for an identical answer being written is per process: across processes both students'
    turns may ask the model (one extra call), and the cache, insert-once, keeps one answer that both get."""
    on_postgresql_only(database)
    other_process = Database.from_url(database.engine.url)
    try:
        lesson = course.lesson_ids[0]
        stored = await asyncio.gather(
            *(store_greeting(process, lesson, key) for process in (database, other_process, database, other_process))
        )
    finally:
        await other_process.dispose()
    assert len({node.node_id for node in stored}) == 1
    assert await node_count(database) == 1
    async with database.session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(LLMResponseCache)) == 1


async def test_rest_goes_to_the_configured_api_base(settings: Settings) -> None:
    """`[cluster] discord_api_base_url` (a rate-limit proxy): the bot's REST calls and its interaction answers."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        if request.path.endswith("/users/@me"):
            return web.json_response(payloads.user("coursebot", id=1, bot=True))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10"
    proxied = settings.model_copy(update={"cluster": ClusterSettings(discord_api_base_url=base)})
    previous = discord.http.Route.BASE
    try:
        bot = CourseBot(proxied)
        await bot.http.static_login("token")
        await bot.http.close()
        answer = discord.webhook.async_.Route("POST", "/interactions/{id}/{token}/callback", id=1, token="t")
    finally:
        use_discord_api(previous)
        await runner.cleanup()
    assert seen == ["GET /api/v10/users/@me"]
    assert answer.url.startswith(base)


def test_the_run_options_or_the_environment_choose_this_process_shards(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def shards(*options: str) -> list[int] | None:
        return with_shards(settings, build_parser().parse_args(["run", *options])).cluster.shard_ids()

    assert shards() is None  # every shard Discord recommends, in this one process
    assert shards("--shard-count", "8", "--shards", "0-2,6") == [0, 1, 2, 6]
    assert shards("--shard-count", "8", "--cluster", "1", "--clusters", "3") == [1, 4, 7]
    with pytest.raises(ConfigError, match="cluster must be below clusters"):
        shards("--shard-count", "8", "--cluster", "3", "--clusters", "3")
    with pytest.raises(ConfigError, match="need shard_count"):
        shards("--shards", "0-1")

    for name, value in (("SHARD_COUNT", "4"), ("CLUSTER", "1"), ("CLUSTERS", "2")):
        monkeypatch.setenv(f"COURSEBOT_CLUSTER__{name}", value)
    assert load_settings(CONFIG).cluster.shard_ids() == [1, 3]
