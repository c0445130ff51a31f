"""Concurrent slash commands through the offline Discord: acknowledgements per second, time to first
response, peak memory. Each interaction is a real `/profile timezone zone:` (parse, check, one DB write)."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench._harness import Figure, add_floor_command, fresh_database, interaction_floor, latency_figures
from bot.app import CourseBot
from bot.config import load_settings
from sandbox import DiscordSandbox

ZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]


CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    count = max(20, int(500 * scale))
    settings = load_settings(CONFIG)
    for backend in backends:
        async with fresh_database(backend) as database:
            sandbox = DiscordSandbox(CourseBot(settings, database=database), timeout=60.0)
            add_floor_command(sandbox.bot)
            await sandbox.start()
            try:
                members = [await sandbox.add_member(f"student{number}") for number in range(count)]
                await interaction_floor(sandbox, members)  # warm: each member's row is written once
                floor = await interaction_floor(sandbox, members)
                started = time.perf_counter()
                replies = await asyncio.gather(
                    *(
                        sandbox.slash("profile timezone", user=member, zone=ZONES[number % len(ZONES)])
                        for number, member in enumerate(members)
                    )
                )
                latencies = [reply.acknowledged_after for reply in replies if reply.acknowledged_after is not None]
                elapsed = time.perf_counter() - started
                sandbox.assert_no_errors()
            finally:
                await sandbox.close()
        yield Figure("interactions", backend, "concurrent_interactions", count, "interactions")
        yield Figure("interactions", backend, "acks_per_second", round(count / elapsed, 1), "acks/s")
        for figure in latency_figures("interactions", backend, "first_response", latencies, floor):
            yield figure
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        yield Figure("interactions", backend, "peak_rss", round(peak_kib / 1024, 1), "MiB")
