"""The operator's endpoints of one `coursebot run` process: Prometheus metrics and a health check.

`GET /metrics` is every metric of `bot.metrics` in Prometheus' text format; `GET /health` answers 200 when the
process is up, each of its shards is connected and the database answers, 503 otherwise, with the details as JSON
(a supervisor or a load balancer polls it). Served by aiohttp (already there: discord.py uses it) on
`[metrics] host:port`, plus the process's cluster number, so processes on one host don't collide.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot import metrics
from bot.config import Settings

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)

# A health check that waits longer than this for the database reports it unreachable.
DATABASE_CHECK_SECONDS = 2.0


class Observability:
    """The metrics and health endpoints of `bot`; `await start()`, then `await stop()`."""

    def __init__(self, bot: CourseBot, settings: Settings) -> None:
        self.bot = bot
        self.host = settings.metrics.host
        self.port = settings.metrics.port + (settings.cluster.cluster or 0)
        self._collector = metrics.LiveCollector(bot)
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        if self.port == 0:  # a free port was asked for (tests)
            self.port = runner.addresses[0][1]
        metrics.REGISTRY.register(self._collector)
        self._runner = runner
        log.info("Serving metrics at %s/metrics and health at %s/health", self.address, self.address)

    async def stop(self) -> None:
        if self._runner is None:
            return
        metrics.REGISTRY.unregister(self._collector)
        await self._runner.cleanup()
        self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        # Formatting every series takes milliseconds: off the loop, where interactions are answered.
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, request: web.Request) -> web.Response:
        shards = {str(shard_id): not shard.is_closed() for shard_id, shard in sorted(self.bot.shards.items())}
        database = await self._database_answers()
        healthy = self.bot.is_ready() and bool(shards) and all(shards.values()) and database
        report = {"status": "ok" if healthy else "unhealthy", "ready": self.bot.is_ready(), "shards": shards}
        report["database"] = database
        return web.json_response(report, status=200 if healthy else 503)

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_CHECK_SECONDS), self.bot.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure is the answer: not reachable
            log.warning("Health check: the database isn't answering (%r)", error)
            return False
        return True
