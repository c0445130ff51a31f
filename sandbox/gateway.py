"""An in-process Discord gateway on a real websocket, so the unmodified `bot.start(token)` can run offline.

`FakeGateway` serves 127.0.0.1 on a random port: HELLO on connect, READY then one GUILD_CREATE per guild after
IDENTIFY (honouring the `shard` the client sends), HEARTBEAT_ACK for every heartbeat, RESUMED after RESUME and
GUILD_MEMBERS_CHUNK for member requests. `push()` sends any dispatch, e.g. an INTERACTION_CREATE.

How discord.py finds it: `AutoShardedClient` asks `GET /gateway/bot` (answered by `FakeDiscordHTTP` with this
server's URL), a plain `Client` connects to `DiscordWebSocket.DEFAULT_GATEWAY`, which is pointed here while the
gateway runs. discord.py asks for `compress=zlib-stream` (or `zstd-stream` when a zstd module is installed):
for zlib-stream every frame is a zlib chunk ending in the Z_SYNC_FLUSH marker, as Discord sends it; for any
other value frames go out as plain text, which discord.py also accepts.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import discord
import yarl
from aiohttp import WSMsgType, web
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from sandbox import payloads
from sandbox.http import FakeDiscordHTTP

Json = dict[str, Any]

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, REQUEST_MEMBERS, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 8, 10, 11


def delivered_with(intents: discord.Intents, event: str, data: Json) -> bool:
    """Whether Discord sends dispatch `event` to a client identified with `intents`."""
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"):
        return intents.guild_messages if data.get("guild_id") else intents.dm_messages
    if event.startswith("GUILD_MEMBER") and event != "GUILD_MEMBERS_CHUNK":
        return intents.members
    if event.startswith(("THREAD_", "CHANNEL_", "GUILD_ROLE_")) or event in ("GUILD_CREATE", "GUILD_UPDATE"):
        return intents.guilds
    return True


@dataclass(slots=True)
class GatewaySession:
    """One websocket connection (one shard) and what it identified with."""

    ws: web.WebSocketResponse
    compressor: Any | None  # a zlib compress object shared by the whole connection, as Discord's stream is
    sequence: int = 0
    shard: tuple[int, int] = (0, 1)
    intents: discord.Intents = field(default_factory=discord.Intents.default)
    identified: bool = False
    outbox: asyncio.Queue[Json] = field(default_factory=asyncio.Queue)

    def owns(self, guild_id: str | int | None) -> bool:
        shard_id, count = self.shard
        return (int(guild_id) >> 22) % count == shard_id if guild_id else shard_id == 0

    def send(self, op: int, data: Any, event: str | None = None) -> None:
        frame: Json = {"op": op, "d": data, "s": None, "t": event}
        if op == DISPATCH:
            self.sequence += 1
            frame["s"] = self.sequence
        self.outbox.put_nowait(frame)

    async def write_forever(self) -> None:
        while True:
            frame = await self.outbox.get()
            try:
                text = json.dumps(frame)
                if self.compressor is not None:
                    await self.ws.send_bytes(
                        self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    )
                else:
                    await self.ws.send_str(text)
            finally:
                self.outbox.task_done()


class FakeGateway:
    """The gateway half of the offline Discord; REST stays with the given `FakeDiscordHTTP`.

    Use `async with FakeGateway(http) as gateway:` (or `start()`/`stop()`). While it runs, REST changes that make
    Discord emit events (threads, messages, member roles) are pushed to the connected shards their intents allow.
    """

    def __init__(
        self,
        http: FakeDiscordHTTP,
        *,
        heartbeat_interval_ms: int = 41_250,
        host: str = "127.0.0.1",
        close_on_identify: int | None = None,
    ) -> None:
        self.http = http
        # A close code to answer IDENTIFY with, as Discord does for a refused intent (4014) or token (4004).
        self.close_on_identify = close_on_identify
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.host = host
        self.url = ""
        self.sessions: list[GatewaySession] = []
        self.received: list[Json] = []
        self.connections: list[dict[str, str]] = []  # the query string of every websocket connection
        self.identified = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._previous_default: yarl.URL | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> Self:
        """Listen on a free port, and point discord.py and the fake REST API at it."""
        app = web.Application()
        app.router.add_get("/", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://{self.host}:{port}/"
        self.http.gateway_url = self.url
        self.http.event_sink = self._on_rest_event
        self._previous_default = DiscordWebSocket.DEFAULT_GATEWAY
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.url)
        return self

    async def stop(self) -> None:
        """Close every connection (code 1000), stop listening and restore discord.py's default gateway."""
        if self._previous_default is not None:
            DiscordWebSocket.DEFAULT_GATEWAY = self._previous_default
            self._previous_default = None
        if self.http.event_sink == self._on_rest_event:
            self.http.event_sink = None
        for session in list(self.sessions):
            await session.ws.close(code=1000)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def push(self, event: str, data: Json) -> None:
        """Dispatch `event` to the identified shard(s) owning its guild, and return once it is written.

        An INTERACTION_CREATE is also registered with the fake REST API so the bot's answer is accepted.
        """
        if event == "INTERACTION_CREATE":
            self.http.register_interaction(data)
        targets = [s for s in self.sessions if s.identified and s.owns(data.get("guild_id"))]
        if not targets:
            raise RuntimeError(f"no identified shard can receive {event}; wait for gateway.identified first")
        for session in targets:
            if delivered_with(session.intents, event, data):
                session.send(DISPATCH, data, event)
        await asyncio.gather(*(s.outbox.join() for s in targets))

    def _on_rest_event(self, event: str, data: Json) -> None:
        for session in self.sessions:
            if (
                session.identified
                and session.owns(data.get("guild_id"))
                and delivered_with(session.intents, event, data)
            ):
                session.send(DISPATCH, data, event)

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections.append(dict(request.query))
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        session = GatewaySession(ws, compressor)
        self.sessions.append(session)
        writer = asyncio.create_task(session.write_forever(), name="sandbox-gateway-writer")
        self._tasks.add(writer)
        session.send(HELLO, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ['["sandbox-gateway"]']})
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                frame = json.loads(message.data)
                self.received.append(frame)
                self._answer(session, frame)
        finally:
            self.sessions.remove(session)
            writer.cancel()
            self._tasks.discard(writer)
        return ws

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, session: GatewaySession, frame: Json) -> None:
        op, raw = frame.get("op"), frame.get("d")
        data: Json = raw if isinstance(raw, dict) else {}
        if op == HEARTBEAT:
            session.send(HEARTBEAT_ACK, None)
        elif op == IDENTIFY and self.close_on_identify is not None:
            self._spawn(session.ws.close(code=self.close_on_identify))
        elif op == IDENTIFY:
            shard = tuple(data.get("shard") or (0, 1))
            session.shard = (int(shard[0]), int(shard[1]))
            session.intents = discord.Intents._from_value(int(data.get("intents", discord.Intents.default().value)))
            guilds = [g for g in self.http.guilds.values() if session.owns(g["id"])]
            ready = payloads.ready(
                self.http.bot_user,
                guild_ids=[g["id"] for g in guilds],
                session_id=f"sandbox-session-{session.shard[0]}",
                resume_gateway_url=self.url,
                shard=session.shard,
                application_id=self.http.application_id,
            )
            session.send(DISPATCH, ready, "READY")
            for guild in guilds:
                session.send(DISPATCH, guild, "GUILD_CREATE")
            session.identified = True
            self.identified.set()
        elif op == RESUME:
            session.identified = True
            session.send(DISPATCH, {}, "RESUMED")
        elif op == REQUEST_MEMBERS:
            requested = self.http.guilds.get(str(data["guild_id"]))
            members = requested["members"] if requested else []
            if data.get("user_ids"):
                wanted = {str(u) for u in data["user_ids"]}
                members = [m for m in members if m["user"]["id"] in wanted]
            chunk = {"guild_id": str(data["guild_id"]), "members": members, "chunk_index": 0, "chunk_count": 1}
            if data.get("nonce"):
                chunk["nonce"] = data["nonce"]
            session.send(DISPATCH, chunk, "GUILD_MEMBERS_CHUNK")


@asynccontextmanager
async def started(bot: commands.Bot, *, token: str = "token", seconds: float = 10) -> AsyncIterator[None]:
    """`bot` started for real (login, gateway connection, READY) inside a `FakeGateway`, until it is ready; closed,
    and its run awaited, on the way out, each within `seconds`. For tests of the real start-up path, which
    `DiscordSandbox` skips."""
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    bot.add_listener(on_ready)
    running = asyncio.create_task(bot.start(token))
    try:
        async with asyncio.timeout(seconds):
            await ready.wait()
        yield
    finally:
        await bot.close()
        async with asyncio.timeout(seconds):
            await running
