"""Two bot processes on one PostgreSQL database: a burst of answer presses spread over both, the periodic jobs run
by both at once, and the metrics endpoint's scrape time.

Each process is a real OS process (its own interpreter, event loop, engine and offline Discord), running half the
shards (`--shard-count 4`, shards 0-1 and 2-3) and answering half the burst. The reference is one process answering
half the burst alone, measured in the same run: the cluster's acknowledgement p99 should be no worse than it. Each
process also measures its floor (the same members using a command that answers and does nothing, all at once).

A cluster's processes run on machines (or cores) of their own: each bench process is pinned to a CPU of its own,
the reference to the first, so on a small machine two processes do not share one core and the comparison measures
the cluster rather than the machine. PostgreSQL runs on every CPU in both runs. (With one CPU nothing is pinned.)

Figures: presses, answers recorded, presses answered "the database isn't answering, try again" (and by what),
duplicates (0); how long presses waited for a database connection (p99, max) and until the last was handled;
acknowledgement p50/p99 of one process with half the burst and of the two processes, each with its floor and
ratio, and the cluster's p99 over the single process's; for every periodic job, how many runs did the work and how
many were skipped because the other process led (one each); the stale attempts the sweep abandoned in all (each
once); the scrape time of `/metrics` after the burst (target 50 ms), against a request the same server answers
with a 404.
PostgreSQL only: SQLite is one process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench._harness import (
    Figure,
    add_floor_command,
    interaction_floor,
    latency_figures,
    ms,
    percentile,
    postgres_server,
)
from bench.engagement import BURST_PACKAGE, DOUBLE_CLICK_SHARE
from bot import metrics
from bot.app import CourseBot
from bot.clock import FixedClock
from bot.config import ClusterSettings, MetricsSettings, load_settings
from bot.health import Observability
from bot.scheduler import EVERY_PROCESS
from bot.services import content, tenancy
from db import migrate
from db.models import QuestionAnswer
from db.session import Database
from sandbox import DiscordSandbox, payloads
from sandbox.world import DEFAULT_GUILD_ID

BENCH = "cluster"
CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
SHARD_COUNT = 4
PROCESS_SHARDS = ([0, 1], [2, 3])
SCRAPES = 50
REPORT_LIMIT = 16 * 1024 * 1024  # a process's report is one JSON line with every press's timings
ALL_SCALE = 0.02  # `python -m bench all`: the fewest presses, 40
FEWEST_PRESSES = 40  # 20 per process: the presses' setup (a member, an enrollment, a quiz each) is most of the run


async def run(*, backends: list[str], scale: float) -> AsyncIterator[Figure]:
    if "postgres" not in backends:
        return  # several processes share PostgreSQL only
    presses = max(FEWEST_PRESSES, int(2000 * scale))
    half = presses // 2
    url = await fresh_cluster_database(postgres_server())
    counted = await answers(url)
    [alone] = await burst(url, [None], half)
    after_alone = await answers(url)
    together = await burst(url, list(PROCESS_SHARDS), half)
    after_together = await answers(url)

    alone_floor, alone_latencies = alone["floor"], alone["latencies"]
    cluster_floor = [sample for process in together for sample in process["floor"]]
    cluster_latencies = [sample for process in together for sample in process["latencies"]]
    yield Figure(BENCH, "postgres", "one_process_presses", alone["presses"], "presses")
    yield Figure(BENCH, "postgres", "one_process_answers_recorded", after_alone[0] - counted[0], "answers")
    yield Figure(BENCH, "postgres", "one_process_database_faults", alone["database_faults"], "presses")
    yield Figure(BENCH, "postgres", "burst_presses", sum(process["presses"] for process in together), "presses")
    yield Figure(BENCH, "postgres", "burst_answers_recorded", after_together[0] - after_alone[0], "answers")
    faults = sum(process["database_faults"] for process in together)
    yield Figure(BENCH, "postgres", "burst_database_faults", faults, "presses")
    for run_name, processes in (("one_process", [alone]), ("burst", together)):
        kinds = sum((Counter(process["database_fault_kinds"]) for process in processes), Counter())
        for kind, count in sorted(kinds.items()):
            yield Figure(BENCH, "postgres", f"{run_name}_database_faults_by_{kind}", count, "presses")
    yield Figure(BENCH, "postgres", "burst_duplicate_answers", duplicates(after_alone, after_together), "answers")
    # How long the presses queued for a database connection, and until the last was handled: a burst lasting longer
    # than `[database] pool_timeout_seconds` starts failing presses.
    for run_name, processes in (("one_process", [alone]), ("burst", together)):
        waits = [wait for process in processes for wait in process["connection_waits"]] or [0.0]
        yield Figure(BENCH, "postgres", f"{run_name}_connection_wait_p99", ms(percentile(waits, 99)), "ms")
        yield Figure(BENCH, "postgres", f"{run_name}_connection_wait_max", ms(max(waits)), "ms")
        handled = max(process["handled_after"] for process in processes)
        yield Figure(BENCH, "postgres", f"{run_name}_all_presses_handled_after", round(handled, 2), "s")
    yield Figure(BENCH, "postgres", "one_process_duplicate_answers", duplicates(counted, after_alone), "answers")
    for figure in latency_figures(BENCH, "postgres", "one_process_half_burst_ack", alone_latencies, alone_floor):
        yield figure
    for figure in latency_figures(BENCH, "postgres", "two_processes_burst_ack", cluster_latencies, cluster_floor):
        yield figure
    cluster_p99, alone_p99 = percentile(cluster_latencies, 99), percentile(alone_latencies, 99)
    # Against one process answering half the burst alone: the target is a ratio of at most 1.
    yield Figure(BENCH, "postgres", "two_processes_ack_p99_against_one_process", ms(cluster_p99), "ms", ms(alone_p99))
    # A job about a process's own memory runs in every process (`EVERY_PROCESS`): not one to count once.
    for job_id in sorted(set(together[0]["jobs"]) - EVERY_PROCESS):
        by_process = [process["jobs"][job_id] for process in together]
        yield Figure(BENCH, "postgres", f"job_{job_id}_done", sum(ran["done"] for ran in by_process), "runs")
        yield Figure(BENCH, "postgres", f"job_{job_id}_skipped", sum(ran["skipped"] for ran in by_process), "runs")
    # Every attempt the two bursts left open is abandoned once, by one of the processes, not once by each.
    abandoned = sum(process["abandoned"] for process in together)
    yield Figure(BENCH, "postgres", "stale_attempts_abandoned_by_both_processes", abandoned, "attempts")
    yield Figure(BENCH, "postgres", "stale_attempts_left_by_the_burst", half * len(PROCESS_SHARDS), "attempts")
    scrapes = [sample for process in together for sample in process["scrapes"]]
    not_found = [sample for process in together for sample in process["not_found"]]
    for figure in latency_figures(BENCH, "postgres", "metrics_scrape", scrapes, not_found):
        yield figure


async def fresh_cluster_database(server: Any) -> str:
    """A new database at head on `server` with the burst's course; its URL."""
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute("DROP DATABASE IF EXISTS coursebot_cluster_bench WITH (FORCE)")
        await admin.execute("CREATE DATABASE coursebot_cluster_bench")
    finally:
        await admin.close()
    url = server.set(database="coursebot_cluster_bench").render_as_string(False)
    database = Database.from_url(url)
    try:
        await migrate.upgrade(database.engine)
        async with database.session_scope() as session:
            await tenancy.remember_guild(session, guild_id=DEFAULT_GUILD_ID, name="Bench")
            await content.import_package(
                session, guild_id=DEFAULT_GUILD_ID, actor_id=1, package=BURST_PACKAGE, publish=True, now=now()
            )
    finally:
        await database.dispose()
    return url


