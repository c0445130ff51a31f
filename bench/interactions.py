"""Concurrent slash commands through the offline Discord: acknowledgements per second, time to first
response, peak memory. Each interaction is a real `/profile timezone zone:` (parse, check, one DB write)."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench._harness import Figure, fresh_database, percentile
from bot.app import CourseBot
from bot.config import load_settings
from sandbox import DiscordSandbox

ZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"]


CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


async def timed_slash(sandbox: DiscordSandbox, member: dict[str, object], zone: str) -> float:
    started = time.perf_counter()
    await sandbox.slash("profile timezone", user=member, zone=zone)
    return time.perf_counter() - started


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    count = max(20, int(500 * scale))
    settings = load_settings(CONFIG)
    for backend in backends:
        async with fresh_database(backend) as database:
            sandbox = DiscordSandbox(CourseBot(settings, database=database), timeout=60.0)
            await sandbox.start()
            try:
                members = [await sandbox.add_member(f"student{number}") for number in range(count)]
                started = time.perf_counter()
                latencies = await asyncio.gather(
                    *(timed_slash(sandbox, member, ZONES[number % len(ZONES)]) for number, member in enumerate(members))
                )
                elapsed = time.perf_counter() - started
                sandbox.assert_no_errors()
            finally:
                await sandbox.close()
        yield Figure("interactions", backend, "concurrent_interactions", count, "interactions")
        yield Figure("interactions", backend, "acks_per_second", round(count / elapsed, 1), "acks/s")
        yield Figure(
            "interactions", backend, "first_response_p50", round(percentile(list(latencies), 50) * 1000, 1), "ms"
        )
        yield Figure(
            "interactions", backend, "first_response_p99", round(percentile(list(latencies), 99) * 1000, 1), "ms"
        )
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        yield Figure("interactions", backend, "peak_rss", round(peak_kib / 1024, 1), "MiB")