def now() -> datetime:
    return datetime.now(UTC)


async def answers(url: str) -> tuple[int, int]:
    """Answers recorded, and distinct attempts answered."""
    database = Database.from_url(url)
    try:
        async with database.session_scope() as session:
            recorded = await session.scalar(select(func.count()).select_from(QuestionAnswer))
            attempts = await session.scalar(select(func.count(func.distinct(QuestionAnswer.attempt_id))))
    finally:
        await database.dispose()
    return recorded or 0, attempts or 0


def duplicates(before: tuple[int, int], after: tuple[int, int]) -> int:
    return (after[0] - before[0]) - (after[1] - before[1])


async def burst(url: str, shards: Sequence[list[int] | None], presses: int) -> list[dict[str, Any]]:
    """One process per entry of `shards` (None: all shards), each answering `presses` presses, the bursts started
    together once every process is ready, then every job run by all at once; each process's report."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from bench.cluster import child; child()",
            json.dumps({"url": url, "shards": process_shards, "presses": presses, "worker": worker, "cpu": cpu}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT,
        )
        for cpu, (worker, process_shards) in enumerate(enumerate(shards, start=1 if shards[0] is not None else 0))
    ]
    try:
        for step in ("set up", "floor done", "burst done", "jobs done"):
            for process in children:
                assert process.stdout is not None
                line = (await process.stdout.readline()).decode().strip()
                if line != step:
                    raise RuntimeError(f"a bench process said {line!r} instead of {step!r}")
            for process in children:  # every process goes on at once
                assert process.stdin is not None
                process.stdin.write(b"go\n")
                await process.stdin.drain()
        reports = []
        for process in children:
            assert process.stdout is not None
            reports.append(json.loads(await process.stdout.readline()))
    finally:
        for process in children:
            if process.returncode is None:
                process.kill()
            await process.wait()
    return reports


def child() -> None:
    """One bench process: `python -c 'from bench.cluster import child; child()' OPTIONS_JSON`."""
    asyncio.run(serve_burst(**json.loads(sys.argv[1])))


async def step_done(step: str) -> None:
    """Tell the parent `step` is done and wait for its go."""
    print(step, flush=True)
    await asyncio.to_thread(sys.stdin.readline)


async def serve_burst(*, url: str, shards: list[int] | None, presses: int, worker: int, cpu: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    if len(available) > 1:
        os.sched_setaffinity(0, {available[cpu % len(available)]})
    # Discord's ids carry the worker that made them: the two processes' members never share an id.
    made = payloads.snowflake
    payloads.snowflake = lambda: made() | (worker << 17)  # type: ignore[assignment]
    settings = load_settings(CONFIG)
    if shards is not None:
        settings = settings.model_copy(update={"cluster": ClusterSettings(shard_count=SHARD_COUNT, shards=shards)})
    settings = settings.model_copy(
        update={"metrics": MetricsSettings.model_construct(enabled=True, host="127.0.0.1", port=0)}
    )
    database = Database.from_url(make_url(url), pool_size=20, max_overflow=20)
    clock = FixedClock(now())
    bot = CourseBot(settings, database=database, clock=clock, freeze_heap=True)
    add_floor_command(bot)
    sandbox = DiscordSandbox(bot, timeout=300.0)
    observability = Observability(bot, settings)
    await sandbox.start()
    await observability.start()
    try:
        questions = []
        for number in range(presses):
            member = await sandbox.add_member(f"w{worker}student{number}")
            await sandbox.slash("course enroll", user=member, course="BURST")
            questions.append((member, await sandbox.slash("quiz start", user=member)))
        doubled = questions + questions[: int(presses * DOUBLE_CLICK_SHARE)]
        random.Random(worker).shuffle(doubled)
        await interaction_floor(sandbox, [member for member, _ in questions[:20]])  # warm
        gc.collect()
        gc.freeze()  # as `coursebot run` does; the offline Discord's world lives in this process too
        await step_done("set up")
        # The floor is a burst too, in every process at once, as the presses will be.
        floor = await interaction_floor(sandbox, [member for member, _ in doubled])
        await step_done("floor done")
        faults = FaultCounter()
        logging.getLogger("cogs.errors").addHandler(faults)
        waits: list[float] = []
        bot.db.on_connection_wait = waits.append
        started = time.perf_counter()
        replies = await sandbox.click_many([(reply, "A", member) for member, reply in doubled])
        handled_after = time.perf_counter() - started
        bot.db.on_connection_wait = metrics.DB_CONNECTION_WAIT.observe
        latencies = [reply.acknowledged_after for reply in replies if reply.acknowledged_after is not None]
        await step_done("burst done")
        clock.advance(hours=25)  # every attempt the burst left open is now stale: the sweep has work to do
        jobs = bot.scheduler.get_jobs()
        before = {job.id: {outcome: runs(job.id, outcome) for outcome in ("done", "skipped")} for job in jobs}
        sweeps = SweepCounter()
        logging.getLogger("bot.scheduler").addHandler(sweeps)
        logging.getLogger("bot.scheduler").setLevel(logging.INFO)
        await asyncio.gather(*(job.func(*job.args) for job in jobs))
        ran = {
            job.id: {outcome: runs(job.id, outcome) - before[job.id][outcome] for outcome in ("done", "skipped")}
            for job in jobs
        }
        scrapes, not_found = await scrape_times(observability.address)
        await step_done("jobs done")
        sandbox.assert_no_errors()
    finally:
        await observability.stop()
        await sandbox.close()
        await database.dispose()
    report = {
        "presses": len(doubled),
        "floor": floor,
        "latencies": latencies,
        "handled_after": handled_after,
        "connection_waits": waits,
        "jobs": ran,
        "abandoned": sweeps.count,
        "database_faults": faults.count,
        "database_fault_kinds": dict(faults.kinds),
    }
    print(json.dumps({**report, "scrapes": scrapes, "not_found": not_found}), flush=True)


class SweepCounter(logging.Handler):
    """Counts the stale attempts the sweep reports it abandoned (`abandon_stale_quiz_attempts` logs how many)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Abandoned "):
            self.count += int(record.getMessage().split()[1])


class FaultCounter(logging.Handler):
    """Counts the presses the error handler answered with "the database isn't answering, try again", and by what
    (`kinds`: the error's class, e.g. the pool's TimeoutError)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: Counter[str] = Counter()

    @property
    def count(self) -> int:
        return self.kinds.total()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Database not answering"):
            error = record.args[-1] if isinstance(record.args, tuple) and record.args else None
            self.kinds[type(error).__name__] += 1


def runs(job_id: str, outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("coursebot_job_runs_total", {"job": job_id, "outcome": outcome}) or 0.0


async def scrape_times(address: str) -> tuple[list[float], list[float]]:
    """Seconds per `GET /metrics`, and per request the same server answers with a 404 (the floor)."""
    scrapes, not_found = [], []
    async with aiohttp.ClientSession() as client:
        for _ in range(SCRAPES):
            for path, samples in (("/metrics", scrapes), ("/nothing", not_found)):
                started = time.perf_counter()
                async with client.get(address + path) as response:
                    await response.read()
                samples.append(time.perf_counter() - started)
    return scrapes, not_found
